// The RDP accountant and analytic Gaussian calibration against published values and closed
// forms.
#include <gtest/gtest.h>

#include <cmath>

#include "privedge/privacy.h"

namespace privedge::privacy {
namespace {

constexpr double kRelTol = 1e-4;  // the tolerance for published values

void ExpectRelNear(double actual, double expected, double rel) {
  EXPECT_NEAR(actual, expected, rel * std::fabs(expected)) << "expected " << expected;
}

AccountingOptions Classic() {
  AccountingOptions o;
  o.conversion = RdpConversion::kClassic;
  return o;
}

// Opacus tests/accountants_test.py::test_rdp_accountant: 7.32911117143. Opacus converts with the
// improved formula; the classic one gives a visibly larger value.
TEST(AccountantTest, ReproducesOpacusRdpTestWithImprovedConversion) {
  auto eps = ComputeEpsilon(0.04, 1.5, 2250, 1e-5);
  ASSERT_TRUE(eps.ok()) << eps.status().ToString();
  ExpectRelNear(eps->epsilon, 7.32911117143, kRelTol);
  EXPECT_DOUBLE_EQ(eps->order, 3.9);
  auto classic = ComputeEpsilon(0.04, 1.5, 2250, 1e-5, Classic());
  ASSERT_TRUE(classic.ok());
  ExpectRelNear(classic->epsilon, 8.07385, kRelTol);
}

// TensorFlow Privacy compute_dp_sgd_privacy (60000 examples, batch 150, z 1.3, 15 epochs):
// 0.72422 with today's improved conversion, 0.941870567 in its older tests (classic), both at
// order 19.
TEST(AccountantTest, ReproducesTfPrivacyComputeDpSgdPrivacy) {
  auto eps = ComputeEpsilon(150.0 / 60000, 1.3, 6000, 1e-5);
  ASSERT_TRUE(eps.ok()) << eps.status().ToString();
  ExpectRelNear(eps->epsilon, 0.72422, kRelTol);
  EXPECT_DOUBLE_EQ(eps->order, 19);
  auto classic = ComputeEpsilon(150.0 / 60000, 1.3, 6000, 1e-5, Classic());
  ASSERT_TRUE(classic.ok());
  ExpectRelNear(classic->epsilon, 0.941870567, kRelTol);
  EXPECT_DOUBLE_EQ(classic->order, 19);
}

// TF Privacy's older second case: 100000 examples, batch 100, z 1.0, 30 epochs, delta 1e-7.
TEST(AccountantTest, ReproducesTfPrivacySecondCaseClassic) {
  auto eps = ComputeEpsilon(0.001, 1.0, 30000, 1e-7, Classic());
  ASSERT_TRUE(eps.ok());
  ExpectRelNear(eps->epsilon, 1.70928734, kRelTol);
  EXPECT_DOUBLE_EQ(eps->order, 13);
}

TEST(AccountantTest, AnalyticGaussianMatchesBalleWang) {
  auto sigma = AnalyticGaussianSigma(1.0, 1e-5);
  ASSERT_TRUE(sigma.ok()) << sigma.status().ToString();
  ExpectRelNear(*sigma, 3.7306, kRelTol);
  // Linear in the sensitivity, and tighter than the classic sqrt(2 log(1.25/delta)) / epsilon.
  auto scaled = AnalyticGaussianSigma(1.0, 1e-5, 2.5);
  ASSERT_TRUE(scaled.ok());
  EXPECT_NEAR(*scaled, 2.5 * *sigma, 1e-9);
  auto small_eps = AnalyticGaussianSigma(0.5, 1e-5);
  ASSERT_TRUE(small_eps.ok());
  EXPECT_LT(*small_eps, std::sqrt(2 * std::log(1.25 / 1e-5)) / 0.5);
  // Large epsilon must not overflow e^epsilon.
  auto large_eps = AnalyticGaussianSigma(800, 1e-5);
  ASSERT_TRUE(large_eps.ok()) << large_eps.status().ToString();
  EXPECT_GT(*large_eps, 0);
}

TEST(AccountantTest, DefaultOrders) {
  const auto& orders = DefaultRdpOrders();
  ASSERT_EQ(orders.size(), 99u + 53u + 4u);
  EXPECT_DOUBLE_EQ(orders.front(), 1.1);
  EXPECT_DOUBLE_EQ(orders[98], 10.9);
  EXPECT_DOUBLE_EQ(orders[99], 11);
  EXPECT_DOUBLE_EQ(orders.back(), 1024);
}

// Order 2 has a closed form: A_2 = 1 + q^2 (e^(1/z^2) - 1).
TEST(AccountantTest, IntegerOrderMatchesClosedForm) {
  for (double q : {0.01, 0.3, 0.9}) {
    for (double z : {0.7, 1.0, 4.0}) {
      auto rdp = SampledGaussianRdp(q, z, 2);
      ASSERT_TRUE(rdp.ok());
      EXPECT_NEAR(*rdp, std::log1p(q * q * std::expm1(1 / (z * z))), 1e-12) << q << " " << z;
    }
  }
}

// The fractional series and the integer sum are different computations; just off an integer
// they must agree with the integer value.
TEST(AccountantTest, FractionalSeriesAgreesWithIntegerSum) {
  for (double q : {0.001, 0.04, 0.2}) {
    for (double z : {0.8, 1.5, 5.0}) {
      for (double alpha : {2.0, 3.0, 8.0, 20.0}) {
        auto exact = SampledGaussianRdp(q, z, alpha);
        auto near = SampledGaussianRdp(q, z, alpha + 1e-7);
        ASSERT_TRUE(exact.ok() && near.ok());
        EXPECT_NEAR(*near, *exact, 1e-5 * *exact + 1e-12) << q << " " << z << " " << alpha;
      }
    }
  }
}

TEST(AccountantTest, EdgeSamplingRates) {
  auto none = SampledGaussianRdp(0, 1.0, 5.5);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  // q = 1 is the plain Gaussian mechanism: alpha / (2 z^2).
  auto full = SampledGaussianRdp(1, 2.0, 5.5);
  ASSERT_TRUE(full.ok());
  EXPECT_DOUBLE_EQ(*full, 5.5 / 8);
}

TEST(AccountantTest, CompositionIsAdditiveAcrossCalls) {
  RdpAccountant accountant;
  auto before = accountant.Epsilon(1e-5);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->epsilon, 0);
  ASSERT_TRUE(accountant.AddSteps(0.04, 1.5, 1000).ok());
  ASSERT_TRUE(accountant.AddSteps(0.04, 1.5, 1250).ok());
  EXPECT_EQ(accountant.steps(), 2250);
  auto eps = accountant.Epsilon(1e-5);
  ASSERT_TRUE(eps.ok());
  ExpectRelNear(eps->epsilon, 7.32911117143, 1e-9);
  // Mixed steps: more noise later costs less than the same steps at the first setting.
  RdpAccountant mixed = accountant;
  ASSERT_TRUE(mixed.AddSteps(0.01, 3.0, 500).ok());
  ASSERT_TRUE(accountant.AddSteps(0.04, 1.5, 500).ok());
  EXPECT_LT(mixed.Epsilon(1e-5)->epsilon, accountant.Epsilon(1e-5)->epsilon);
  // A failed AddSteps records nothing.
  EXPECT_FALSE(mixed.AddSteps(2.0, 1.0, 1).ok());
  EXPECT_EQ(mixed.steps(), 2750);
}

TEST(AccountantTest, ImprovedNeverExceedsClassic) {
  for (double z : {0.6, 1.1, 3.0}) {
    auto improved = ComputeEpsilon(0.01, z, 10000, 1e-6);
    auto classic = ComputeEpsilon(0.01, z, 10000, 1e-6, Classic());
    ASSERT_TRUE(improved.ok() && classic.ok());
    EXPECT_LE(improved->epsilon, classic->epsilon);
  }
}

TEST(AccountantTest, EpsilonFallsAsNoiseGrows) {
  double previous = INFINITY;
  for (double z : {0.5, 0.8, 1.0, 1.5, 3.0, 10.0}) {
    auto eps = ComputeEpsilon(0.02, z, 5000, 1e-5);
    ASSERT_TRUE(eps.ok());
    EXPECT_LT(eps->epsilon, previous) << z;
    previous = eps->epsilon;
  }
}

TEST(AccountantTest, NoiseMultiplierInvertsEpsilon) {
  auto z = NoiseMultiplierForEpsilon(7.32911117143, 0.04, 2250, 1e-5);
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  EXPECT_NEAR(*z, 1.5, 1e-6);
  auto eps = ComputeEpsilon(0.04, *z, 2250, 1e-5);
  ASSERT_TRUE(eps.ok());
  EXPECT_LE(eps->epsilon, 7.32911117143);
  // TF Privacy's compute_noise test (classic conversion): 0.941870567 -> 1.3.
  auto tf = NoiseMultiplierForEpsilon(0.941870567, 150.0 / 60000, 6000, 1e-5, Classic());
  ASSERT_TRUE(tf.ok());
  EXPECT_NEAR(*tf, 1.3, 1e-5);
}

TEST(AccountantTest, RejectsBadParameters) {
  EXPECT_FALSE(SampledGaussianRdp(-0.1, 1, 2).ok());
  EXPECT_FALSE(SampledGaussianRdp(1.5, 1, 2).ok());
  EXPECT_FALSE(SampledGaussianRdp(0.1, 0, 2).ok());
  EXPECT_FALSE(SampledGaussianRdp(0.1, NAN, 2).ok());
  EXPECT_FALSE(SampledGaussianRdp(0.1, 1, 1).ok());
  EXPECT_FALSE(SampledGaussianRdp(NAN, 1, 2).ok());
  EXPECT_FALSE(SampledGaussianRdpCurve(0.1, 1, -1).ok());
  EXPECT_FALSE(ComputeEpsilon(0.1, 1, 10, 0).ok());
  EXPECT_FALSE(ComputeEpsilon(0.1, 1, 10, 1).ok());
  auto bad = ComputeEpsilon(0.1, 1, 10, 1.5);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("delta"), std::string::npos) << bad.status().message();
  const double orders[] = {2, 3};
  const double rdp[] = {0.1};
  EXPECT_FALSE(RdpToEpsilon(orders, rdp, 1e-5).ok());
  EXPECT_FALSE(NoiseMultiplierForEpsilon(0, 0.1, 10, 1e-5).ok());
  EXPECT_FALSE(NoiseMultiplierForEpsilon(1, 0, 10, 1e-5).ok());
  EXPECT_FALSE(NoiseMultiplierForEpsilon(1, 0.1, 0, 1e-5).ok());
  EXPECT_FALSE(AnalyticGaussianSigma(0, 1e-5).ok());
  EXPECT_FALSE(AnalyticGaussianSigma(1, 0).ok());
  EXPECT_FALSE(AnalyticGaussianSigma(1, 1e-5, -1).ok());
}

}  // namespace
}  // namespace privedge::privacy
