// Optimizer updates against hand-computed torch.optim formulas, and the losses' values and
// gradients (central differences).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "train/loss.h"
#include "train/optimizer.h"
#include "train/train_test_util.h"

namespace privedge::train {
namespace {

TEST(Optimizer, SgdMomentumNesterovWeightDecay) {
  OptimizerOptions o;
  o.learning_rate = 0.1f;
  o.momentum = 0.9f;
  o.nesterov = true;
  o.weight_decay = 0.01f;
  Optimizer opt(o, 1);
  float w = 1.0f, g = 0.5f;
  // Step 1: d = g + wd w = 0.51; buf = d; nesterov step d + mu buf = 0.969.
  opt.Step(&w, &g, 1);
  EXPECT_NEAR(w, 1.0 - 0.1 * 0.969, 1e-6);
  // Step 2: d = 0.5 + 0.01 w1; buf = 0.9 * 0.51 + d; step d + 0.9 buf.
  const double w1 = 1.0 - 0.1 * 0.969, d = 0.5 + 0.01 * w1, buf = 0.9 * 0.51 + d;
  g = 0.5f;
  opt.Step(&w, &g, 1);
  EXPECT_NEAR(w, w1 - 0.1 * (d + 0.9 * buf), 1e-6);
  EXPECT_EQ(opt.steps(), 2);
}

TEST(Optimizer, AdamAndAdamW) {
  for (OptimizerKind kind : {OptimizerKind::kAdam, OptimizerKind::kAdamW}) {
    OptimizerOptions o;
    o.kind = kind;
    o.learning_rate = 0.01f;
    o.weight_decay = 0.1f;
    Optimizer opt(o, 1);
    double w = 2.0, m = 0, v = 0;
    float wf = 2.0f;
    for (int t = 1; t <= 3; ++t) {
      const double g0 = 0.3 * t;
      float g = static_cast<float>(g0);
      opt.Step(&wf, &g, 1);
      double d = g0;
      if (kind == OptimizerKind::kAdam)
        d += 0.1 * w;
      else
        w *= 1 - 0.01 * 0.1;
      m = 0.9 * m + 0.1 * d;
      v = 0.999 * v + 0.001 * d * d;
      const double mhat = m / (1 - std::pow(0.9, t)), vhat = v / (1 - std::pow(0.999, t));
      w -= 0.01 * mhat / (std::sqrt(vhat) + 1e-8);
      EXPECT_NEAR(wf, w, 1e-6) << "step " << t;
    }
  }
}

TEST(Optimizer, ClipGlobalNorm) {
  std::vector<float> g = {3, 4};
  EXPECT_NEAR(ClipGlobalNorm(g.data(), 2, 1.0), 5.0, 1e-9);
  EXPECT_NEAR(g[0], 0.6, 1e-5);
  EXPECT_NEAR(g[1], 0.8, 1e-5);
  std::vector<float> small = {0.1f, 0.1f};
  ClipGlobalNorm(small.data(), 2, 1.0);
  EXPECT_EQ(small[0], 0.1f);
}

// Loss gradients against central differences (in double on the float inputs).
void CheckLossGradient(LossKind kind, const Tensor& out, const Tensor& labels) {
  auto base = ComputeLoss(kind, out, labels, true);
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  Tensor x = out.Clone();
  for (int64_t i = 0; i < x.numel(); ++i) {
    float* v = x.data<float>() + i;
    const float saved = *v;
    const double eps = 1e-3;
    *v = static_cast<float>(saved + eps);
    const double up = ComputeLoss(kind, x, labels, false)->loss;
    *v = static_cast<float>(saved - eps);
    const double down = ComputeLoss(kind, x, labels, false)->loss;
    *v = saved;
    EXPECT_NEAR(base->grad.data<float>()[i], (up - down) / (2 * eps), 2e-4) << "element " << i;
  }
}

TEST(Loss, SoftmaxCrossEntropy) {
  Tensor z = Tensor::FromVector<float>({1, 2, 3, 0, 0, 0}, {2, 3});
  Tensor y = Tensor::FromVector<int64_t>({2, 1}, {2});
  auto l = ComputeLoss(LossKind::kSoftmaxCrossEntropy, z, y, true);
  ASSERT_TRUE(l.ok());
  const double expected =
      (std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3 + std::log(3.0)) / 2;
  EXPECT_NEAR(l->loss, expected, 1e-6);
  EXPECT_EQ(l->correct, 1);  // row 2 ties at 0: argmax picks class 0
  EXPECT_EQ(l->count, 2);
  CheckLossGradient(LossKind::kSoftmaxCrossEntropy, z, y);
}

TEST(Loss, BinaryCrossEntropyAndMse) {
  std::mt19937 rng(3);
  Tensor p = testing::Random({3, 2}, rng, 0.1f, 0.9f);
  Tensor z = testing::Random({3, 2}, rng, -3, 3);
  Tensor y = Tensor::FromVector<float>({1, 0, 0, 1, 1, 0.25f}, {3, 2});
  auto bce = ComputeLoss(LossKind::kBinaryCrossEntropy, p, y, false);
  ASSERT_TRUE(bce.ok());
  double expected = 0;
  for (int i = 0; i < 6; ++i) {
    const double pi = p.data<float>()[i], yi = y.data<float>()[i];
    expected -= yi * std::log(pi) + (1 - yi) * std::log(1 - pi);
  }
  EXPECT_NEAR(bce->loss, expected / 6, 1e-6);
  EXPECT_EQ(bce->count, 6);
  CheckLossGradient(LossKind::kBinaryCrossEntropy, p, y);
  // With logits: the same as BCE on sigmoid(z).
  Tensor sig = z.Clone();
  for (int i = 0; i < 6; ++i) sig.data<float>()[i] = 1 / (1 + std::exp(-z.data<float>()[i]));
  EXPECT_NEAR(ComputeLoss(LossKind::kBinaryCrossEntropyWithLogits, z, y, false)->loss,
              ComputeLoss(LossKind::kBinaryCrossEntropy, sig, y, false)->loss, 1e-5);
  CheckLossGradient(LossKind::kBinaryCrossEntropyWithLogits, z, y);
  auto mse = ComputeLoss(LossKind::kMeanSquaredError, z, y, false);
  expected = 0;
  for (int i = 0; i < 6; ++i) expected += std::pow(z.data<float>()[i] - y.data<float>()[i], 2);
  EXPECT_NEAR(mse->loss, expected / 6, 1e-5);
  EXPECT_EQ(mse->count, 3);
  CheckLossGradient(LossKind::kMeanSquaredError, z, y);
  EXPECT_FALSE(
      ComputeLoss(LossKind::kMeanSquaredError, z, Tensor(DType::kFloat32, {2, 3}), false).ok());
}

}  // namespace
}  // namespace privedge::train
