#include "secagg/shamir.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <random>

namespace privedge::secagg {
namespace {

std::array<uint8_t, 32> RandomSecret() {
  std::array<uint8_t, 32> s;
  randombytes_buf(s.data(), s.size());
  return s;
}

bool Equals(const SecureBuffer& b, const std::array<uint8_t, 32>& s) {
  return b.size() == 32 && std::equal(s.begin(), s.end(), b.data());
}

TEST(FieldTest, InverseAndReduction) {
  for (uint64_t a : {uint64_t{1}, uint64_t{2}, kFieldPrime - 1, uint64_t{123456789012345}}) {
    EXPECT_EQ(FieldMul(a, FieldInverse(a)), 1u) << a;
  }
  EXPECT_EQ(FieldMul(kFieldPrime - 1, kFieldPrime - 1), 1u);  // (-1)^2
  EXPECT_EQ(FieldSub(0, 1), kFieldPrime - 1);
  EXPECT_EQ(FieldAdd(kFieldPrime - 1, 1), 0u);
}

TEST(ShamirTest, EverySubsetOfThresholdSharesReconstructsAndFewerDoNot) {
  const auto secret = RandomSecret();
  const std::vector<uint32_t> xs = {3, 7, 8, 10, 11, 20};
  const uint32_t t = 3;
  auto shares = ShamirSplit(secret, t, xs);
  ASSERT_TRUE(shares.ok());
  // All 2^6 subsets: size >= t reconstructs exactly; size t-1 is refused, and interpolating
  // them as if the threshold were t-1 does not give the secret.
  for (uint32_t mask = 1; mask < (1u << xs.size()); ++mask) {
    std::vector<ShamirShare> subset;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (mask & (1u << i)) subset.push_back((*shares)[i]);
    }
    auto got = ShamirReconstruct(subset, t);
    if (subset.size() >= t) {
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_TRUE(Equals(*got, secret)) << "subset " << mask;
    } else {
      EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument);
      if (subset.size() == t - 1) {
        auto wrong = ShamirReconstruct(subset, t - 1);
        EXPECT_FALSE(wrong.ok() && Equals(*wrong, secret)) << "subset " << mask;
      }
    }
  }
}

TEST(ShamirTest, LargeThresholdRandomSubsets) {
  std::mt19937 rng(5);
  const auto secret = RandomSecret();
  std::vector<uint32_t> xs;
  for (uint32_t i = 0; i < 60; ++i) xs.push_back(1000 + 3 * i);
  const uint32_t t = 31;
  auto shares = ShamirSplit(secret, t, xs);
  ASSERT_TRUE(shares.ok());
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<ShamirShare> s = *shares;
    std::shuffle(s.begin(), s.end(), rng);
    s.resize(t);
    auto got = ShamirReconstruct(s, t);
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(Equals(*got, secret));
    s.resize(t - 1);
    auto wrong = ShamirReconstruct(s, t - 1);
    EXPECT_FALSE(wrong.ok() && Equals(*wrong, secret));
  }
}

TEST(ShamirTest, AlteredShareIsDetectedOrGivesAnotherSecret) {
  const auto secret = RandomSecret();
  const std::vector<uint32_t> xs = {1, 2, 3, 4};
  auto shares = ShamirSplit(secret, 3, xs);
  ASSERT_TRUE(shares.ok());
  (*shares)[1].y[2] = FieldAdd((*shares)[1].y[2], 1);
  auto got = ShamirReconstruct(*shares, 3);
  EXPECT_FALSE(got.ok() && Equals(*got, secret));
}

TEST(ShamirTest, RejectsBadArguments) {
  const auto secret = RandomSecret();
  const std::vector<uint32_t> zero = {0, 1, 2}, repeated = {1, 1, 2}, ok = {1, 2, 3};
  EXPECT_FALSE(ShamirSplit(secret, 2, zero).ok());
  EXPECT_FALSE(ShamirSplit(secret, 2, repeated).ok());
  EXPECT_FALSE(ShamirSplit(secret, 0, ok).ok());
  EXPECT_FALSE(ShamirSplit(secret, 4, ok).ok());
  std::array<uint8_t, 16> short_secret{};
  EXPECT_FALSE(ShamirSplit(short_secret, 2, ok).ok());
  auto shares = ShamirSplit(secret, 2, ok);
  ASSERT_TRUE(shares.ok());
  (*shares)[1].x = (*shares)[0].x;
  EXPECT_FALSE(ShamirReconstruct(*shares, 2).ok());
}

}  // namespace
}  // namespace privedge::secagg
