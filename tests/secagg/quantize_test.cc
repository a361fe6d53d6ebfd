#include "secagg/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace privedge::secagg {
namespace {

TEST(QuantizeTest, WorstCaseSumNeverWraps) {
  for (uint32_t bits : {16u, 32u, 48u, 64u}) {
    QuantizationParams q{.clip = 2.0, .bits = bits, .max_clients = 1000, .max_weight = 7};
    auto levels = LevelsFor(q);
    ASSERT_TRUE(levels.ok());
    // Every client sends the largest value at the largest weight.
    auto v = Quantize(std::vector<float>{5.0f}, 7, q, {});
    ASSERT_TRUE(v.ok());
    EXPECT_EQ((*v)[1], *levels * 7);
    const unsigned __int128 total = static_cast<unsigned __int128>((*v)[1]) * 1000;
    const unsigned __int128 modulus = static_cast<unsigned __int128>(1) << bits;
    EXPECT_LT(total, modulus) << bits;
  }
  EXPECT_FALSE(LevelsFor({.clip = 1, .bits = 8, .max_clients = 1000, .max_weight = 1}).ok());
}

TEST(QuantizeTest, ChooseBitsIsTheSmallestSufficient) {
  auto b = ChooseBits(1000, 16, 1u << 16);
  ASSERT_TRUE(b.ok());
  auto at = LevelsFor({.clip = 1, .bits = *b, .max_clients = 1000, .max_weight = 16});
  auto below = LevelsFor({.clip = 1, .bits = *b - 1, .max_clients = 1000, .max_weight = 16});
  ASSERT_TRUE(at.ok());
  EXPECT_GE(*at, 1u << 16);
  EXPECT_TRUE(!below.ok() || *below < (1u << 16));
  EXPECT_FALSE(ChooseBits(1u << 30, 1u << 30, uint64_t{1} << 20).ok());
}

TEST(QuantizeTest, WeightedMeanIsRecoveredAndRoundingIsUnbiased) {
  QuantizationParams q{.clip = 1.0, .bits = 32, .max_clients = 100, .max_weight = 10};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.5f, 1.5f);
  const size_t d = 2000;
  std::vector<uint64_t> sum(d + 1, 0);
  std::vector<double> expected(d, 0);
  double total_weight = 0;
  for (uint32_t u = 0; u < 100; ++u) {
    std::vector<float> x(d);
    for (float& v : x) v = dist(rng);
    const uint32_t w = 1 + u % 10;
    std::array<uint8_t, 32> seed{};
    seed[0] = static_cast<uint8_t>(u);
    auto ints = Quantize(x, w, q, seed);
    ASSERT_TRUE(ints.ok());
    for (size_t i = 0; i <= d; ++i) sum[i] += (*ints)[i];
    for (size_t i = 0; i < d; ++i) expected[i] += w * std::clamp<double>(x[i], -1, 1);
    total_weight += w;
  }
  auto mean = DequantizeWeightedMean(sum, q);
  ASSERT_TRUE(mean.ok());
  const double step = 2.0 / static_cast<double>(*LevelsFor(q));
  double bias = 0;
  for (size_t i = 0; i < d; ++i) {
    const double want = expected[i] / total_weight;
    EXPECT_NEAR((*mean)[i], want, step) << i;
    bias += (*mean)[i] - want;
  }
  EXPECT_LT(std::abs(bias / d), step / 10);
}

TEST(QuantizeTest, RejectsBadInput) {
  QuantizationParams q{.clip = 1.0, .bits = 32, .max_clients = 10, .max_weight = 4};
  EXPECT_FALSE(Quantize(std::vector<float>{NAN}, 1, q, {}).ok());
  EXPECT_FALSE(Quantize(std::vector<float>{0.5f}, 5, q, {}).ok());
  EXPECT_FALSE(DequantizeWeightedMean(std::vector<uint64_t>{0, 0}, q).ok());
  EXPECT_FALSE(DequantizeWeightedMean(std::vector<uint64_t>{1, ~uint64_t{0}}, q).ok());
}

}  // namespace
}  // namespace privedge::secagg
