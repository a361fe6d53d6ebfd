// Clipping, the secure random source, and statistical tests of the noise samplers.
//
// Significance: every statistical check allows 5 standard errors, a two-sided false-alarm
// probability of 5.7e-7 per check if the sampler is right. Seeds are fixed, so the tests are
// deterministic; a failure after a code change means the distribution (or the stream) moved.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "privedge/privacy.h"

namespace privedge::privacy {
namespace {

constexpr double kSigmas = 5;  // allowed deviation in standard errors
constexpr int kSamples = 200000;

std::array<uint8_t, SecureRandom::kSeedBytes> Seed(uint8_t n) {
  std::array<uint8_t, SecureRandom::kSeedBytes> seed{};
  seed[0] = n;
  seed[31] = 0xA5;
  return seed;
}

struct Moments {
  double mean = 0, variance = 0, fourth = 0;  // fourth central moment
};

Moments SampleMoments(const std::vector<double>& x) {
  Moments m;
  for (double v : x) m.mean += v;
  m.mean /= x.size();
  for (double v : x) {
    const double d = (v - m.mean) * (v - m.mean);
    m.variance += d;
    m.fourth += d * d;
  }
  m.variance /= x.size() - 1;
  m.fourth /= x.size();
  return m;
}

// Checks a sample's mean, variance and the frequency of |x| >= tail_at against exact values.
// The standard error of the sample variance is sqrt((mu4 - var^2) / n).
void ExpectDistribution(const std::vector<double>& x, double mean, double variance, double mu4,
                        double tail_at, double tail_probability) {
  const double n = x.size();
  const Moments m = SampleMoments(x);
  EXPECT_NEAR(m.mean, mean, kSigmas * std::sqrt(variance / n)) << "mean";
  EXPECT_NEAR(m.variance, variance, kSigmas * std::sqrt((mu4 - variance * variance) / n))
      << "variance";
  double tail = 0;
  for (double v : x) tail += std::fabs(v - mean) >= tail_at;
  tail /= n;
  EXPECT_NEAR(tail, tail_probability,
              kSigmas * std::sqrt(tail_probability * (1 - tail_probability) / n))
      << "P[|x| >= " << tail_at << "]";
}

// Exact moments of a distribution on the integers given unnormalized weights w(x), symmetric
// around 0, summed over |x| <= limit.
struct IntegerMoments {
  double variance = 0, fourth = 0;
  double Tail(int64_t k) const { return tail_from[k]; }  // P[|X| >= k]
  std::vector<double> tail_from;
};

IntegerMoments ExactMoments(const std::function<double(int64_t)>& weight, int64_t limit) {
  double total = 0, second = 0, fourth = 0;
  std::vector<double> mass(limit + 1);
  for (int64_t x = -limit; x <= limit; ++x) {
    const double w = weight(x), d = static_cast<double>(x);
    total += w;
    second += d * d * w;
    fourth += d * d * d * d * w;
    mass[x < 0 ? -x : x] += w;
  }
  IntegerMoments m{second / total, fourth / total, std::vector<double>(limit + 2, 0.0)};
  for (int64_t k = limit; k >= 0; --k) m.tail_from[k] = m.tail_from[k + 1] + mass[k] / total;
  return m;
}

TEST(ClipTest, ScalesOnlyOutsideTheBall) {
  std::vector<float> v = {3, 4};
  auto scale = ClipL2(v, 1.0);
  ASSERT_TRUE(scale.ok());
  EXPECT_DOUBLE_EQ(*scale, 0.2);
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
  std::vector<float> inside = {0.3f, -0.4f};
  ASSERT_DOUBLE_EQ(*ClipL2(inside, 1.0), 1.0);
  EXPECT_EQ(inside, (std::vector<float>{0.3f, -0.4f}));
  std::vector<float> zero(5, 0.0f), empty;
  EXPECT_DOUBLE_EQ(*ClipL2(zero, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(*ClipL2(empty, 1.0), 1.0);
}

TEST(ClipTest, RejectsBadInputWithoutChangingTheUpdate) {
  std::vector<float> v = {3, NAN, 4};
  auto scale = ClipL2(v, 1.0);
  ASSERT_FALSE(scale.ok());
  EXPECT_NE(scale.status().message().find("element 1"), std::string::npos);
  EXPECT_EQ(v[0], 3.0f);
  std::vector<float> ok = {1, 2};
  EXPECT_FALSE(ClipL2(ok, 0).ok());
  EXPECT_FALSE(ClipL2(ok, -1).ok());
  EXPECT_FALSE(ClipL2(ok, INFINITY).ok());
}

TEST(ClipTest, PerLayerClipsEachLayerToItsBound) {
  // Layers [0,2) norm 5, [2,3) norm 0.5, [3,5) norm 10.
  std::vector<float> v = {3, 4, 0.5f, 6, 8};
  const size_t ends[] = {2, 3, 5};
  const double bounds[] = {1.0, 1.0, 2.0};
  auto scales = ClipL2PerLayer(v, ends, bounds);
  ASSERT_TRUE(scales.ok()) << scales.status().ToString();
  EXPECT_EQ(*scales, (std::vector<double>{0.2, 1.0, 0.2}));
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[2], 0.5f);
  EXPECT_FLOAT_EQ(v[4], 1.6f);
  // One bound for every layer.
  std::vector<float> w = {3, 4, 0.5f, 6, 8};
  const double one[] = {1.0};
  ASSERT_TRUE(ClipL2PerLayer(w, ends, one).ok());
  EXPECT_FLOAT_EQ(w[4], 0.8f);
}

TEST(ClipTest, PerLayerRejectsBadBoundaries) {
  std::vector<float> v = {1, 2, 3, 4};
  const double one[] = {1.0};
  const double two[] = {1.0, 1.0};
  const size_t not_increasing[] = {2, 2, 4};
  const size_t short_end[] = {1, 3};
  const size_t good[] = {1, 4};
  EXPECT_FALSE(ClipL2PerLayer(v, not_increasing, one).ok());
  EXPECT_FALSE(ClipL2PerLayer(v, short_end, one).ok());
  EXPECT_FALSE(ClipL2PerLayer(v, std::span<const size_t>(), one).ok());
  const double three[] = {1, 1, 1};
  EXPECT_FALSE(ClipL2PerLayer(v, good, three).ok());
  EXPECT_TRUE(ClipL2PerLayer(v, good, two).ok());
  std::vector<float> bad = {1, 2, 3, INFINITY};
  EXPECT_FALSE(ClipL2PerLayer(bad, good, two).ok());
  EXPECT_EQ(bad[0], 1.0f);  // the first layer, valid and over its bound, was left alone
}

TEST(SecureRandomTest, SeededStreamsAreReproducibleAndDistinct) {
  SecureRandom a(Seed(1)), b(Seed(1)), c(Seed(2));
  std::vector<uint64_t> xa, xb, xc;
  for (int i = 0; i < 300; ++i) {  // crosses several buffer refills
    xa.push_back(a.NextUint64());
    xb.push_back(b.NextUint64());
    xc.push_back(c.NextUint64());
  }
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xc);
  SecureRandom os1, os2;
  EXPECT_NE(os1.NextUint64(), os2.NextUint64());  // equal with probability 2^-64
}

TEST(SecureRandomTest, UniformBelowIsUniform) {
  SecureRandom rng(Seed(3));
  constexpr uint64_t kBound = 6;
  std::vector<double> counts(kBound, 0);
  for (int i = 0; i < kSamples; ++i) {
    const uint64_t v = rng.UniformBelow(kBound);
    ASSERT_LT(v, kBound);
    counts[v]++;
  }
  const double p = 1.0 / kBound;
  for (double c : counts) EXPECT_NEAR(c / kSamples, p, kSigmas * std::sqrt(p * (1 - p) / kSamples));
  EXPECT_EQ(rng.UniformBelow(0), 0u);
  EXPECT_EQ(rng.UniformBelow(1), 0u);
  for (int i = 0; i < 1000; ++i) {
    const double u = rng.UniformDouble();
    ASSERT_TRUE(u >= 0 && u < 1);
  }
}

TEST(GaussianTest, MeanVarianceAndTails) {
  SecureRandom rng(Seed(4));
  const double sigma = 2.5;
  std::vector<double> x(kSamples);
  for (double& v : x) v = SampleGaussian(rng, sigma);
  const double var = sigma * sigma;
  ExpectDistribution(x, 0, var, 3 * var * var, 2 * sigma, std::erfc(2 / std::sqrt(2.0)));
  double beyond3 = 0;
  for (double v : x) beyond3 += std::fabs(v) >= 3 * sigma;
  const double p3 = std::erfc(3 / std::sqrt(2.0));
  EXPECT_NEAR(beyond3 / kSamples, p3, kSigmas * std::sqrt(p3 * (1 - p3) / kSamples));
}

TEST(GaussianTest, AddNoiseUsesEveryElement) {
  SecureRandom rng(Seed(5));
  std::vector<float> v(kSamples + 1, 10.0f);  // odd length: the last element gets noise too
  ASSERT_TRUE(AddGaussianNoise(v, 1.0, rng).ok());
  std::vector<double> x(v.begin(), v.end());
  ExpectDistribution(x, 10, 1, 3, 2, std::erfc(2 / std::sqrt(2.0)));
  EXPECT_NE(v.back(), 10.0f);
  std::vector<float> same = {1, 2, 3};
  ASSERT_TRUE(AddGaussianNoise(same, 0, rng).ok());
  EXPECT_EQ(same, (std::vector<float>{1, 2, 3}));
  EXPECT_FALSE(AddGaussianNoise(same, -1, rng).ok());
  EXPECT_FALSE(AddGaussianNoise(same, NAN, rng).ok());
}

TEST(DiscreteSamplersTest, BernoulliExpFrequency) {
  SecureRandom rng(Seed(6));
  for (Rational gamma : {Rational{1, 2}, Rational{5, 2}, Rational{0, 1}, Rational{7, 3}}) {
    const double p = std::exp(-static_cast<double>(gamma.numerator) / gamma.denominator);
    double hits = 0;
    for (int i = 0; i < kSamples / 4; ++i) hits += *SampleBernoulliExp(rng, gamma);
    const double n = kSamples / 4;
    EXPECT_NEAR(hits / n, p, kSigmas * std::sqrt(p * (1 - p) / n) + 1e-12)
        << gamma.numerator << "/" << gamma.denominator;
  }
  EXPECT_FALSE(SampleBernoulliExp(rng, Rational{1, 0}).ok());
}

TEST(DiscreteSamplersTest, DiscreteLaplaceMoments) {
  SecureRandom rng(Seed(7));
  const Rational scale{7, 2};  // t = 3.5
  const double p = std::exp(-2.0 / 7);
  auto exact = ExactMoments([&](int64_t x) { return std::pow(p, std::abs(x)); }, 400);
  EXPECT_NEAR(exact.variance, 2 * p / ((1 - p) * (1 - p)), 1e-9);
  std::vector<double> x(kSamples);
  for (double& v : x) v = static_cast<double>(*SampleDiscreteLaplace(rng, scale));
  ExpectDistribution(x, 0, exact.variance, exact.fourth, 8, exact.Tail(8));
  EXPECT_FALSE(SampleDiscreteLaplace(rng, Rational{0, 1}).ok());
}

// Variance against the exact sum over the integers, not sigma^2 (they differ for small sigma).
void CheckDiscreteGaussian(Rational sigma2, uint8_t seed) {
  SecureRandom rng(Seed(seed));
  const double s2 = static_cast<double>(sigma2.numerator) / sigma2.denominator;
  const double sigma = std::sqrt(s2);
  auto exact = ExactMoments([&](int64_t x) { return std::exp(-double(x) * x / (2 * s2)); },
                            static_cast<int64_t>(40 * sigma) + 40);
  std::vector<double> x(kSamples);
  for (double& v : x) {
    auto s = SampleDiscreteGaussian(rng, sigma2);
    ASSERT_TRUE(s.ok());
    v = static_cast<double>(*s);
  }
  const auto k = static_cast<int64_t>(std::ceil(2 * sigma));
  SCOPED_TRACE(testing::Message() << "sigma^2 = " << s2);
  ExpectDistribution(x, 0, exact.variance, exact.fourth, static_cast<double>(k), exact.Tail(k));
}

TEST(DiscreteSamplersTest, DiscreteGaussianSmallSigma) { CheckDiscreteGaussian({1, 2}, 8); }
TEST(DiscreteSamplersTest, DiscreteGaussianModerateSigma) { CheckDiscreteGaussian({9, 1}, 9); }
TEST(DiscreteSamplersTest, DiscreteGaussianLargeSigma) {
  CheckDiscreteGaussian(*RationalFromDouble(1234.5678), 10);
}

TEST(DiscreteSamplersTest, DiscreteGaussianPointMasses) {
  SecureRandom rng(Seed(11));
  const double s2 = 2;
  auto exact = ExactMoments([&](int64_t x) { return std::exp(-double(x) * x / (2 * s2)); }, 60);
  std::vector<double> counts(4, 0);
  for (int i = 0; i < kSamples; ++i) {
    const int64_t v = std::abs(*SampleDiscreteGaussian(rng, {2, 1}));
    if (v < 4) counts[v]++;
  }
  for (int k = 0; k < 4; ++k) {
    const double p = exact.Tail(k) - exact.Tail(k + 1);  // P[|X| = k]
    EXPECT_NEAR(counts[k] / kSamples, p, kSigmas * std::sqrt(p * (1 - p) / kSamples)) << k;
  }
}

TEST(DiscreteSamplersTest, ParametersAndNoiseHelper) {
  SecureRandom rng(Seed(12));
  EXPECT_EQ(*SampleDiscreteGaussian(rng, {0, 1}), 0);
  EXPECT_FALSE(SampleDiscreteGaussian(rng, {1, 0}).ok());
  EXPECT_FALSE(SampleDiscreteGaussian(rng, {(uint64_t{1} << 56) + 1, 1}).ok());
  auto half = RationalFromDouble(0.5);
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->numerator, 1u);
  EXPECT_EQ(half->denominator, 2u);
  auto four = RationalFromDouble(4);
  EXPECT_EQ(four->numerator, 4u);
  EXPECT_EQ(four->denominator, 1u);
  auto approx = RationalFromDouble(0.1);
  EXPECT_NEAR(static_cast<double>(approx->numerator) / approx->denominator, 0.1, 1e-16);
  EXPECT_FALSE(RationalFromDouble(-1).ok());
  EXPECT_FALSE(RationalFromDouble(NAN).ok());
  EXPECT_FALSE(RationalFromDouble(1e30).ok());
  std::vector<int64_t> v(1000, 5);
  v[0] = std::numeric_limits<int64_t>::max();
  ASSERT_TRUE(AddDiscreteGaussianNoise(v, {100, 1}, rng).ok());
  int changed = 0;
  for (size_t i = 1; i < v.size(); ++i) changed += v[i] != 5;
  EXPECT_GT(changed, 900);  // P[N_Z(0, 100) = 0] is about 0.04
  // Saturates at the int64 limit, never wraps around.
  EXPECT_GE(v[0], std::numeric_limits<int64_t>::max() - 200);
}

}  // namespace
}  // namespace privedge::privacy
