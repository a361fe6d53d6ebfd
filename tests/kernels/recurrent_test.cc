// Hand-checked values for RNN, GRU and LSTM on tiny (hidden 1 or 2) problems.
#include <cmath>

#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::FloatsAttr;
using testing::IntAttr;
using testing::RunOp;
using testing::StringAttr;

Attribute StringsAttr(const std::vector<std::string>& v) {
  Attribute a;
  a.kind = Attribute::Kind::kStrings;
  a.strings = v;
  return a;
}

Tensor F(const std::vector<float>& v, Shape s) { return Tensor::FromVector<float>(v, s); }

void ExpectNear(const Tensor& t, const std::vector<double>& want, const Shape& shape) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.GetAsDouble(i), want[i], 1e-5) << i;
}

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

TEST(RecurrentTest, RnnTwoStepsForward) {
  // h1 = tanh(0.5 x1), h2 = tanh(0.5 x2 + 1.0 h1 + biases 0.25)
  Tensor x = F({1, 2}, {2, 1, 1});
  auto out = RunOp("RNN", {x, F({0.5f}, {1, 1, 1}), F({1}, {1, 1, 1}), F({0.25f, 0}, {1, 2})},
                   {{"hidden_size", IntAttr(1)}}, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const double h1 = std::tanh(0.5 + 0.25), h2 = std::tanh(1.0 + 0.25 + h1);
  ExpectNear((*out)[0], {h1, h2}, {2, 1, 1, 1});
  ExpectNear((*out)[1], {h2}, {1, 1, 1});
}

TEST(RecurrentTest, RnnReverseSequenceLensAndLayout) {
  // Batch 2, layout 1 (X is [batch, seq, input]); row 1 has length 1 so step 1 stays zero.
  Tensor x = F({1, 2, 3, 4}, {2, 2, 1});
  Tensor lens = Tensor::FromVector<int32_t>({2, 1}, {2});
  auto out = RunOp("RNN", {x, F({1}, {1, 1, 1}), F({1}, {1, 1, 1}), Tensor(), lens},
                   {{"direction", StringAttr("reverse")}, {"layout", IntAttr(1)},
                    {"activations", StringsAttr({"Affine"})},
                    {"activation_alpha", FloatsAttr({2})}, {"activation_beta", FloatsAttr({1})}},
                   2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // Row 0 runs t=1 then t=0: h = 2*2+1 = 5, then 2*(1+5)+1 = 13. Row 1: t=0 only: 2*3+1 = 7.
  ExpectNear((*out)[0], {13, 5, 7, 0}, {2, 2, 1, 1});
  ExpectNear((*out)[1], {13, 7}, {2, 1, 1});
}

TEST(RecurrentTest, RnnBidirectionalUsesSecondWeights) {
  Tensor x = F({1, 1}, {2, 1, 1});
  auto out = RunOp("RNN", {x, F({1, 2}, {2, 1, 1}), F({0, 0}, {2, 1, 1})},
                   {{"direction", StringAttr("bidirectional")},
                    {"activations", StringsAttr({"Relu", "LeakyRelu"})}}, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectNear((*out)[0], {1, 2, 1, 2}, {2, 2, 1, 1});
  ExpectNear((*out)[1], {1, 2}, {2, 1, 1});
}

TEST(RecurrentTest, GruSingleStep) {
  // Gates z, r, h: only the candidate sees x, so z = r = 0.5 and h = 0.5 tanh(1) + 0.5 h0.
  Tensor x = F({1}, {1, 1, 1});
  Tensor w = F({0, 0, 1}, {1, 3, 1});
  Tensor r = F({0, 0, 0}, {1, 3, 1});
  Tensor h0 = F({0.4f}, {1, 1, 1});
  auto out = RunOp("GRU", {x, w, r, Tensor(), Tensor(), h0}, {}, 2);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectNear((*out)[1], {0.5 * std::tanh(1.0) + 0.5 * 0.4}, {1, 1, 1});
}

TEST(RecurrentTest, GruLinearBeforeReset) {
  // Rh = 1, Rbh = 1, h0 = 1, r = 0.5: before-reset gives r*(Rh h0 + Rbh) = 1,
  // after-reset gives Rh (r h0) + Rbh = 1.5.
  Tensor x = F({0}, {1, 1, 1});
  Tensor w = F({0, 0, 0}, {1, 3, 1});
  Tensor r = F({0, 0, 1}, {1, 3, 1});
  Tensor b = F({0, 0, 0, 0, 0, 1}, {1, 6});
  Tensor h0 = F({1}, {1, 1, 1});
  for (int lbr : {0, 1}) {
    auto out = RunOp("GRU", {x, w, r, b, Tensor(), h0}, {{"linear_before_reset", IntAttr(lbr)}}, 2);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const double cand = std::tanh(lbr ? 1.0 : 1.5);
    ExpectNear((*out)[1], {0.5 * cand + 0.5}, {1, 1, 1});
  }
}

TEST(RecurrentTest, LstmSingleStepWithCell) {
  // Gates i, o, f, c: only c sees x. i = o = f = 0.5, C = 0.5 c0 + 0.5 tanh(1), H = 0.5 tanh(C).
  Tensor x = F({1}, {1, 1, 1});
  Tensor w = F({0, 0, 0, 1}, {1, 4, 1});
  Tensor r = F({0, 0, 0, 0}, {1, 4, 1});
  Tensor c0 = F({0.2f}, {1, 1, 1});
  auto out = RunOp("LSTM", {x, w, r, Tensor(), Tensor(), Tensor(), c0}, {}, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const double c = 0.1 + 0.5 * std::tanh(1.0);
  ExpectNear((*out)[0], {0.5 * std::tanh(c)}, {1, 1, 1, 1});
  ExpectNear((*out)[2], {c}, {1, 1, 1});
}

TEST(RecurrentTest, LstmPeepholesClipAndInputForget) {
  Tensor x = F({1}, {1, 1, 1});
  Tensor w = F({0, 0, 0, 5}, {1, 4, 1});
  Tensor r = F({0, 0, 0, 0}, {1, 4, 1});
  Tensor c0 = F({1}, {1, 1, 1});
  Tensor p = F({0, 1, 2}, {1, 3});  // i, o, f
  auto out = RunOp("LSTM", {x, w, r, Tensor(), Tensor(), Tensor(), c0, p},
                   {{"clip", testing::FloatAttr(1)}, {"input_forget", IntAttr(1)}}, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const double f = Sigmoid(1.0);  // 2 * c0 = 2, clipped to 1
  const double c = f * 1 + (1 - f) * std::tanh(1.0);  // candidate 5 clipped to 1
  const double o = Sigmoid(c);
  ExpectNear((*out)[1], {o * std::tanh(c)}, {1, 1, 1});
  ExpectNear((*out)[2], {c}, {1, 1, 1});
}

TEST(RecurrentTest, KeepsDoubleAndHalfTypes) {
  auto d = RunOp("RNN", {Tensor::FromVector<double>({1}, {1, 1, 1}),
                         Tensor::FromVector<double>({0.5}, {1, 1, 1}),
                         Tensor::FromVector<double>({0}, {1, 1, 1})}, {}, 2);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ((*d)[1].dtype(), DType::kFloat64);
  EXPECT_NEAR((*d)[1].data<double>()[0], std::tanh(0.5), 1e-12);
  auto h = RunOp("RNN", {Tensor::FromVector<Float16>({Float16(1.f)}, {1, 1, 1}),
                         Tensor::FromVector<Float16>({Float16(0.5f)}, {1, 1, 1}),
                         Tensor::FromVector<Float16>({Float16(0.f)}, {1, 1, 1})}, {}, 2);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ((*h)[1].dtype(), DType::kFloat16);
  EXPECT_NEAR((*h)[1].GetAsDouble(0), std::tanh(0.5), 1e-3);
  // Mixed types are refused.
  EXPECT_FALSE(RunOp("RNN", {Tensor::FromVector<double>({1}, {1, 1, 1}), F({1}, {1, 1, 1}),
                             F({1}, {1, 1, 1})}).ok());
}

TEST(RecurrentTest, RejectsBadInputs) {
  Tensor x = F({1, 2}, {2, 1, 1});
  // W rows must be gates * hidden.
  EXPECT_FALSE(RunOp("GRU", {x, F({1}, {1, 1, 1}), F({1}, {1, 1, 1})}).ok());
  // sequence_lens beyond the sequence.
  EXPECT_FALSE(RunOp("RNN", {x, F({1}, {1, 1, 1}), F({1}, {1, 1, 1}), Tensor(),
                             Tensor::FromVector<int32_t>({3}, {1})}).ok());
  EXPECT_FALSE(RunOp("RNN", {x, F({1}, {1, 1, 1}), F({1}, {1, 1, 1})},
                     {{"activations", StringsAttr({"Bogus"})}}).ok());
  EXPECT_FALSE(RunOp("RNN", {x, F({1}, {1, 1, 1}), F({1}, {1, 1, 1})},
                     {{"hidden_size", IntAttr(3)}}).ok());
  EXPECT_FALSE(RunOp("LSTM", {F({1}, {1, 1}), F({1}, {1, 4, 1}), F({1}, {1, 4, 1})}).ok());
}

}  // namespace
}  // namespace privedge
