#include "secagg/graph.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace privedge::secagg {
namespace {

TEST(SecaggGraphTest, HararyGraphIsRegularSymmetricAndSeeded) {
  std::array<uint8_t, 32> seed{};
  seed[0] = 1;
  CommunicationGraph g(50, 8, seed);
  for (uint32_t u = 0; u < 50; ++u) {
    const auto nb = g.Neighbours(u);
    ASSERT_EQ(nb.size(), 8u);
    EXPECT_EQ(std::set<uint32_t>(nb.begin(), nb.end()).size(), 8u);
    for (uint32_t v : nb) {
      EXPECT_NE(u, v);
      EXPECT_TRUE(g.AreNeighbours(u, v));
      EXPECT_TRUE(g.AreNeighbours(v, u));
    }
  }
  CommunicationGraph same(50, 8, seed);
  seed[0] = 2;
  CommunicationGraph other(50, 8, seed);
  bool differs = false;
  for (uint32_t u = 0; u < 50; ++u) {
    EXPECT_EQ(g.Neighbours(u), same.Neighbours(u));
    differs = differs || g.Neighbours(u) != other.Neighbours(u);
  }
  EXPECT_TRUE(differs);
}

TEST(SecaggGraphTest, CompleteGraph) {
  CommunicationGraph g(5, 4, {});
  EXPECT_TRUE(g.complete());
  EXPECT_EQ(g.Neighbours(2), (std::vector<uint32_t>{0, 1, 3, 4}));
}

TEST(SecaggGraphTest, HypergeometricTailMatchesDirectSum) {
  // population 10, 4 marked, 3 draws: P[X >= 2] = (C(4,2)C(6,1) + C(4,3)) / C(10,3) = 40/120.
  EXPECT_NEAR(std::exp2(Log2HypergeometricTail(10, 4, 3, 2)), 40.0 / 120, 1e-12);
  EXPECT_NEAR(std::exp2(Log2HypergeometricTail(10, 4, 3, 0)), 1.0, 1e-12);
  EXPECT_EQ(Log2HypergeometricTail(10, 4, 3, 4), -INFINITY);
}

TEST(SecaggGraphTest, ChosenParametersMeetTheirBounds) {
  for (uint32_t n : {100u, 1000u, 10000u}) {
    for (double delta : {0.0, 0.1, 0.3}) {
      GraphRequirements r{.num_clients = n, .dropout_rate = delta, .corruption_rate = 0.05};
      auto p = ChooseGraphParams(r);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      EXPECT_GT(2 * p->threshold, p->degree);
      EXPECT_LE(p->threshold, p->degree);
      EXPECT_LE(p->log2_privacy_failure, -r.security_bits);
      EXPECT_LE(p->log2_correctness_failure, -r.correctness_bits);
      EXPECT_TRUE(p->degree % 2 == 0 || p->degree == n - 1);
    }
  }
  // Sparse graphs pay off: at n = 10000 the degree is a small fraction of n.
  auto big =
      ChooseGraphParams({.num_clients = 10000, .dropout_rate = 0.1, .corruption_rate = 0.05});
  ASSERT_TRUE(big.ok());
  EXPECT_LT(big->degree, 1000u);
}

TEST(SecaggGraphTest, ImpossibleRequirementsAreRefusedWithAReason) {
  auto p = ChooseGraphParams({.num_clients = 10, .dropout_rate = 0.6, .corruption_rate = 0.3});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("no graph of 10 clients"), std::string::npos);
  EXPECT_FALSE(ChooseGraphParams({.num_clients = 2}).ok());
  EXPECT_FALSE(ChooseGraphParams({.num_clients = 100, .dropout_rate = 1.0}).ok());
}

TEST(SecaggGraphTest, CompleteFlagGivesSecAgg) {
  auto p = ChooseGraphParams(
      {.num_clients = 50, .dropout_rate = 0.1, .corruption_rate = 0.1, .complete = true});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->degree, 49u);
}

}  // namespace
}  // namespace privedge::secagg
