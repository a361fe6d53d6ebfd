// The in-process simulation on Fashion-MNIST with the built-in linear model: partitions,
// determinism, dropouts, and robustness of Krum / trimmed mean / median to attackers.
#include "fl/sim/simulation.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <set>

#include "fl/sim/linear_model.h"

namespace privedge::fl::sim {
namespace {

constexpr const char* kDir = "/usr/share/datasets/fashion-mnist";

const Dataset& TrainData() {
  static const Dataset d = [] {
    auto r = ReadFashionMnist(kDir, true, 6000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Dataset{};
  }();
  return d;
}
const Dataset& TestData() {
  static const Dataset d = [] {
    auto r = ReadFashionMnist(kDir, false, 2000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Dataset{};
  }();
  return d;
}

TEST(SimulationDataTest, ReadsFashionMnistAndRefusesBadFiles) {
  ASSERT_EQ(TrainData().count, 6000);
  EXPECT_EQ(TrainData().dim, 784);
  EXPECT_EQ(TestData().count, 2000);
  auto missing = ReadFashionMnist("/nonexistent", true);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  // Labels as images: wrong magic.
  auto swapped = ReadIdxPair(std::string(kDir) + "/t10k-labels-idx1-ubyte.gz",
                             std::string(kDir) + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_FALSE(swapped.ok());
  EXPECT_NE(swapped.status().message().find("IDX3"), std::string::npos);
}

TEST(SimulationDataTest, RefusesTruncatedAndInconsistentIdxFiles) {
  const std::string dir = ::testing::TempDir();
  auto write_gz = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    gzFile f = gzopen((dir + name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    gzclose(f);
  };
  // 1000 images of 28x28 announced, 10 pixel bytes present; 2 labels for 2 images.
  write_gz("img.gz",
           {0, 0, 8, 3, 0, 0, 3, 232, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  write_gz("lab.gz", {0, 0, 8, 1, 0, 0, 0, 2, 1, 2});
  auto truncated = ReadIdxPair(dir + "img.gz", dir + "lab.gz");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("img.gz: truncated IDX file"), std::string::npos)
      << truncated.status().message();
  // Image and label counts disagree.
  write_gz("lab1.gz", {0, 0, 8, 1, 0, 0, 0, 1, 1});
  write_gz("img1.gz", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4});
  auto mismatch = ReadIdxPair(dir + "img1.gz", dir + "lab1.gz");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("expected 2 labels"), std::string::npos)
      << mismatch.status().message();
  // 2 images of 1x2 pixels, but a label of 12.
  write_gz("img2.gz", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3, 4});
  write_gz("lab2.gz", {0, 0, 8, 1, 0, 0, 0, 2, 1, 12});
  auto label = ReadIdxPair(dir + "img2.gz", dir + "lab2.gz");
  ASSERT_FALSE(label.ok());
  EXPECT_NE(label.status().message().find("label 12 outside [0, 10)"), std::string::npos);
  write_gz("lab3.gz", {0, 0, 8, 1, 0, 0, 0, 2, 1, 9});
  auto good = ReadIdxPair(dir + "img2.gz", dir + "lab3.gz");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->count, 2);
  EXPECT_EQ(good->dim, 2);
  EXPECT_EQ(good->rows, 1);
  EXPECT_EQ(good->cols, 2);
  EXPECT_EQ(good->pixels, (std::vector<uint8_t>{1, 2, 3, 4}));
}

std::set<int> LabelsOf(const std::vector<int64_t>& part) {
  std::set<int> labels;
  for (int64_t i : part) labels.insert(TrainData().labels[i]);
  return labels;
}

TEST(SimulationDataTest, Partitions) {
  std::mt19937_64 rng(3);
  auto iid = Partition(TrainData(), 10, "iid", rng);
  ASSERT_TRUE(iid.ok());
  std::set<int64_t> seen;
  for (const auto& p : *iid) {
    EXPECT_EQ(p.size(), 600u);
    EXPECT_EQ(LabelsOf(p).size(), 10u);
    seen.insert(p.begin(), p.end());
  }
  EXPECT_EQ(seen.size(), 6000u);  // every example exactly once

  // Two label-sorted shards per device. A shard may straddle a class boundary (this subset's
  // classes are not multiples of the shard size), so a device sees at most 4 labels, and most
  // see at most 2.
  auto shards = Partition(TrainData(), 30, "shards:2", rng);
  ASSERT_TRUE(shards.ok());
  int narrow = 0;
  for (const auto& p : *shards) {
    EXPECT_EQ(p.size(), 200u);
    EXPECT_LE(LabelsOf(p).size(), 4u);
    narrow += LabelsOf(p).size() <= 2;
  }
  EXPECT_GE(narrow, 20);

  auto skewed = Partition(TrainData(), 20, "dirichlet:0.1", rng);
  auto flat = Partition(TrainData(), 20, "dirichlet:1000", rng);
  ASSERT_TRUE(skewed.ok() && flat.ok());
  size_t skewed_labels = 0, flat_labels = 0, total = 0;
  for (const auto& p : *skewed) skewed_labels += LabelsOf(p).size(), total += p.size();
  for (const auto& p : *flat) flat_labels += LabelsOf(p).size();
  EXPECT_EQ(total, 6000u);
  EXPECT_LT(skewed_labels, flat_labels);  // small alpha: few labels per device
  EXPECT_EQ(flat_labels, 200u);

  for (const char* bad : {"iid:3", "dirichlet:0", "dirichlet:x", "shards:0", "shards:1.5", "zipf"})
    EXPECT_FALSE(Partition(TrainData(), 10, bad, rng).ok()) << bad;
}

SimulationConfig Small() {
  SimulationConfig c;
  c.clients = 20;
  c.rounds = 5;
  c.fraction = 1.0;
  c.over_selection = 1.0;
  c.training.learning_rate = 0.05;
  c.seed = 11;
  return c;
}

double FinalAccuracy(const SimulationConfig& c) {
  auto r = RunSimulation(c, TrainData(), TestData());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() && !r->rounds.empty() ? r->rounds.back().test_accuracy : 0;
}

TEST(SimulationTest, LearnsAndIsDeterministicGivenTheSeed) {
  SimulationConfig c = Small();
  c.clients = 50;
  c.fraction = 0.2;
  c.over_selection = 1.3;
  c.rounds = 4;
  auto a = RunSimulation(c, TrainData(), TestData());
  auto b = RunSimulation(c, TrainData(), TestData());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->rounds.size(), 4u);
  EXPECT_EQ(a->final_digest, b->final_digest);
  for (size_t i = 0; i < a->rounds.size(); ++i)
    EXPECT_EQ(a->rounds[i].test_accuracy, b->rounds[i].test_accuracy);
  EXPECT_GT(a->rounds.back().test_accuracy, 0.65);  // a linear model after 4 short rounds
  EXPECT_GT(a->rounds.back().test_accuracy, a->rounds.front().test_accuracy);
  c.seed = 12;
  auto other = RunSimulation(c, TrainData(), TestData());
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->final_digest, a->final_digest);
}

TEST(SimulationTest, DropoutsAreToleratedAndLateUpdatesRefused) {
  SimulationConfig c = Small();
  c.clients = 40;
  c.fraction = 0.25;  // 10 per round, 13 assigned
  c.over_selection = 1.3;
  c.min_clients = 5;
  c.dropout = 0.3;
  c.rounds = 4;
  auto r = RunSimulation(c, TrainData(), TestData());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->task_failed);
  ASSERT_EQ(r->rounds.size(), 4u);
  int64_t dropped = 0;
  for (const auto& round : r->rounds) {
    EXPECT_GE(round.participants, 5);
    dropped += round.dropped;
  }
  EXPECT_GT(dropped, 0);
  EXPECT_GT(r->counters["rejected.round_closed"], 0);  // dropped devices retry too late
  EXPECT_GT(r->rounds.back().test_accuracy, 0.6);
}

// 10% of the devices attack every round: 2 of 20, sending 50x their delta ("scale") or -10x
// ("signflip"). FedAvg degrades badly; trimmed mean, the median and Multi-Krum stay within 3
// points of the clean FedAvg run. Plain Krum resists too but follows a single device's update
// per round, so after 5 rounds it trails the clean run by 3-4 points: it is held to 5.
class RobustnessTest : public ::testing::TestWithParam<std::pair<std::string, double>> {};

TEST_P(RobustnessTest, RobustStrategiesResistAttackersWhereFedAvgDegrades) {
  static const double clean = FinalAccuracy(Small());
  ASSERT_GT(clean, 0.7);
  SimulationConfig attacked = Small();
  attacked.byzantine_fraction = 0.1;
  attacked.attack = GetParam().first;
  attacked.attack_scale = GetParam().second;
  const double fedavg = FinalAccuracy(attacked);
  EXPECT_LT(fedavg, clean - 0.2) << attacked.attack << ": FedAvg should degrade";
  for (auto [name, margin] : std::vector<std::pair<std::string, double>>{
           {"trimmedmean", 0.03}, {"fedmedian", 0.03}, {"multikrum", 0.03}, {"krum", 0.05}}) {
    SimulationConfig robust = attacked;
    robust.strategy.name = name;
    robust.strategy.byzantine_f = 2;
    robust.strategy.trim_beta = 0.1;
    const double acc = FinalAccuracy(robust);
    EXPECT_GT(acc, clean - margin)
        << name << " under " << attacked.attack << ": " << acc << " vs clean " << clean
        << " (FedAvg attacked: " << fedavg << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Attacks, RobustnessTest,
                         ::testing::Values(std::make_pair(std::string("scale"), 50.0),
                                           std::make_pair(std::string("signflip"), 10.0)));

TEST(SimulationTest, FedBuffLearnsWithStaleUpdates) {
  SimulationConfig c = Small();
  c.clients = 30;
  c.fraction = 0.2;  // 6 in flight
  c.async_buffer_size = 3;
  c.max_staleness = 1;
  c.rounds = 8;
  c.dropout = 0.1;
  auto a = RunSimulation(c, TrainData(), TestData());
  auto b = RunSimulation(c, TrainData(), TestData());
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString();
  ASSERT_EQ(a->rounds.size(), 8u);
  EXPECT_EQ(a->final_digest, b->final_digest);
  for (const auto& r : a->rounds) EXPECT_EQ(r.participants, 3);
  EXPECT_GT(a->counters["rejected.stale_version"], 0);  // slow devices fall 2+ versions behind
  EXPECT_GT(a->rounds.back().test_accuracy, 0.65);
}

TEST(SimulationTest, BadConfigsAreRefused) {
  SimulationConfig c = Small();
  c.fraction = 0;
  EXPECT_FALSE(RunSimulation(c, TrainData(), TestData()).ok());
  c = Small();
  c.attack = "poison";
  EXPECT_FALSE(RunSimulation(c, TrainData(), TestData()).ok());
  c = Small();
  c.partition = "shards:1000";
  EXPECT_FALSE(RunSimulation(c, TrainData(), TestData()).ok());
  c = Small();
  c.strategy.name = "nope";
  EXPECT_FALSE(RunSimulation(c, TrainData(), TestData()).ok());
}

TEST(LinearModelTest, TrainingLowersTheLossAndFedProxPullsTowardTheGlobalModel) {
  std::vector<int64_t> idx(500);
  for (int64_t i = 0; i < 500; ++i) idx[i] = i;
  std::vector<float> zero(LinearModelParams(TrainData()), 0.0f);
  LinearModelTrainer plain(TrainData(), idx, 1), prox(TrainData(), idx, 1);
  TrainingConfig config;
  config.local_epochs = 2;
  config.learning_rate = 0.05;
  auto a = plain.Train(zero, config);
  config.proximal_mu = 1.0;
  auto b = prox.Train(zero, config);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->num_examples, 500);
  std::vector<float> trained(zero.size());
  for (size_t i = 0; i < zero.size(); ++i) trained[i] = a->delta[i];
  Evaluation before = EvaluateLinearModel(zero, TestData()),
             after = EvaluateLinearModel(trained, TestData());
  EXPECT_NEAR(before.loss, std::log(10.0), 1e-6);
  EXPECT_LT(after.loss, before.loss);
  EXPECT_GT(after.accuracy, 0.6);
  double na = 0, nb = 0;
  for (size_t i = 0; i < zero.size(); ++i)
    na += a->delta[i] * a->delta[i], nb += b->delta[i] * b->delta[i];
  EXPECT_LT(nb, na);
  EXPECT_FALSE(plain.Train(std::vector<float>(3), config).ok());
}

}  // namespace
}  // namespace privedge::fl::sim
