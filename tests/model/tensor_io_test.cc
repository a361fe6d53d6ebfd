#include "model/tensor_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace privedge {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/privedge_" + std::to_string(getpid()) + "_" + name;
}

TEST(TensorIoTest, NpyRoundTripAllTypes) {
  std::vector<Tensor> tensors = {
      Tensor::FromVector<float>({1.5f, -2, 3, 4, 5, 6}, {2, 3}),
      Tensor::FromVector<double>({1e-300, 2}, {2}),
      Tensor::FromVector<int64_t>({-7}, {}),
      Tensor::FromVector<uint8_t>({0, 255}, {2, 1}),
      Tensor::FromVector<bool>({true, false, true}, {3}),
      Tensor::FromVector<Float16>({Float16(0.25f)}, {1}),
      Tensor(DType::kInt32, {0, 4}),
  };
  for (const Tensor& t : tensors) {
    const std::string path = TempPath("t.npy");
    ASSERT_TRUE(WriteNpy(path, t).ok());
    auto back = ReadNpy(path);
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_EQ(back->dtype(), t.dtype());
    EXPECT_EQ(back->shape(), t.shape());
    EXPECT_EQ(std::memcmp(back->raw_data(), t.raw_data(), t.nbytes()), 0);
    unlink(path.c_str());
  }
}

TEST(TensorIoTest, NpyRejectsHostileFiles) {
  const std::string good = TempPath("good.npy");
  ASSERT_TRUE(WriteNpy(good, Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2})).ok());
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unlink(good.c_str());

  auto truncated = ParseNpy(bytes.substr(0, bytes.size() - 3), "x.npy");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("needs 16"), std::string::npos)
      << truncated.status().message();

  EXPECT_FALSE(ParseNpy("garbage", "x.npy").ok());
  EXPECT_FALSE(ParseNpy(bytes.substr(0, 12), "x.npy").ok());

  std::string huge_header = bytes;
  huge_header[8] = '\xff';
  huge_header[9] = '\xff';
  EXPECT_FALSE(ParseNpy(huge_header, "x.npy").ok());

  std::string huge_shape = bytes;
  size_t p = huge_shape.find("(2, 2)");
  ASSERT_NE(p, std::string::npos);
  huge_shape.replace(p, 6, "(99999999999, 99999)");
  auto r = ParseNpy(huge_shape, "x.npy");
  EXPECT_FALSE(r.ok());

  std::string bad_type = bytes;
  p = bad_type.find("<f4");
  bad_type.replace(p, 3, "<c8");
  auto c = ParseNpy(bad_type, "x.npy");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("not supported"), std::string::npos);
}

TEST(TensorIoTest, ReadsOnnxTensorProtoFiles) {
  auto t = ReadTensorFile(
      "/usr/share/libonnx-testdata/data/node/test_relu/test_data_set_0/input_0.pb");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_EQ(t->shape(), (Shape{3, 4, 5}));
  EXPECT_FALSE(ReadTensorFile("/nonexistent/x.pb").ok());
  EXPECT_FALSE(ReadTensorFile("model.txt").ok());
}

}  // namespace
}  // namespace privedge
