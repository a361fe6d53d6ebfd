// Every strategy against values computed by hand (arithmetic in the comments).
#include "fl/strategy.h"

#include <gtest/gtest.h>

#include <cmath>

namespace privedge::fl {
namespace {

ClientUpdate U(std::vector<float> delta, int64_t n = 1) {
  return ClientUpdate{"d", std::move(delta), n};
}

std::vector<float> Aggregated(const StrategyConfig& c, const std::vector<ClientUpdate>& updates,
                              std::vector<float> global) {
  // Every update expected: dpfedavg's fixed denominator is then the realized count.
  auto s = MakeStrategy(c, static_cast<int64_t>(global.size()),
                        static_cast<int64_t>(updates.size()));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  Status st = (*s)->Aggregate(updates, global);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return global;
}

StrategyConfig Named(const std::string& name) {
  StrategyConfig c;
  c.name = name;
  return c;
}

TEST(StrategyTest, FedAvgWeightsByExamples) {
  // mean = (1 * [1, 0] + 3 * [4, 3]) / 4 = [3.25, 2.25]; global [1, 2] + mean.
  auto g = Aggregated(Named("fedavg"), {U({1, 0}, 1), U({4, 3}, 3)}, {1, 2});
  EXPECT_FLOAT_EQ(g[0], 4.25f);
  EXPECT_FLOAT_EQ(g[1], 4.25f);
  // FedProx's server side is FedAvg.
  auto p = Aggregated(Named("fedprox"), {U({1, 0}, 1), U({4, 3}, 3)}, {1, 2});
  EXPECT_EQ(g, p);
}

TEST(StrategyTest, FedAvgServerLearningRateScalesTheStep) {
  StrategyConfig c = Named("fedavg");
  c.server_learning_rate = 0.5;
  auto g = Aggregated(c, {U({2}, 1), U({4}, 1)}, {0});  // 0 + 0.5 * 3
  EXPECT_FLOAT_EQ(g[0], 1.5f);
}

// Two steps (deltas 1 then -0.5) with beta1 0.9, beta2 0.99, tau 1e-3, eta 0.1; v starts at
// tau^2 = 1e-6. Step 1: m = 0.1 for all three.
//   adam:    v = 0.99e-6 + 0.01 * 1 = 0.01000099;    x = 0.1 * 0.1 / (sqrt(v) + 1e-3) =
//   0.0990050489 yogi:    v = 1e-6 + 0.01 * 1 (v < d^2) = 0.010001; x = 0.0990049999 adagrad: v =
//   1e-6 + 1 = 1.000001;                x = 0.0099900050
// Step 2: m = 0.09 - 0.05 = 0.04.
//   adam:    v = 0.99 * 0.01000099 + 0.01 * 0.25 = 0.0124009801; x = 0.1346050054
//   yogi:    v = 0.010001 + 0.0025 = 0.012501;                     x = 0.1344635186
//   adagrad: v = 1.250001;                                          x = 0.0135645152
void CheckFedOpt(const std::string& name, double x1, double x2) {
  StrategyConfig c = Named(name);
  c.server_learning_rate = 0.1;
  auto s = MakeStrategy(c, 1);
  ASSERT_TRUE(s.ok());
  std::vector<float> g = {0};
  std::vector<ClientUpdate> step1 = {U({1.0f})}, step2 = {U({-0.5f})};
  ASSERT_TRUE((*s)->Aggregate(step1, g).ok());
  EXPECT_NEAR(g[0], x1, 1e-6) << name;
  // The state survives a save/restore into a fresh strategy (a server restart).
  auto restored = MakeStrategy(c, 1);
  ASSERT_TRUE((*restored)->RestoreState((*s)->SaveState()).ok());
  ASSERT_TRUE((*restored)->Aggregate(step2, g).ok());
  EXPECT_NEAR(g[0], x2, 1e-6) << name;
}

TEST(StrategyTest, FedAdam) { CheckFedOpt("fedadam", 0.0990050489, 0.1346050054); }
TEST(StrategyTest, FedYogi) { CheckFedOpt("fedyogi", 0.0990049999, 0.1344635186); }
TEST(StrategyTest, FedAdagrad) { CheckFedOpt("fedadagrad", 0.0099900050, 0.0135645152); }

TEST(StrategyTest, FedOptRejectsStateOfTheWrongSize) {
  auto s = MakeStrategy(Named("fedadam"), 3);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->RestoreState(std::vector<float>(5)).ok());
  auto plain = MakeStrategy(Named("fedavg"), 3);
  EXPECT_FALSE((*plain)->RestoreState(std::vector<float>(1)).ok());
}

TEST(StrategyTest, MedianOddAndEven) {
  // Coordinate 0: {1, 5, 2} -> 2. Coordinate 1: {-1, 100, 0} -> 0. Example counts are ignored.
  auto g = Aggregated(Named("fedmedian"), {U({1, -1}, 100), U({5, 100}), U({2, 0})}, {10, 10});
  EXPECT_FLOAT_EQ(g[0], 12);
  EXPECT_FLOAT_EQ(g[1], 10);
  // {1, 2, 3, 10} -> (2 + 3) / 2.
  auto e = Aggregated(Named("fedmedian"), {U({1}), U({2}), U({3}), U({10})}, {0});
  EXPECT_FLOAT_EQ(e[0], 2.5f);
}

TEST(StrategyTest, TrimmedMeanCutsBothTails) {
  StrategyConfig c = Named("trimmedmean");
  c.trim_beta = 0.2;  // floor(0.2 * 5) = 1 cut from each side: mean(1, 2, 3) = 2
  auto g = Aggregated(c, {U({-100}), U({3}), U({1}), U({100}), U({2})}, {0});
  EXPECT_FLOAT_EQ(g[0], 2);
  c.trim_beta = 0.0;  // plain unweighted mean: 6 / 5
  auto m = Aggregated(c, {U({-100}), U({3}), U({1}), U({100}), U({2})}, {0});
  EXPECT_FLOAT_EQ(m[0], 1.2f);
}

// Deltas 0, 0.1, 0.2, 0.3, 10 with f = 1: each score sums the n - f - 2 = 2 smallest squared
// distances: 0.05, 0.02, 0.02, 0.05, 9.7^2 + 9.8^2. Ties keep the lower index.
std::vector<ClientUpdate> KrumUpdates() {
  return {U({0.0f}), U({0.1f}), U({0.2f}), U({0.3f}), U({10.0f})};
}

TEST(StrategyTest, KrumPicksTheMostCentralUpdate) {
  StrategyConfig c = Named("krum");
  c.byzantine_f = 1;
  auto g = Aggregated(c, KrumUpdates(), {1});
  EXPECT_NEAR(g[0], 1.1, 1e-6);
}

TEST(StrategyTest, MultiKrumAveragesTheBestM) {
  StrategyConfig c = Named("multikrum");
  c.byzantine_f = 1;
  c.multikrum_m = 2;  // indices 1, 2: (0.1 + 0.2) / 2
  EXPECT_NEAR(Aggregated(c, KrumUpdates(), {0})[0], 0.15, 1e-6);
  c.multikrum_m = 0;  // n - f = 4: indices 1, 2, 0, 3: 0.6 / 4
  EXPECT_NEAR(Aggregated(c, KrumUpdates(), {0})[0], 0.15, 1e-6);
  c.multikrum_m = 3;  // indices 1, 2, 0: 0.3 / 3
  EXPECT_NEAR(Aggregated(c, KrumUpdates(), {0})[0], 0.1, 1e-6);
}

TEST(StrategyTest, KrumNeedsTwoFPlusThreeUpdates) {
  StrategyConfig c = Named("krum");
  c.byzantine_f = 1;
  auto s = MakeStrategy(c, 1);
  std::vector<float> g = {0};
  std::vector<ClientUpdate> four = {U({0}), U({1}), U({2}), U({3})};
  Status st = (*s)->Aggregate(four, g);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("at least 5"), std::string::npos) << st.message();
  EXPECT_EQ(g[0], 0);
}

TEST(StrategyTest, DpFedAvgClipsAndAveragesUnweighted) {
  StrategyConfig c = Named("dpfedavg");
  c.dp_clip_norm = 1;
  c.dp_noise_multiplier = 0;
  // [3, 4] (norm 5) clips to [0.6, 0.8]; [0.3, 0.4] is inside; the mean ignores example counts.
  auto g = Aggregated(c, {U({3, 4}, 100), U({0.3f, 0.4f}, 1)}, {1, 1});
  EXPECT_FLOAT_EQ(g[0], 1.45f);
  EXPECT_FLOAT_EQ(g[1], 1.6f);
}

TEST(StrategyTest, DpFedAvgNoiseHasTheCalibratedSpread) {
  StrategyConfig c = Named("dpfedavg");
  c.dp_clip_norm = 2;
  c.dp_noise_multiplier = 0.5;
  c.dp_noise_seed = 42;
  const size_t n = 20000;
  std::vector<ClientUpdate> zeros = {U(std::vector<float>(n, 0)), U(std::vector<float>(n, 0))};
  auto a = Aggregated(c, zeros, std::vector<float>(n, 0));
  double sum = 0, sq = 0;
  for (float v : a) sum += v, sq += double{v} * v;
  const double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mean, 0, 0.02);
  EXPECT_NEAR(sd, 0.5 * 2 / 2, 0.02);                            // z * C / updates
  EXPECT_EQ(a, Aggregated(c, zeros, std::vector<float>(n, 0)));  // the seed fixes the noise
  c.dp_noise_seed = 43;
  EXPECT_NE(a, Aggregated(c, zeros, std::vector<float>(n, 0)));
}

TEST(StrategyTest, BadConfigsAreRefused) {
  EXPECT_FALSE(MakeStrategy(Named("fedsgd"), 1).ok());
  StrategyConfig c = Named("trimmedmean");
  c.trim_beta = 0.5;
  EXPECT_FALSE(MakeStrategy(c, 1).ok());
  c = Named("fedadam");
  c.beta2 = 1.0;
  EXPECT_FALSE(MakeStrategy(c, 1).ok());
  EXPECT_FALSE(MakeStrategy(Named("fedavg"), 0).ok());
  c = Named("dpfedavg");
  c.dp_clip_norm = 0;
  EXPECT_FALSE(MakeStrategy(c, 1).ok());
}

}  // namespace
}  // namespace privedge::fl
