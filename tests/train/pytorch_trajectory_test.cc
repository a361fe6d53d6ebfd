// The MLP and the MNIST CNN trained here and in PyTorch from identical weights on identical
// batches: per-step losses agree within 1e-4 over 20 SGD (momentum) and 20 Adam steps, and the
// final weights agree. References: tests/data/train/trajectories.txt, written by
// tools/torch_train_reference.py; the initial weights and batches come from a generator both
// sides implement (train_test_util.h), so only the small ONNX graphs are committed.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "privedge/training.h"
#include "train/train_test_util.h"

namespace privedge::train {
namespace {

using namespace testing;  // NOLINT

struct Reference {
  float lr = 0;
  std::vector<double> losses;
  std::vector<std::tuple<std::string, double, double>> finals;  // name, sum, sum of squares
};

Reference ReadReference(const std::string& model, const std::string& optimizer) {
  std::ifstream in(std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/train/trajectories.txt");
  Reference ref;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string a, b, c;
    is >> a >> b >> c;
    if (a == model && b == optimizer) {
      ref.lr = std::stof(c);
      double v;
      while (is >> v) ref.losses.push_back(v);
    } else if (a == "final" && b == model && c == optimizer) {
      std::string name;
      double s, s2;
      is >> name >> s >> s2;
      ref.finals.emplace_back(name, s, s2);
    }
  }
  return ref;
}

void CheckTrajectory(const std::string& model, const std::string& optimizer) {
  const Reference ref = ReadReference(model, optimizer);
  ASSERT_EQ(ref.losses.size(), 20u) << "reference for " << model << " " << optimizer;
  TrainingOptions options;
  options.optimizer.kind = optimizer == "sgd" ? OptimizerKind::kSgd : OptimizerKind::kAdam;
  options.optimizer.learning_rate = ref.lr;
  options.optimizer.momentum = optimizer == "sgd" ? 0.9f : 0.0f;
  options.threads = 1;
  auto session = TrainingSession::Create(MaterializeReferenceModel(model), options);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  for (int step = 0; step < 20; ++step) {
    auto [x, y] = ReferenceBatch(model, step);
    auto r = (*session)->TrainStep({{"input", x}}, y);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NEAR(r->loss, ref.losses[step], 1e-4) << model << " " << optimizer << " step " << step;
  }
  const std::vector<float> w = (*session)->Weights();
  ASSERT_EQ(ref.finals.size(), (*session)->Layout().size());
  for (const auto& p : (*session)->Layout()) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < p.size; ++i) {
      s += w[p.offset + i];
      s2 += static_cast<double>(w[p.offset + i]) * w[p.offset + i];
    }
    bool found = false;
    for (const auto& [name, rs, rs2] : ref.finals) {
      if (name != p.name) continue;
      found = true;
      EXPECT_NEAR(s, rs, 1e-4 * std::sqrt(static_cast<double>(p.size)) + 1e-4 * std::fabs(rs))
          << p.name;
      EXPECT_NEAR(s2, rs2, 1e-4 * std::fabs(rs2) + 1e-6) << p.name;
    }
    EXPECT_TRUE(found) << p.name;
  }
}

TEST(PytorchTrajectory, MlpSgd) { CheckTrajectory("mlp", "sgd"); }
TEST(PytorchTrajectory, MlpAdam) { CheckTrajectory("mlp", "adam"); }
TEST(PytorchTrajectory, CnnSgd) { CheckTrajectory("cnn", "sgd"); }
TEST(PytorchTrajectory, CnnAdam) { CheckTrajectory("cnn", "adam"); }

}  // namespace
}  // namespace privedge::train
