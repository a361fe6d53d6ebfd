#include "privedge/tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace privedge {
namespace {

TEST(TensorTest, CreateZeroedAndAligned) {
  Tensor t(DType::kFloat32, {2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
  EXPECT_EQ(t.data<int32_t>(), nullptr);  // wrong element type is refused
}

TEST(TensorTest, CreateRefusesBadShapesAndHugeSizes) {
  EXPECT_FALSE(Tensor::Create(DType::kFloat32, {-1, 3}).ok());
  auto huge = Tensor::Create(DType::kFloat32, {1 << 20, 1 << 20}, size_t{1} << 30);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("limit"), std::string::npos);
  const int64_t big = std::numeric_limits<int64_t>::max() / 2;
  EXPECT_EQ(ShapeElementCount({big, 4}), -1);  // overflow detected, not wrapped
  EXPECT_FALSE(Tensor::Create(DType::kUndefined, {1}).ok());
}

TEST(TensorTest, CopiesShareStorageCloneDoesNot) {
  Tensor a = Tensor::FromVector<int64_t>({1, 2, 3, 4}, {2, 2});
  Tensor b = a;
  Tensor c = a.Clone();
  a.data<int64_t>()[0] = 42;
  EXPECT_EQ(b.data<int64_t>()[0], 42);
  EXPECT_EQ(c.data<int64_t>()[0], 1);
  Tensor r = a.Reshaped({4});
  EXPECT_EQ(r.shape(), (Shape{4}));
  EXPECT_EQ(r.data<int64_t>()[0], 42);
}

TEST(TensorTest, StringTensors) {
  Tensor s = Tensor::FromVector<std::string>({"a", "bc"}, {2});
  Tensor c = s.Clone();
  s.data<std::string>()[0] = "z";
  EXPECT_EQ(c.data<std::string>()[0], "a");
  EXPECT_EQ(c.data<std::string>()[1], "bc");
}

TEST(TensorTest, HalfConversionsAreExact) {
  // Values exactly representable in binary16 round-trip; the rest round to nearest even.
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f})
    EXPECT_EQ(HalfToFloat(FloatToHalf(f)), f) << f;
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);  // overflow to +inf
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3c00);  // tie rounds to even
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048), 0x3c02);  // tie rounds to even (up)
  // Every half value survives float and back.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << h;
  }
}

TEST(TensorTest, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(3.140625f)), 3.140625f);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(NAN))));
}

TEST(TensorTest, GetAsConvertsEveryType) {
  EXPECT_EQ(Tensor::Scalar<uint8_t>(200).GetAsInt64(0), 200);
  EXPECT_EQ(Tensor::Scalar<int8_t>(-3).GetAsDouble(0), -3.0);
  EXPECT_EQ(Tensor::Scalar<bool>(true).GetAsInt64(0), 1);
  EXPECT_EQ(Tensor::Scalar<Float16>(Float16(0.5f)).GetAsDouble(0), 0.5);
  EXPECT_EQ(Tensor::Scalar<double>(2.75).GetAsInt64(0), 2);
}

}  // namespace
}  // namespace privedge
