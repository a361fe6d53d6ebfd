// The three DP deployment modes, adaptive clipping and the privacy ledger, checked against
// values computed by hand or by the accountant. Statistical checks use 5-sigma bounds (each
// fails by chance with probability below 6e-7; the seeds are fixed, so a run is repeatable).
#include "fl/dp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "fl/sim/simulation.h"
#include "fl/strategy.h"

namespace privedge::fl {
namespace {

std::array<uint8_t, privacy::SecureRandom::kSeedBytes> Seed(uint8_t b) {
  std::array<uint8_t, privacy::SecureRandom::kSeedBytes> k{};
  k[0] = b;
  return k;
}

StrategyConfig Dp(const std::string& mode, double z, double clip) {
  StrategyConfig c;
  c.name = "dpfedavg";
  c.dp_mode = mode;
  c.dp_noise_multiplier = z;
  c.dp_clip_norm = clip;
  c.dp_noise_seed = 7;
  return c;
}

std::vector<float> Aggregate(const StrategyConfig& c, int64_t expected,
                             const std::vector<ClientUpdate>& updates, std::vector<float> global) {
  auto s = MakeStrategy(c, static_cast<int64_t>(global.size()), expected);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return {};
  Status st = (*s)->Aggregate(updates, global);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return global;
}

// Sample variance about a known zero mean, and the 5-sigma band of its estimate (the variance
// of a mean of n squares of N(0, v) is 2 v^2 / n).
void ExpectVariance(const std::vector<double>& x, double expected) {
  double sq = 0;
  for (double v : x) sq += v * v;
  const double n = static_cast<double>(x.size());
  EXPECT_NEAR(sq / n, expected, 5 * expected * std::sqrt(2 / n));
}

TEST(DpModesTest, CentralDividesByTheExpectedCohortNotTheRealizedCount) {
  // m = 4 expected, 2 arrived: [3, 4] clips to [0.6, 0.8], [0.3, 0.4] is inside; the sum
  // [0.9, 1.2] over the fixed denominator 4 is [0.225, 0.3], not the realized mean [0.45, 0.6].
  auto g = Aggregate(Dp("central", 0, 1), 4, {{"a", {3, 4}, 100}, {"b", {0.3f, 0.4f}, 1}}, {1, 1});
  EXPECT_FLOAT_EQ(g[0], 1.225f);
  EXPECT_FLOAT_EQ(g[1], 1.3f);
  EXPECT_FALSE(MakeStrategy(Dp("central", 1, 1), 2).ok());  // no expected cohort given
}

TEST(DpModesTest, CentralNoiseOnTheSumHasStddevZC) {
  const size_t d = 20000;
  std::vector<ClientUpdate> zeros(3, ClientUpdate{"d", std::vector<float>(d, 0), 1});
  auto g = Aggregate(Dp("central", 0.7, 2), 5, zeros, std::vector<float>(d, 0));
  std::vector<double> sum(d);
  for (size_t i = 0; i < d; ++i) sum[i] = 5.0 * g[i];  // undo the denominator
  ExpectVariance(sum, 0.7 * 2 * 0.7 * 2);
}

TEST(DpModesTest, LocalNoiseOfTheSumHasVarianceNTimesZCSquared) {
  const int64_t d = 20000, n = 4;
  const StrategyConfig c = Dp("local", 1.5, 0.5);
  privacy::SecureRandom rng(Seed(1));
  std::vector<double> sum(d, 0.0);
  for (int64_t k = 0; k < n; ++k) {
    std::vector<float> delta(d, 0.0f);
    ASSERT_TRUE(PrivatizeOnDevice(c, d, n, delta, rng).ok());
    for (int64_t i = 0; i < d; ++i) sum[i] += delta[i];
  }
  ExpectVariance(sum, n * (1.5 * 0.5) * (1.5 * 0.5));
  // The device clips before noising: a huge delta lands on the sphere of radius C, plus noise.
  const StrategyConfig quiet = Dp("local", 1e-6, 0.5);
  std::vector<float> big(d, 100.0f);
  ASSERT_TRUE(PrivatizeOnDevice(quiet, d, n, big, rng).ok());
  double norm = 0;
  for (float v : big) norm += double{v} * v;
  EXPECT_NEAR(std::sqrt(norm), 0.5, 1e-3);
}

TEST(DpModesTest, DistributedSharesSumToTheFullDiscreteNoise) {
  const int64_t d = 20000, m = 4;
  const StrategyConfig c = Dp("distributed", 0.8, 1.0);
  auto sensitivity = QuantizedSensitivity(c, d);
  ASSERT_TRUE(sensitivity.ok());
  // c = 64 sqrt(d) = 9051, the bound barely above it.
  EXPECT_NEAR(*sensitivity / (64 * std::sqrt(double(d))), 1.0, 2e-3);
  privacy::SecureRandom rng(Seed(2));
  std::vector<double> sum(d, 0.0);
  for (int64_t k = 0; k < m; ++k) {
    std::vector<float> delta(d, 0.0f);  // rounds to exact zeros: only the noise remains
    ASSERT_TRUE(PrivatizeOnDevice(c, d, m, delta, rng).ok());
    for (int64_t i = 0; i < d; ++i) {
      ASSERT_EQ(delta[i], std::round(delta[i]));
      sum[i] += delta[i];
    }
  }
  const double sd = 0.8 * *sensitivity;  // each share has variance sd^2 / m
  ExpectVariance(sum, sd * sd);
}

TEST(DpModesTest, DistributedSumDequantizesToTheClippedMean) {
  const int64_t d = 5000, m = 10;
  std::mt19937_64 gen(3);
  std::normal_distribution<float> normal(0, 0.05f);
  std::vector<ClientUpdate> updates;
  std::vector<double> clipped_sum(d, 0.0);
  for (int64_t k = 0; k < m; ++k) {
    std::vector<float> delta(d);
    for (float& v : delta) v = normal(gen);  // norm about 3.5: clipped to 1
    std::vector<float> clipped = delta;
    ASSERT_TRUE(privacy::ClipL2(clipped, 1.0).ok());
    for (int64_t i = 0; i < d; ++i) clipped_sum[i] += clipped[i];
    updates.push_back({"d", std::move(delta), 1});
  }
  for (double z : {0.0, 0.5}) {
    const StrategyConfig c = Dp("distributed", z, 1.0);
    privacy::SecureRandom rng(Seed(4));
    std::vector<ClientUpdate> sent = updates;
    for (auto& u : sent) ASSERT_TRUE(PrivatizeOnDevice(c, d, m, u.delta, rng).ok());
    auto g = Aggregate(c, m, sent, std::vector<float>(d, 0));
    const double scale = QuantizationScale(c, d);
    std::vector<double> err(d);
    double max_err = 0;
    for (int64_t i = 0; i < d; ++i) {
      err[i] = g[i] - clipped_sum[i] / m;
      max_err = std::max(max_err, std::abs(err[i]));
    }
    if (z == 0) {
      // Each of the m roundings moves a coordinate by less than 1 unit: |error| < 1 / scale.
      EXPECT_LT(max_err, 1 / scale + 1e-6);
    } else {
      // Noise sd z S / (scale m) per coordinate, plus rounding variance below m / 4 units^2.
      const double sd = z * *QuantizedSensitivity(c, d) / (scale * m);
      const double rounding = std::sqrt(m / 4.0) / (scale * m);
      double sq = 0;
      for (double e : err) sq += e * e;
      EXPECT_NEAR(sq / d, sd * sd, 5 * sd * sd * std::sqrt(2.0 / d) + rounding * rounding);
    }
  }
}

TEST(DpModesTest, AdaptiveClippingConvergesToTheTargetQuantile) {
  // Update norms uniform on [0, 10]: the 0.3 quantile is 3. Start far below, at C = 0.1.
  StrategyConfig c = Dp("central", 0.5, 0.1);
  c.dp_adaptive_quantile = 0.3;
  const int64_t m = 100;
  auto s = MakeStrategy(c, 1, m);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<float> norm(0, 10);
  std::vector<float> global = {0};
  double late_clip_sum = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<ClientUpdate> updates;
    for (int64_t k = 0; k < m; ++k) updates.push_back({"d", {norm(gen)}, 1});
    ASSERT_TRUE((*s)->Aggregate(updates, global).ok());
    if (round >= 200) late_clip_sum += (*s)->SaveState()[0];
  }
  EXPECT_NEAR(late_clip_sum / 100, 3.0, 0.3);
  // The update's own noise multiplier grows to leave the count its share:
  // (0.5^-2 - (2 * 100/20)^-2)^-1/2 = 0.50063.
  auto z = UpdateNoiseMultiplier(c, m);
  ASSERT_TRUE(z.ok());
  EXPECT_NEAR(*z, 1 / std::sqrt(4 - 0.01), 1e-12);
  c.dp_mode = "distributed";
  EXPECT_FALSE(ValidateDpTask(c, 1, m).ok());  // adaptive needs the server to see norms
}

TaskConfig Task(const std::string& mode, double z, int64_t per_round) {
  TaskConfig t;
  t.num_params = 10;
  t.clients_per_round = per_round;
  t.strategy = Dp(mode, z, 1);
  return t;
}

TEST(PrivacyLedgerTest, EpsilonPerRoundMatchesTheAccountant) {
  auto ledger = PrivacyLedger::Create(Task("central", 1.1, 10), 1000);
  ASSERT_TRUE(ledger.ok());
  for (int64_t round = 1; round <= 5; ++round) {
    ASSERT_TRUE(ledger->RecordRound(10).ok());
    auto expected = privacy::ComputeEpsilon(0.01, 1.1, round, 1e-5);
    ASSERT_TRUE(expected.ok());
    EXPECT_DOUBLE_EQ(*ledger->Epsilon(), expected->epsilon);
  }
  // Local: a device in every round, multiplier z / 2 at q = 1.
  auto local = PrivacyLedger::Create(Task("local", 4, 10), 1000);
  ASSERT_TRUE(local.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(local->RecordRound(10).ok());
  EXPECT_DOUBLE_EQ(*local->Epsilon(), privacy::ComputeEpsilon(1.0, 2.0, 3, 1e-5)->epsilon);
  // Distributed with 5 of 10 shares: the round's noise is z sqrt(1/2).
  auto dist = PrivacyLedger::Create(Task("distributed", 2, 10), 100);
  ASSERT_TRUE(dist.ok());
  ASSERT_TRUE(dist->RecordRound(5).ok());
  EXPECT_DOUBLE_EQ(*dist->Epsilon(),
                   privacy::ComputeEpsilon(0.1, 2 * std::sqrt(0.5), 1, 1e-5)->epsilon);
}

TEST(PrivacyLedgerTest, SimulationStopsBeforeTheRoundThatWouldExceedTheBudget) {
  // q = 5 / 20, z = 1: the budget sits between epsilon after 3 and after 4 rounds.
  const double e3 = privacy::ComputeEpsilon(0.25, 1.0, 3, 1e-5)->epsilon;
  const double e4 = privacy::ComputeEpsilon(0.25, 1.0, 4, 1e-5)->epsilon;
  ASSERT_LT(e3, e4);
  auto train = sim::ReadFashionMnist("/usr/share/datasets/fashion-mnist", true, 2000);
  auto test = sim::ReadFashionMnist("/usr/share/datasets/fashion-mnist", false, 200);
  ASSERT_TRUE(train.ok() && test.ok());
  sim::SimulationConfig config;
  config.clients = 20;
  config.fraction = 0.25;
  config.rounds = 10;
  config.strategy = Dp("distributed", 1.0, 1.0);
  config.strategy.dp_target_epsilon = (e3 + e4) / 2;
  auto r = sim::RunSimulation(config, *train, *test);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rounds.size(), 3u);
  EXPECT_TRUE(r->budget_exhausted);
  EXPECT_NE(r->stop_reason.find("round 4"), std::string::npos) << r->stop_reason;
  for (size_t i = 0; i < 3; ++i)
    EXPECT_DOUBLE_EQ(r->rounds[i].epsilon,
                     privacy::ComputeEpsilon(0.25, 1.0, int64_t(i) + 1, 1e-5)->epsilon);
  for (const auto& round : r->rounds) EXPECT_EQ(round.participants, 5);
}

}  // namespace
}  // namespace privedge::fl
