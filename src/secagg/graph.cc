#include "secagg/graph.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <optional>

namespace privedge::secagg {

namespace {

double Log2Binomial(double n, double k) {
  return (std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1)) / std::log(2.0);
}

double Log2Sum(double a, double b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  const double hi = std::max(a, b), lo = std::min(a, b);
  return hi + std::log2(1 + std::exp2(lo - hi));
}

// A uniform value below `bound` from a deterministic ChaCha20 stream.
class SeededStream {
 public:
  explicit SeededStream(const std::array<uint8_t, 32>& seed) : seed_(seed) {}
  uint32_t Below(uint32_t bound) {
    const uint64_t limit = (uint64_t{1} << 32) - ((uint64_t{1} << 32) % bound);
    for (;;) {
      const uint64_t v = Next();
      if (v < limit) return static_cast<uint32_t>(v % bound);
    }
  }

 private:
  uint32_t Next() {
    if (used_ == buffer_.size()) {
      uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
      for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(block_ >> (8 * i));
      ++block_;
      crypto_stream_chacha20_ietf(reinterpret_cast<uint8_t*>(buffer_.data()),
                                  buffer_.size() * sizeof(uint32_t), nonce, seed_.data());
      used_ = 0;
    }
    return buffer_[used_++];
  }
  std::array<uint8_t, 32> seed_;
  std::array<uint32_t, 256> buffer_{};
  size_t used_ = buffer_.size();
  uint64_t block_ = 0;
};

}  // namespace

// tails[x] = log2 P[X >= x] for x = 0..draws+1, X hypergeometric as below.
static std::vector<double> Log2HypergeometricTails(uint32_t population, uint32_t marked,
                                                   uint32_t draws) {
  std::vector<double> tails(draws + 2, -INFINITY);
  const double total = Log2Binomial(population, draws);
  const uint32_t top = std::min(marked, draws);
  for (uint32_t i = top + 1; i-- > 0;) {
    double term = -INFINITY;
    if (draws - i <= population - marked) {
      term = Log2Binomial(marked, i) + Log2Binomial(population - marked, draws - i) - total;
    }
    tails[i] = std::min(0.0, Log2Sum(tails[i + 1], term));
  }
  tails[0] = 0;
  return tails;
}

double Log2HypergeometricTail(uint32_t population, uint32_t marked, uint32_t draws, uint32_t x) {
  if (x > draws) return -INFINITY;
  return Log2HypergeometricTails(population, marked, draws)[x];
}

Result<GraphParams> ChooseGraphParams(const GraphRequirements& r) {
  const uint32_t n = r.num_clients;
  if (n < 3) return InvalidArgument("secure aggregation needs at least 3 clients, got ", n);
  for (double rate : {r.dropout_rate, r.corruption_rate}) {
    if (!(rate >= 0 && rate < 1)) return InvalidArgument("rate ", rate, " outside [0, 1)");
  }
  if (!(r.security_bits > 0) || !(r.correctness_bits > 0)) {
    return InvalidArgument("security and correctness parameters must be positive");
  }
  const double log2n = std::log2(static_cast<double>(n));
  const uint32_t corrupt = static_cast<uint32_t>(std::ceil(r.corruption_rate * n));
  const uint32_t dropped = static_cast<uint32_t>(std::ceil(r.dropout_rate * n));
  // Removed positions on the cycle: a run of k/2 consecutive ones cuts it; the probability
  // that a given run is all removed is C(R, m)/C(n, m) <= (R/n)^m.
  const double removed = std::min<double>(n, corrupt + dropped);
  auto evaluate = [&](uint32_t k) -> std::optional<GraphParams> {
    const bool complete = k + 1 == n;
    double log2_cut = -INFINITY;
    if (!complete) {
      log2_cut = removed >= n ? 0 : log2n + (k / 2) * std::log2(removed / n);
      if (log2_cut > -r.security_bits) return std::nullopt;
    }
    // Largest t with n * P[dropped neighbours > k - t] <= 2^-eta.
    const std::vector<double> drop_tails = Log2HypergeometricTails(n - 1, dropped, k);
    uint32_t t = 0;
    double log2_correct = 0;
    for (uint32_t cand = k; cand >= 1; --cand) {
      const double p = log2n + drop_tails[k - cand + 1];
      if (p <= -r.correctness_bits) {
        t = cand;
        log2_correct = p;
        break;
      }
    }
    if (t == 0 || 2 * t <= k) return std::nullopt;
    const double log2_private = log2n + Log2HypergeometricTail(n - 1, corrupt, k, 2 * t - k);
    if (log2_private > -r.security_bits) return std::nullopt;
    return GraphParams{k, t, std::max(log2_private, log2_cut), log2_correct};
  };
  if (!r.complete) {
    for (uint32_t k = 2; k + 1 < n; k += 2) {
      if (auto p = evaluate(k)) return *p;
    }
  }
  if (auto p = evaluate(n - 1)) return *p;
  return InvalidArgument("no graph of ", n, " clients meets 2^-", r.security_bits,
                         " privacy and 2^-", r.correctness_bits, " correctness with dropout rate ",
                         r.dropout_rate, " and corruption rate ", r.corruption_rate,
                         ": lower the rates or raise the number of clients");
}

CommunicationGraph::CommunicationGraph(uint32_t num_clients, uint32_t degree,
                                       const std::array<uint8_t, 32>& seed)
    : degree_(degree), permutation_(num_clients), position_(num_clients) {
  for (uint32_t i = 0; i < num_clients; ++i) permutation_[i] = i;
  if (!complete()) {
    // Fisher-Yates with unbiased draws.
    SeededStream stream(seed);
    for (uint32_t i = num_clients; i > 1; --i) {
      std::swap(permutation_[i - 1], permutation_[stream.Below(i)]);
    }
  }
  for (uint32_t p = 0; p < num_clients; ++p) position_[permutation_[p]] = p;
}

std::vector<uint32_t> CommunicationGraph::Neighbours(uint32_t client) const {
  const uint32_t n = num_clients();
  std::vector<uint32_t> out;
  out.reserve(degree_);
  if (complete()) {
    for (uint32_t v = 0; v < n; ++v) {
      if (v != client) out.push_back(v);
    }
    return out;
  }
  const uint32_t p = position_[client];
  for (uint32_t j = 1; j <= degree_ / 2; ++j) {
    out.push_back(permutation_[(p + j) % n]);
    out.push_back(permutation_[(p + n - j) % n]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool CommunicationGraph::AreNeighbours(uint32_t a, uint32_t b) const {
  if (a == b || a >= num_clients() || b >= num_clients()) return false;
  if (complete()) return true;
  const uint32_t n = num_clients();
  const uint32_t d = (position_[a] + n - position_[b]) % n;
  return std::min(d, n - d) <= degree_ / 2;
}

}  // namespace privedge::secagg
