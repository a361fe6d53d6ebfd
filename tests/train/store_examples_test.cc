// Training examples in a secure store silo: round trip, conversions shared with file datasets,
// and hostile or inconsistent records.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "privedge/dataset.h"
#include "privedge/secure_store.h"
#include "testing/memory_keystore.h"
#include "testing/temp_dir.h"

namespace privedge {
namespace {

using testing::MemoryKeystore;
using testing::TempDir;

std::span<const uint8_t> Bytes(const std::vector<uint8_t>& v) { return {v.data(), v.size()}; }

class StoreExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SecureStoreOptions options;
    options.create_if_missing = true;
    auto store = SecureStore::Open(dir_.path() + "/store", std::make_shared<MemoryKeystore>(),
                                   options);
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
  }

  // 5 uint8 images [2, 3] with uint8 labels.
  static Tensor Images() {
    Tensor x(DType::kUInt8, {5, 2, 3});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = static_cast<uint8_t>(7 * i);
    return x;
  }
  static Tensor Labels() {
    Tensor y(DType::kUInt8, {5});
    for (int64_t i = 0; i < 5; ++i) y.data<uint8_t>()[i] = static_cast<uint8_t>(i % 3);
    return y;
  }

  TempDir dir_;
  std::unique_ptr<SecureStore> store_;
};

TEST_F(StoreExamplesTest, RoundTripMatchesTheInMemoryDataset) {
  ASSERT_TRUE(AppendExamples(*store_, "img", Images(), Labels()).ok());
  DatasetOptions options;
  options.example_shape = {1, 2, 3};
  options.mean = {0.25f};
  options.stddev = {0.5f};
  auto got = LoadDatasetFromStore(*store_, "img", options);
  ASSERT_TRUE(got.ok()) << got.status().message();
  auto want = MakeDataset(Images(), Labels(), options);
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(got->features.shape(), want->features.shape());
  ASSERT_EQ(got->labels.shape(), want->labels.shape());
  EXPECT_EQ(0, std::memcmp(got->features.raw_data(), want->features.raw_data(),
                           want->features.nbytes()));
  EXPECT_EQ(0, std::memcmp(got->labels.raw_data(), want->labels.raw_data(),
                           want->labels.nbytes()));
  // Appending more examples grows the silo; they come back after the first ones.
  ASSERT_TRUE(AppendExamples(*store_, "img", Images(), Labels()).ok());
  auto twice = LoadDatasetFromStore(*store_, "img", options);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->size(), 10);
  EXPECT_EQ(twice->labels.data<int64_t>()[6], 1);
}

TEST_F(StoreExamplesTest, EveryTruncationAndBadHeaderIsRefused) {
  ASSERT_TRUE(AppendExamples(*store_, "one", Images(), Labels()).ok());
  std::vector<uint8_t> good;
  ASSERT_TRUE(store_->Scan("one", [&](const SecureRecord& r) {
                      if (good.empty()) good.assign(r.value.begin(), r.value.end());
                      return Status::OK();
                    }).ok());
  ASSERT_EQ(good.size(), 8u + 2 * 8 + 6 + 1);
  for (size_t n = 0; n < good.size(); ++n) {
    const std::string silo = "cut" + std::to_string(n);
    ASSERT_TRUE(store_->CreateSilo(silo).ok());
    ASSERT_TRUE(store_->Append(silo, {good.data(), n}).ok());
    auto d = LoadDatasetFromStore(*store_, silo);
    ASSERT_FALSE(d.ok()) << "a record cut to " << n << " bytes was accepted";
    EXPECT_NE(d.status().message().find("record 0"), std::string::npos) << d.status().message();
  }
  std::vector<uint8_t> bad = good;
  bad[4] = 8;  // string features
  std::vector<uint8_t> huge = good;
  huge[8 + 7] = 0x40;  // a first dimension of 2^62
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  for (const auto& [name, record] : {std::pair{"type", bad}, {"huge", huge}, {"long", longer}}) {
    ASSERT_TRUE(store_->CreateSilo(name).ok());
    ASSERT_TRUE(store_->Append(name, Bytes(record)).ok());
    EXPECT_FALSE(LoadDatasetFromStore(*store_, name).ok()) << name;
  }
}

TEST_F(StoreExamplesTest, InconsistentKeyedAndEmptySilosAreErrors) {
  ASSERT_TRUE(AppendExamples(*store_, "mixed", Images(), Labels()).ok());
  Tensor other(DType::kFloat32, {1, 6});
  Tensor label(DType::kInt64, {1});
  std::memset(other.raw_data(), 0, other.nbytes());
  label.data<int64_t>()[0] = 0;
  ASSERT_TRUE(AppendExamples(*store_, "mixed", other, label).ok());
  auto d = LoadDatasetFromStore(*store_, "mixed");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("record 5: example is float32 [6]"), std::string::npos)
      << d.status().message();

  ASSERT_TRUE(AppendExamples(*store_, "keyed", Images(), Labels()).ok());
  const std::vector<uint8_t> key = {'k'};
  ASSERT_TRUE(store_->Put("keyed", Bytes(key), Bytes(key)).ok());
  EXPECT_FALSE(LoadDatasetFromStore(*store_, "keyed").ok());

  ASSERT_TRUE(store_->CreateSilo("empty").ok());
  d = LoadDatasetFromStore(*store_, "empty");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("no examples"), std::string::npos);
  EXPECT_FALSE(LoadDatasetFromStore(*store_, "missing").ok());
}

TEST_F(StoreExamplesTest, LimitsAndBadInputs) {
  ASSERT_TRUE(AppendExamples(*store_, "img", Images(), Labels()).ok());
  DatasetOptions small;
  small.limits.max_bytes = 20;  // 5 examples of 6 bytes do not fit
  auto d = LoadDatasetFromStore(*store_, "img", small);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kResourceExhausted);

  Tensor four(DType::kUInt8, {4});
  EXPECT_FALSE(AppendExamples(*store_, "img", Images(), four).ok());
  Tensor strings(DType::kBool, {5, 2});
  EXPECT_FALSE(AppendExamples(*store_, "img", strings, Labels()).ok());
  EXPECT_FALSE(AppendExamples(*store_, "bad name!", Images(), Labels()).ok());
}

}  // namespace
}  // namespace privedge
