// The communication graph of a SecAgg+ round and the choice of its degree and threshold.
//
//   PE_ASSIGN_OR_RETURN(auto params, secagg::ChooseGraphParams({.num_clients = 1000,
//                                                              .dropout_rate = 0.1,
//                                                              .corruption_rate = 0.05}));
//   secagg::CommunicationGraph graph(1000, params.degree, seed);
//   for (uint32_t v : graph.Neighbours(u)) ...
//
// A client shares keys and masks only with its neighbours. With degree n-1 the graph is
// complete: the original SecAgg of Bonawitz et al. (CCS 2017). Otherwise it is the Harary graph
// H(n, k) (k even: position p is joined to positions p +- 1..k/2 mod n) laid over a random
// permutation of the clients drawn from a public 32-byte seed: the "random Harary graph" of
// SecAgg+ (Bell et al., CCS 2020, Section 3.2 and Appendix C). See docs/secagg.md for the
// derivation of ChooseGraphParams.
//
// Thread-safety: CommunicationGraph is immutable after construction.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "privedge/status.h"

namespace privedge::secagg {

struct GraphRequirements {
  uint32_t num_clients = 0;      // n
  double dropout_rate = 0.1;     // delta: fraction of clients that may drop out in a round
  double corruption_rate = 0.1;  // gamma: fraction of clients that may collude with the server
  double security_bits = 40;     // sigma: privacy fails with probability <= 2^-sigma
  double correctness_bits = 20;  // eta: a round fails (too few shares) w.p. <= 2^-eta
  bool complete = false;         // force the complete graph (SecAgg); else the sparsest safe one
};

struct GraphParams {
  uint32_t degree = 0;                  // k: neighbours per client (n-1 for the complete graph)
  uint32_t threshold = 0;               // t: shares needed to reconstruct a client's secrets
  double log2_privacy_failure = 0;      // log2 of the bound on the privacy failure probability
  double log2_correctness_failure = 0;  // log2 of the bound on the round failure probability
};

// The smallest even degree k (or n-1) and a threshold t such that, for a graph drawn as above,
// dropouts at rate delta and a coalition of the server with gamma*n clients chosen before the
// graph is drawn:
//   (privacy 1) with probability >= 1 - 2^-sigma no honest client has >= 2t - k corrupt
//     neighbours, so the server can never gather t shares of both its secrets (honest
//     neighbours reveal one kind each, corrupt ones both);
//   (privacy 2) with probability >= 1 - 2^-sigma the honest surviving clients stay connected,
//     so the server learns only their total, not partial sums;
//   (correctness) with probability >= 1 - 2^-eta every client keeps >= t surviving neighbours.
// t is the largest threshold for which correctness holds (the most privacy margin). Errors:
// rates outside [0, 1), n < 3, or no k <= n-1 meets the bounds (InvalidArgument, naming them).
Result<GraphParams> ChooseGraphParams(const GraphRequirements& requirements);

// log2 of P[X >= x] for X hypergeometric: `draws` items from `population` of which `marked`
// are marked. Exposed for tests.
double Log2HypergeometricTail(uint32_t population, uint32_t marked, uint32_t draws, uint32_t x);

class CommunicationGraph {
 public:
  // Precondition (checked by RoundConfig validation): 2 <= degree <= n-1, degree even unless
  // it is n-1.
  CommunicationGraph(uint32_t num_clients, uint32_t degree, const std::array<uint8_t, 32>& seed);

  uint32_t num_clients() const { return static_cast<uint32_t>(permutation_.size()); }
  uint32_t degree() const { return degree_; }
  bool complete() const { return degree_ + 1 == num_clients(); }
  // The neighbours of `client`, in ascending order.
  std::vector<uint32_t> Neighbours(uint32_t client) const;
  // False when a == b or either is not a client of this graph.
  bool AreNeighbours(uint32_t a, uint32_t b) const;

 private:
  uint32_t degree_;
  std::vector<uint32_t> permutation_;  // position -> client
  std::vector<uint32_t> position_;     // client -> position
};

}  // namespace privedge::secagg
