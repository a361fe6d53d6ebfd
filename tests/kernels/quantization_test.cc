#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Values;

using testing::IntAttr;
using testing::IntsAttr;
using testing::RunOp;

TEST(QuantizationTest, QuantizeRoundsHalfToEvenAndSaturates) {
  Tensor x = Tensor::FromVector<float>({0, 1, 2.5, 3.5, -1, 1000}, {6});
  auto r = RunOp("QuantizeLinear", {x, Tensor::Scalar<float>(1)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].dtype(), DType::kUInt8);
  EXPECT_EQ(Values<uint8_t>((*r)[0]), (std::vector<uint8_t>{0, 1, 2, 4, 0, 255}));
  Tensor y = Tensor::FromVector<float>({-300, 1.5}, {2});
  auto s = RunOp("QuantizeLinear", {y, Tensor::Scalar<float>(1), Tensor::Scalar<int8_t>(-1)});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Values<int8_t>((*s)[0]), (std::vector<int8_t>{-128, 1}));
}

TEST(QuantizationTest, QuantizePerAxis) {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2});
  Tensor scale = Tensor::FromVector<float>({1, 2}, {2});
  Tensor zp = Tensor::FromVector<uint8_t>({0, 10}, {2});
  auto r = RunOp("QuantizeLinear", {x, scale, zp}, {{"axis", IntAttr(0)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<uint8_t>((*r)[0]), (std::vector<uint8_t>{1, 2, 12, 12}));
  EXPECT_FALSE(RunOp("QuantizeLinear", {x, Tensor::FromVector<float>({1, 2, 3}, {3})}).ok());
}

TEST(QuantizationTest, Dequantize) {
  Tensor x = Tensor::FromVector<uint8_t>({0, 10, 255}, {3});
  auto r = RunOp("DequantizeLinear", {x, Tensor::Scalar<float>(0.5f), Tensor::Scalar<uint8_t>(10)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{-5, 0, 122.5}));
  Tensor xi = Tensor::FromVector<int32_t>({-4, 6}, {2});
  auto i = RunOp("DequantizeLinear", {xi, Tensor::Scalar<float>(2)});
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(Values<float>((*i)[0]), (std::vector<float>{-8, 12}));
  EXPECT_FALSE(
      RunOp("DequantizeLinear", {x, Tensor::Scalar<float>(1), Tensor::Scalar<int8_t>(0)}).ok());
}

TEST(QuantizationTest, DynamicQuantize) {
  Tensor x = Tensor::FromVector<float>({0, 2, -3, -2.5, 1.34, 0.5}, {6});
  auto r = RunOp("DynamicQuantizeLinear", {x}, {}, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FLOAT_EQ(Values<float>((*r)[1])[0], 5.0f / 255.0f);
  EXPECT_EQ(Values<uint8_t>((*r)[2])[0], 153);
  // Values from the ONNX test data (float division: -2.5 / scale is just above -127.5).
  EXPECT_EQ(Values<uint8_t>((*r)[0]), (std::vector<uint8_t>{153, 255, 0, 26, 221, 179}));
}

TEST(QuantizationTest, QLinearMatMul) {
  Tensor a = Tensor::FromVector<uint8_t>({2, 3}, {1, 2});
  Tensor b = Tensor::FromVector<uint8_t>({1, 2}, {2, 1});
  Tensor one = Tensor::Scalar<float>(1);
  auto r = RunOp("QLinearMatMul", {a, one, Tensor::Scalar<uint8_t>(1), b, one,
                                   Tensor::Scalar<uint8_t>(0), Tensor::Scalar<float>(0.5f),
                                   Tensor::Scalar<uint8_t>(0)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1}));
  EXPECT_EQ(Values<uint8_t>((*r)[0]), (std::vector<uint8_t>{10}));  // (1*1 + 2*2) / 0.5
}

TEST(QuantizationTest, ConvIntegerAndQLinearConv) {
  Tensor x = Tensor::FromVector<uint8_t>({1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor w = Tensor::FromVector<uint8_t>({2}, {1, 1, 1, 1});
  auto ci = RunOp("ConvInteger", {x, w, Tensor::Scalar<uint8_t>(1)});
  ASSERT_TRUE(ci.ok()) << ci.status().ToString();
  EXPECT_EQ(Values<int32_t>((*ci)[0]), (std::vector<int32_t>{0, 2, 4, 6}));
  // Zero-point padding: a padded tap of x_zp contributes nothing.
  auto padded = RunOp("ConvInteger", {x, Tensor::FromVector<uint8_t>({1, 1}, {1, 1, 1, 2}),
                                      Tensor::Scalar<uint8_t>(1)},
                      {{"pads", IntsAttr({0, 1, 0, 0})}});
  ASSERT_TRUE(padded.ok()) << padded.status().ToString();
  EXPECT_EQ(Values<int32_t>((*padded)[0]), (std::vector<int32_t>{0, 1, 2, 5}));

  Tensor w3 = Tensor::FromVector<uint8_t>({3}, {1, 1, 1, 1});
  Tensor one = Tensor::Scalar<float>(1);
  Tensor bias = Tensor::FromVector<int32_t>({1}, {1});
  auto q = RunOp("QLinearConv", {x, one, Tensor::Scalar<uint8_t>(1), w3, one,
                                 Tensor::Scalar<uint8_t>(1), Tensor::Scalar<float>(0.5f),
                                 Tensor::Scalar<uint8_t>(10), bias});
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(Values<uint8_t>((*q)[0]), (std::vector<uint8_t>{12, 16, 20, 24}));
}

}  // namespace
}  // namespace privedge
