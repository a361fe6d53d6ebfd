// On-device training in the simulator: SessionTrainer on an ONNX MLP (784-128-10) over
// Fashion-MNIST examples, alone and inside a short federated run.
#include "fl/sim/session_trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "fl/sim/simulation.h"
#include "train/train_test_util.h"

namespace privedge::fl::sim {
namespace {

constexpr const char* kDir = "/usr/share/datasets/fashion-mnist";

const Dataset& TrainSet() {
  static const Dataset d = [] {
    auto r = ReadFashionMnist(kDir, true, 2000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Dataset{};
  }();
  return d;
}
const Dataset& TestSet() {
  static const Dataset d = [] {
    auto r = ReadFashionMnist(kDir, false, 1000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Dataset{};
  }();
  return d;
}

std::vector<int64_t> Range(int64_t first, int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), first);
  return v;
}

TEST(SessionTrainerTest, TrainsFromTheGlobalModelWithAFreshOptimizerPerDevice) {
  ASSERT_EQ(TrainSet().count, 2000);
  SessionModelOptions options;
  options.momentum = 0.9f;  // state that would leak from one device into the next
  auto model = SessionModel::Create(train::testing::MaterializeReferenceModel("mlp"), 28, 28,
                                    options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<float> global = (*model)->InitialWeights();
  ASSERT_EQ(static_cast<int64_t>(global.size()), (*model)->num_params());
  TrainingConfig config;
  config.learning_rate = 0.02;
  config.batch_size = 10;

  SessionTrainer a(**model, TrainSet(), Range(0, 300), 5);
  SessionTrainer b(**model, TrainSet(), Range(300, 300), 7);
  auto ra = a.Train(global, config);
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  EXPECT_EQ(ra->num_examples, 300);
  EXPECT_TRUE(std::isfinite(ra->train_loss));
  ASSERT_TRUE(b.Train(global, config).ok());
  // The same device (seed) from the same global model after another device trained on the
  // shared session: the identical delta, so neither weights nor momentum carried over.
  SessionTrainer a_again(**model, TrainSet(), Range(0, 300), 5);
  auto ra2 = a_again.Train(global, config);
  ASSERT_TRUE(ra2.ok());
  EXPECT_EQ(ra2->delta, ra->delta);

  // Training helped: 30 steps lift the model from chance to about 60% on held-out examples,
  // and a second local run from it has a lower loss.
  auto before = (*model)->Evaluate(global, TestSet());
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  std::vector<float> trained = global;
  for (size_t i = 0; i < trained.size(); ++i) trained[i] += ra->delta[i];
  auto after = (*model)->Evaluate(trained, TestSet());
  ASSERT_TRUE(after.ok());
  EXPECT_LT(before->accuracy, 0.3);
  EXPECT_GT(after->accuracy, 0.5);
  EXPECT_LT(after->loss, before->loss);
  auto next = a.Train(trained, config);
  ASSERT_TRUE(next.ok());
  EXPECT_LT(next->train_loss, ra->train_loss);

  // The FedProx mu is fixed when the session is made.
  config.proximal_mu = 0.1;
  auto prox = a.Train(global, config);
  ASSERT_FALSE(prox.ok());
  EXPECT_NE(prox.status().message().find("FedProx mu"), std::string::npos);
  std::vector<float> short_global(10, 0.0f);
  config.proximal_mu = 0;
  EXPECT_FALSE(a.Train(short_global, config).ok());
}

TEST(SessionTrainerTest, RefusesAModelWhoseInputDoesNotFitTheImages) {
  // tiny.onnx takes 4 features per example.
  auto model = SessionModel::Create(std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/train/tiny.onnx",
                                    28, 28, {});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("must be float32 [N, 784]"), std::string::npos)
      << model.status().message();
  auto missing = SessionModel::Create("/nonexistent/model.onnx", 28, 28, {});
  EXPECT_FALSE(missing.ok());
}

TEST(SessionTrainerTest, FederatedRunOnTheOnnxModelLearns) {
  SimulationConfig config;
  config.clients = 10;
  config.rounds = 3;
  config.fraction = 0.5;
  config.training.learning_rate = 0.05;
  config.model_path = train::testing::MaterializeReferenceModel("mlp");
  config.momentum = 0.5;
  auto r = RunSimulation(config, TrainSet(), TestSet());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rounds.size(), 3u);
  EXPECT_EQ(r->rounds[0].participants, 5);
  EXPECT_GT(r->rounds.back().test_accuracy, 0.55);  // 62% measured; chance is 10%
  EXPECT_GT(r->rounds.back().test_accuracy, r->rounds.front().test_accuracy);
  EXPECT_LT(r->rounds.back().train_loss, r->rounds.front().train_loss);
  EXPECT_EQ(r->final_model.size(), 784u * 128 + 128 + 128 * 10 + 10);

  config.threads = 0;
  EXPECT_FALSE(RunSimulation(config, TrainSet(), TestSet()).ok());
}

}  // namespace
}  // namespace privedge::fl::sim
