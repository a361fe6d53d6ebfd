#include <gtest/gtest.h>

#include <cmath>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Floats;
using testing::IntAttr;
using testing::RunOp;

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "at " << i;
}

TEST(SignalTest, DftRealInput) {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4}, {1, 4, 1});
  auto r = RunOp("DFT", {x});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 4, 2}));
  // [10, -2+2i, -2, -2-2i]
  ExpectNear(Floats((*r)[0]), {10, 0, -2, 2, -2, 0, -2, -2});
  auto one = RunOp("DFT", {x}, {{"onesided", IntAttr(1)}});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)[0].shape(), (Shape{1, 3, 2}));
  // dft_length 2 truncates the signal to [1, 2].
  auto cut = RunOp("DFT", {x, Tensor::Scalar<int64_t>(2)});
  ASSERT_TRUE(cut.ok());
  ExpectNear(Floats((*cut)[0]), {3, 0, -1, 0});
  // DFT-20 takes the axis as input 2 (here -2, the default, which is axis 1 again).
  auto v20 = RunOp("DFT", {x, Tensor(), Tensor::Scalar<int64_t>(-2)}, {}, 1, 20);
  ASSERT_TRUE(v20.ok()) << v20.status().ToString();
  ExpectNear(Floats((*v20)[0]), Floats((*r)[0]));
}

TEST(SignalTest, DftInverseRoundTripAndErrors) {
  Tensor x = Tensor::FromVector<float>({1, 2, 0, -1, 3, 0.5f}, {1, 3, 2});
  auto f = RunOp("DFT", {x});
  ASSERT_TRUE(f.ok());
  auto b = RunOp("DFT", {(*f)[0]}, {{"inverse", IntAttr(1)}});
  ASSERT_TRUE(b.ok());
  ExpectNear(Floats((*b)[0]), Floats(x));
  EXPECT_FALSE(RunOp("DFT", {x}, {{"axis", IntAttr(2)}}).ok());
  EXPECT_FALSE(RunOp("DFT", {Tensor::FromVector<float>({1, 2, 3}, {1, 1, 3})}).ok());
}

TEST(SignalTest, StftFrames) {
  Tensor x = Tensor::FromVector<float>({1, 1, 1, 1, 1, 1}, {1, 6, 1});
  auto r = RunOp("STFT", {x, Tensor::Scalar<int64_t>(2), Tensor(), Tensor::Scalar<int64_t>(4)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 2, 3, 2}));
  ExpectNear(Floats((*r)[0]), {4, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0});
  EXPECT_FALSE(
      RunOp("STFT", {x, Tensor::Scalar<int64_t>(0), Tensor(), Tensor::Scalar<int64_t>(4)}).ok());
}

TEST(SignalTest, Windows) {
  auto hann = RunOp("HannWindow", {Tensor::Scalar<int32_t>(4)});
  ASSERT_TRUE(hann.ok()) << hann.status().ToString();
  ExpectNear(Floats((*hann)[0]), {0, 0.5, 1, 0.5});
  auto sym = RunOp("HannWindow", {Tensor::Scalar<int64_t>(3)}, {{"periodic", IntAttr(0)}});
  ASSERT_TRUE(sym.ok());
  ExpectNear(Floats((*sym)[0]), {0, 1, 0});
  auto ham =
      RunOp("HammingWindow", {Tensor::Scalar<int64_t>(2)}, {{"output_datatype", IntAttr(11)}});
  ASSERT_TRUE(ham.ok());
  EXPECT_EQ((*ham)[0].dtype(), DType::kFloat64);
  EXPECT_NEAR((*ham)[0].data<double>()[0], 4.0 / 46, 1e-12);
  auto black = RunOp("BlackmanWindow", {Tensor::Scalar<int64_t>(2)});
  ASSERT_TRUE(black.ok());
  ExpectNear(Floats((*black)[0]), {0, 1});
  EXPECT_FALSE(RunOp("HannWindow", {Tensor::Scalar<int64_t>(-1)}).ok());
}

TEST(SignalTest, MelWeightMatrixShapeAndPeaks) {
  auto r = RunOp("MelWeightMatrix", {Tensor::Scalar<int32_t>(4), Tensor::Scalar<int32_t>(16),
                                     Tensor::Scalar<int32_t>(8000), Tensor::Scalar<float>(0),
                                     Tensor::Scalar<float>(4000)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{9, 4}));
  std::vector<float> w = Floats((*r)[0]);
  for (int m = 0; m < 4; ++m) {
    float peak = 0;
    for (int b = 0; b < 9; ++b) peak = std::max(peak, w[b * 4 + m]);
    EXPECT_FLOAT_EQ(peak, 1.0f) << "filter " << m;
  }
}

}  // namespace
}  // namespace privedge
