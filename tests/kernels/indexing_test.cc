#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Values;

using testing::FloatAttr;
using testing::IntAttr;
using testing::IntsAttr;
using testing::RunOp;
using testing::StringAttr;

Tensor I64(const std::vector<int64_t>& v, Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(v.size())};
  return Tensor::FromVector<int64_t>(v, shape);
}

const Tensor kX = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});

TEST(IndexingTest, GatherNegativeAndOutOfRange) {
  auto r = RunOp("Gather", {kX, Tensor::FromVector<int32_t>({-1, 0}, {2})},
                 {{"axis", IntAttr(1)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 1, 6, 4}));
  EXPECT_FALSE(RunOp("Gather", {kX, I64({2})}).ok());
  EXPECT_FALSE(RunOp("Gather", {kX, I64({-3})}, {{"axis", IntAttr(0)}}).ok());
}

TEST(IndexingTest, GatherElementsAndND) {
  auto r = RunOp("GatherElements", {kX, I64({2, 0, 1, -1}, {2, 2})}, {{"axis", IntAttr(1)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 1, 5, 6}));
  EXPECT_FALSE(RunOp("GatherElements", {kX, I64({3}, {1, 1})}, {{"axis", IntAttr(1)}}).ok());
  r = RunOp("GatherND", {kX, I64({1, 2, 0, 0}, {2, 2})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{6, 1}));
  r = RunOp("GatherND", {kX, I64({2, 0}, {2, 1})}, {{"batch_dims", IntAttr(1)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 4}));
  EXPECT_FALSE(RunOp("GatherND", {kX, I64({2, 0}, {1, 2})}).ok());
}

TEST(IndexingTest, ScatterVariants) {
  auto r = RunOp("ScatterElements",
                 {kX, I64({1, 1}, {1, 2}), Tensor::FromVector<float>({10, 20}, {1, 2})},
                 {{"axis", IntAttr(1)}, {"reduction", StringAttr("add")}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 32, 3, 4, 5, 6}));
  r = RunOp("ScatterND", {kX, I64({-1}, {1, 1}), Tensor::FromVector<float>({7, 8, 9}, {1, 3})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, 3, 7, 8, 9}));
  EXPECT_FALSE(
      RunOp("ScatterND", {kX, I64({2}, {1, 1}), Tensor::FromVector<float>({7, 8, 9}, {1, 3})})
          .ok());
  EXPECT_EQ(kX.data<float>()[1], 2.0f);  // the input is not modified
}

TEST(IndexingTest, SliceStepsAndClamping) {
  auto r = RunOp("Slice", {kX, I64({-1, 100}), I64({-100, 0}), I64({0, 1}), I64({-1, -2})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{6, 3}));
  r = RunOp("Slice", {kX}, {{"starts", IntsAttr({1})}, {"ends", IntsAttr({1000})},
                            {"axes", IntsAttr({1})}}, 1, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{2, 3, 5, 6}));
  EXPECT_FALSE(RunOp("Slice", {kX, I64({0}), I64({1}), I64({0}), I64({0})}).ok());
}

TEST(IndexingTest, PadModes) {
  Tensor x = Tensor::FromVector<int32_t>({1, 2, 3}, {1, 3});
  auto pad = [&](const char* mode, std::vector<int64_t> pads) {
    auto r = RunOp("Pad", {x, I64(pads)}, {{"mode", StringAttr(mode)}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return Values<int32_t>((*r)[0]);
  };
  EXPECT_EQ(pad("constant", {0, 1, 0, 2}), (std::vector<int32_t>{0, 1, 2, 3, 0, 0}));
  EXPECT_EQ(pad("edge", {0, 2, 0, 1}), (std::vector<int32_t>{1, 1, 1, 2, 3, 3}));
  EXPECT_EQ(pad("reflect", {0, 2, 0, 2}), (std::vector<int32_t>{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(pad("constant", {0, -1, 0, 0}), (std::vector<int32_t>{2, 3}));
  auto r = RunOp("Pad", {kX}, {{"pads", IntsAttr({0, 1, 0, 0})}, {"value", FloatAttr(9)}}, 1, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{9, 1, 2, 3, 9, 4, 5, 6}));
  EXPECT_FALSE(RunOp("Pad", {x, I64({0, -4, 0, 0})}).ok());
}

TEST(IndexingTest, OneHotNonZeroCompress) {
  auto r = RunOp("OneHot", {I64({1, -1, 5}), Tensor::Scalar<float>(3),
                            Tensor::FromVector<int32_t>({0, 7}, {2})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{0, 7, 0, 0, 0, 7, 0, 0, 0}));
  r = RunOp("NonZero", {Tensor::FromVector<float>({0, 1, 2, 0}, {2, 2})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{0, 1, 1, 0}));
  r = RunOp("Compress", {kX, Tensor::FromVector<bool>({false, true}, {2})},
            {{"axis", IntAttr(1)}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{2, 5}));
}

TEST(IndexingTest, UniqueUnsortedAllOutputs) {
  auto r = RunOp("Unique", {Tensor::FromVector<int64_t>({2, 1, 1, 3, 4, 3}, {6})},
                 {{"sorted", IntAttr(0)}}, 4);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{2, 1, 3, 4}));
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(Values<int64_t>((*r)[2]), (std::vector<int64_t>{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(Values<int64_t>((*r)[3]), (std::vector<int64_t>{1, 2, 2, 1}));
}

TEST(IndexingTest, ReverseSequence) {
  auto r = RunOp("ReverseSequence", {kX, I64({3, 1})},
                 {{"batch_axis", IntAttr(0)}, {"time_axis", IntAttr(1)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 2, 1, 4, 5, 6}));
  EXPECT_FALSE(RunOp("ReverseSequence", {kX, I64({4, 1})},
                     {{"batch_axis", IntAttr(0)}, {"time_axis", IntAttr(1)}})
                   .ok());
}

}  // namespace
}  // namespace privedge
