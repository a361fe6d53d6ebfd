// TrainingSession: checkpoints, weights and deltas, export, freezing, FedProx, clipping, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "privedge/session.h"
#include "privedge/training.h"
#include "train/train_test_util.h"

namespace privedge::train {
namespace {

using namespace testing;  // NOLINT

std::unique_ptr<TrainingSession> Mlp(TrainingOptions options) {
  options.threads = 1;
  auto s = TrainingSession::Create(MaterializeReferenceModel("mlp"), options);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

TrainingOptions Adam() {
  TrainingOptions o;
  o.optimizer.kind = OptimizerKind::kAdam;
  o.optimizer.learning_rate = 1e-3f;
  return o;
}

double Step(TrainingSession& s, int step) {
  auto [x, y] = ReferenceBatch("mlp", step);
  auto r = s.TrainStep({{"input", x}}, y);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->loss : NAN;
}

TEST(TrainingSession, CheckpointResumesExactly) {
  auto a = Mlp(Adam());
  for (int i = 0; i < 3; ++i) Step(*a, i);
  const std::string checkpoint = a->SaveCheckpoint();
  const double l3 = Step(*a, 3), l4 = Step(*a, 4);
  auto b = Mlp(Adam());
  ASSERT_TRUE(b->LoadCheckpoint(checkpoint).ok());
  EXPECT_EQ(b->step(), 3);
  EXPECT_EQ(Step(*b, 3), l3);
  EXPECT_EQ(Step(*b, 4), l4);
  EXPECT_EQ(a->Weights(), b->Weights());
  EXPECT_EQ(a->Delta(), b->Delta());
}

TEST(TrainingSession, CheckpointRejectsDamageAndChangesNothing) {
  auto a = Mlp(Adam());
  Step(*a, 0);
  const std::string good = a->SaveCheckpoint();
  auto b = Mlp(Adam());
  const std::vector<float> before = b->Weights();
  for (size_t len : {size_t{0}, size_t{7}, size_t{12}, size_t{30}, size_t{100}, good.size() / 2,
                     good.size() - 1}) {
    EXPECT_FALSE(b->LoadCheckpoint(good.substr(0, len)).ok()) << "truncated to " << len;
  }
  std::string bad = good;
  bad[0] = 'X';
  EXPECT_FALSE(b->LoadCheckpoint(bad).ok());
  bad = good;
  bad[8] = 2;  // version
  EXPECT_NE(b->LoadCheckpoint(bad).message().find("version"), std::string::npos);
  bad = good + "x";
  EXPECT_FALSE(b->LoadCheckpoint(bad).ok());
  // A huge name length claims more than the file holds.
  bad = good;
  bad[28] = '\xff';
  bad[29] = '\xff';
  EXPECT_FALSE(b->LoadCheckpoint(bad).ok());
  // Another optimizer's checkpoint.
  TrainingOptions sgd;
  auto c = Mlp(sgd);
  EXPECT_FALSE(c->LoadCheckpoint(good).ok());
  EXPECT_EQ(b->Weights(), before);
  EXPECT_EQ(b->step(), 0);
  EXPECT_TRUE(b->LoadCheckpoint(good).ok());
}

TEST(TrainingSession, WeightsDeltaAndSetWeights) {
  TrainingOptions o;
  o.optimizer.learning_rate = 0.1f;
  auto s = Mlp(o);
  const auto& layout = s->Layout();
  ASSERT_EQ(layout.size(), 4u);
  EXPECT_EQ(layout[0].name, "fc1.weight");
  EXPECT_EQ(layout[0].shape, (Shape{128, 784}));
  EXPECT_EQ(layout[1].offset, 128 * 784);
  EXPECT_EQ(s->ParameterCount(), 128 * 784 + 128 + 10 * 128 + 10);
  const std::vector<float> w0 = s->Weights();
  for (float d : s->Delta()) ASSERT_EQ(d, 0.0f);
  Step(*s, 0);
  const std::vector<float> w1 = s->Weights(), delta = s->Delta();
  double norm = 0;
  for (size_t i = 0; i < w1.size(); ++i) {
    EXPECT_EQ(delta[i], w1[i] - w0[i]);
    norm += delta[i] * delta[i];
  }
  EXPECT_GT(norm, 0);
  ASSERT_TRUE(s->SetWeights(w0).ok());
  EXPECT_EQ(s->Weights(), w0);
  for (float d : s->Delta()) ASSERT_EQ(d, 0.0f);
  EXPECT_FALSE(s->SetWeights(std::vector<float>(3)).ok());
  std::vector<float> nan = w0;
  nan[5] = NAN;
  EXPECT_FALSE(s->SetWeights(nan).ok());
}

TEST(TrainingSession, ExportedModelRunsWithTheTrainedWeights) {
  auto s = Mlp(Adam());
  for (int i = 0; i < 3; ++i) Step(*s, i);
  const std::string path = std::string(PRIVEDGE_BINARY_DIR) + "/train_exported_mlp.onnx";
  ASSERT_TRUE(s->ExportOnnx(path).ok());
  auto [x, y] = ReferenceBatch("mlp", 7);
  auto eval = s->Evaluate({{"input", x}}, y);
  ASSERT_TRUE(eval.ok());
  // The inference engine on the exported file gives the same loss.
  auto inference = Session::Load(path);
  ASSERT_TRUE(inference.ok()) << inference.status().ToString();
  auto out = (*inference)->Run({{"input", x}});
  ASSERT_TRUE(out.ok());
  const Tensor& logits = (*out)[0].second;
  double loss = 0;
  for (int n = 0; n < 8; ++n) {
    const float* row = logits.data<float>() + n * 10;
    double sum = 0;
    for (int j = 0; j < 10; ++j) sum += std::exp(row[j]);
    loss += std::log(sum) - row[y.data<int64_t>()[n]];
  }
  EXPECT_NEAR(loss / 8, eval->loss, 1e-5);
  // And a training session on it starts from the trained weights.
  auto reopened = TrainingSession::Create(path, Adam());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Weights(), s->Weights());
}

TEST(TrainingSession, ExportEmbedsFrozenExternalInitializers) {
  // fc1.* is frozen and lives in the reference model's external weights file; the exported
  // model must still load on its own, from a folder without that file.
  TrainingOptions o;
  o.freeze_prefixes = {"fc1."};
  auto s = Mlp(o);
  Step(*s, 0);
  const std::string path = std::string(PRIVEDGE_BINARY_DIR) + "/train_exported_frozen.onnx";
  ASSERT_TRUE(s->ExportOnnx(path).ok());
  auto reopened = TrainingSession::Create(path, TrainingOptions());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto [x, y] = ReferenceBatch("mlp", 3);
  EXPECT_NEAR((*reopened)->Evaluate({{"input", x}}, y)->loss, s->Evaluate({{"input", x}}, y)->loss,
              1e-6);
}

TEST(TrainingSession, FreezePrefixAndTrainableList) {
  TrainingOptions o;
  o.freeze_prefixes = {"fc1."};
  auto s = Mlp(o);
  ASSERT_EQ(s->Layout().size(), 2u);
  EXPECT_EQ(s->Layout()[0].name, "fc2.weight");
  EXPECT_EQ(s->Layout()[1].name, "fc2.bias");
  Step(*s, 0);
  o = TrainingOptions();
  o.trainable = {"fc1.bias"};
  EXPECT_EQ(Mlp(o)->ParameterCount(), 128);
  o.trainable = {"nope"};
  auto bad = TrainingSession::Create(MaterializeReferenceModel("mlp"), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nope"), std::string::npos);
}

TEST(TrainingSession, FedProxPullsTowardsTheAnchor) {
  // Plain SGD: the first step starts at the anchor (no proximal gradient), so both sessions
  // reach the same w1; the second step differs by exactly lr * mu * (w1 - anchor).
  TrainingOptions plain;
  plain.optimizer.learning_rate = 0.1f;
  TrainingOptions prox = plain;
  prox.fedprox_mu = 0.5f;
  auto a = Mlp(plain), b = Mlp(prox);
  const std::vector<float> anchor = a->Weights();
  Step(*a, 0);
  Step(*b, 0);
  ASSERT_EQ(a->Weights(), b->Weights());
  const std::vector<float> w1 = a->Weights();
  Step(*a, 1);
  Step(*b, 1);
  const std::vector<float> wa = a->Weights(), wb = b->Weights();
  double max_err = 0, max_diff = 0;
  for (size_t i = 0; i < wa.size(); ++i) {
    const double expected = wa[i] - 0.1 * 0.5 * (w1[i] - anchor[i]);
    max_err = std::max(max_err, std::fabs(wb[i] - expected));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(wb[i]) - wa[i]));
  }
  EXPECT_LT(max_err, 1e-6);
  EXPECT_GT(max_diff, 1e-5);
}

TEST(TrainingSession, ClipsTheGlobalGradientNorm) {
  TrainingOptions o;
  o.optimizer.learning_rate = 1.0f;
  o.clip_global_norm = 1e-3f;
  auto s = Mlp(o);
  Step(*s, 0);
  double norm = 0;
  for (float d : s->Delta()) norm += static_cast<double>(d) * d;
  EXPECT_NEAR(std::sqrt(norm), 1e-3, 1e-5);
}

TEST(TrainingSession, LearningRateAndLabelsByName) {
  auto s = Mlp(TrainingOptions());
  s->set_learning_rate(0.25f);
  EXPECT_EQ(s->learning_rate(), 0.25f);
  auto [x, y] = ReferenceBatch("mlp", 0);
  auto r = s->TrainStep({{"input", x}, {"labels", y}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->count, 8);
  EXPECT_FALSE(s->TrainStep({{"input", x}}).ok());
}

TEST(TrainingSession, BadInputsAreErrorsAndLeaveWeightsAlone) {
  auto s = Mlp(TrainingOptions());
  const std::vector<float> w = s->Weights();
  auto [x, y] = ReferenceBatch("mlp", 0);
  Tensor float_labels(DType::kFloat32, {8});
  EXPECT_FALSE(s->TrainStep({{"input", x}}, float_labels).ok());
  Tensor out_of_range = Tensor::FromVector<int64_t>({0, 1, 2, 3, 4, 5, 6, 10}, {8});
  auto r = s->TrainStep({{"input", x}}, out_of_range);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("10"), std::string::npos);
  EXPECT_FALSE(s->TrainStep({{"input", x}}, Tensor::FromVector<int64_t>({1, 2}, {2})).ok());
  EXPECT_FALSE(s->TrainStep({{"nope", x}}, y).ok());
  EXPECT_FALSE(s->TrainStep({}, y).ok());
  EXPECT_FALSE(s->TrainStep({{"input", Tensor(DType::kFloat32, {8, 5})}}, y).ok());
  EXPECT_EQ(s->Weights(), w);
}

TEST(TrainingSession, UnsupportedOperatorInAModelIsNamed) {
  auto s = TrainingSession::Create(
      std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/models/lstm.onnx", TrainingOptions());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotImplemented);
  EXPECT_NE(s.status().message().find("LSTM"), std::string::npos) << s.status().message();
  EXPECT_FALSE(TrainingSession::Create("/nonexistent.onnx", TrainingOptions()).ok());
  EXPECT_FALSE(TrainingSession::CreateFromBuffer("garbage", 7, TrainingOptions()).ok());
}

}  // namespace
}  // namespace privedge::train
