// The real Fashion-MNIST files (Debian's dataset-fashion-mnist): known counts, labels and
// pixel statistics, and the `privedge dataset inspect` command on them.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "privedge/dataset.h"
#include "train/data/data_test_util.h"

namespace privedge {
namespace {

const std::string kDir = "/usr/share/datasets/fashion-mnist/";

class FashionMnistTest : public ::testing::Test {
 protected:
  // The training set is loaded once (about 0.5 s): 47 MB of pixels.
  static void SetUpTestSuite() {
    DatasetOptions o;
    o.num_classes = 10;
    o.example_shape = {1, 28, 28};
    auto d =
        LoadDataset(kDir + "train-images-idx3-ubyte.gz", kDir + "train-labels-idx1-ubyte.gz", o);
    ASSERT_TRUE(d.ok()) << d.status().message() << " (install Debian's dataset-fashion-mnist: "
                        << "sh scripts/install-deps.sh)";
    train_ = new Dataset(*d);
  }
  static void TearDownTestSuite() {
    delete train_;
    train_ = nullptr;
  }
  static Dataset* train_;
};
Dataset* FashionMnistTest::train_ = nullptr;

std::vector<int64_t> Histogram(const Tensor& labels) {
  std::vector<int64_t> h(10, 0);
  for (int64_t i = 0; i < labels.numel(); ++i) h.at(labels.GetAsInt64(i))++;
  return h;
}

TEST_F(FashionMnistTest, TrainingSetFacts) {
  ASSERT_NE(train_, nullptr);
  EXPECT_EQ(train_->size(), 60000);
  EXPECT_EQ(train_->features.shape(), (Shape{60000, 1, 28, 28}));
  EXPECT_EQ(Histogram(train_->labels), std::vector<int64_t>(10, 6000));
  const std::vector<int64_t> first = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(train_->labels.data<int64_t>()[i], first[i]) << i;
  // The pixel sum of the first image (an ankle boot) and the well-known mean/std of the
  // scaled training pixels (0.2860, 0.3530).
  double sum = 0;
  for (int i = 0; i < 784; ++i) sum += train_->features.data<float>()[i] * 255.0;
  EXPECT_NEAR(sum, 76247, 0.05);
  auto stats = ComputeFeatureStats(train_->features, false);
  ASSERT_TRUE(stats.ok());
  EXPECT_NEAR(stats->mean[0], 0.2860406, 1e-6);
  EXPECT_NEAR(stats->stddev[0], 0.3530242, 1e-6);
}

TEST_F(FashionMnistTest, TestSetRawTensors) {
  auto images = ReadIdxFile(kDir + "t10k-images-idx3-ubyte.gz");
  auto labels = ReadTensorData(kDir + "t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(images.ok()) << images.status().message();
  ASSERT_TRUE(labels.ok()) << labels.status().message();
  EXPECT_EQ(images->dtype(), DType::kUInt8);
  EXPECT_EQ(images->shape(), (Shape{10000, 28, 28}));
  EXPECT_EQ(labels->dtype(), DType::kUInt8);
  EXPECT_EQ(Histogram(*labels), std::vector<int64_t>(10, 1000));
  int64_t total = 0;
  for (int64_t i = 0; i < images->numel(); ++i) total += images->data<uint8_t>()[i];
  EXPECT_EQ(total, 573469082);
}

TEST_F(FashionMnistTest, OneEpochOfBatchesCoversEveryImageOnce) {
  ASSERT_NE(train_, nullptr);
  BatchOptions o;
  o.batch_size = 64;
  o.seed = 2024;
  auto it = BatchIterator::Create(*train_, o);
  ASSERT_TRUE(it.ok());
  EXPECT_EQ(it->batches_per_epoch(), 938);  // 937 full batches and one of 32
  std::vector<int64_t> classes(10, 0);
  Batch b;
  int64_t examples = 0;
  int64_t pixel_sum = 0;
  while (it->Next(&b)) {
    examples += b.labels.dim(0);
    for (int64_t k = 0; k < b.labels.dim(0); ++k) classes.at(b.labels.data<int64_t>()[k])++;
    for (int64_t k = 0; k < b.features.numel(); ++k)
      pixel_sum += std::lround(b.features.data<float>()[k] * 255.0f);
  }
  EXPECT_EQ(examples, 60000);
  EXPECT_EQ(classes, std::vector<int64_t>(10, 6000));
  EXPECT_EQ(pixel_sum, 3431114169);  // every pixel, exactly once
  EXPECT_EQ(b.features.shape(), (Shape{32, 1, 28, 28}));
}

// Runs `privedge ARGS` and returns its exit status, stdout and stderr.
struct CliRun {
  int status;
  std::string out, err;
};
CliRun RunCli(const std::string& args) {
  testing::TempDir dir;
  const std::string cmd = std::string(PRIVEDGE_BINARY_DIR) + "/privedge " + args + " >" +
                          dir.path() + "/out 2>" + dir.path() + "/err";
  const int rc = std::system(cmd.c_str());
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc), slurp(dir.path() + "/out"),
          slurp(dir.path() + "/err")};
}

TEST(DatasetCliTest, InspectPrintsShapesAndHistogram) {
  const CliRun r = RunCli("dataset inspect " + kDir + "t10k-images-idx3-ubyte.gz --labels " + kDir +
                          "t10k-labels-idx1-ubyte.gz");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* part : {"idx+gzip", "uint8", "[10000,28,28]", "[10000]", "255", "73.1466",
                           "\n9      1000   10.00%\n"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " not in:\n" << r.out;
}

TEST(DatasetCliTest, InspectErrorsAreOneLine) {
  testing::TempDir dir;
  const std::string truncated = dir.Write("short.idx", testing::IdxUint8({4, 4}, {1, 2, 3}));
  const std::string garbage = dir.Write("g.csv", "x,y\n1,zz\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dataset inspect " + kDir + "t10k-images-idx3-ubyte.gz --labels " + kDir +
           "train-labels-idx1-ubyte.gz",
       "have 10000 examples but labels"},
      {"dataset inspect " + truncated, "truncated IDX file"},
      {"dataset inspect " + garbage, "line 2, column 2 ('y'): expected a number, got 'zz'"},
      {"dataset inspect " + dir.path() + "/none", "cannot open"},
      {"dataset inspect " + garbage + " --label-column q", "no column named 'q'"},
      {"dataset inspect " + garbage + " --header maybe", "--header expects auto, yes or no"},
      {"dataset inspect " + kDir + "t10k-labels-idx1-ubyte.gz --max-bytes 8000",
       "IDX header declares uint8[10000], 10000 bytes, above the limit of 8000 bytes"},
      {"dataset inspect " + kDir + "t10k-images-idx3-ubyte.gz --max-bytes 1000000",
       "is 4422079 bytes, above the limit of 1000000 bytes"},
      {"dataset frob", "unknown subcommand 'frob'"},
  };
  for (const auto& [args, part] : cases) {
    const CliRun r = RunCli(args);
    EXPECT_EQ(r.status, 1) << args;
    EXPECT_NE(r.err.find(part), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

}  // namespace
}  // namespace privedge
