// Renyi DP of the sampled Gaussian mechanism (Mironov, Talwar, Zhang 2019) and its conversion
// to (epsilon, delta).
#include <algorithm>
#include <cmath>
#include <limits>

#include "privacy/log_math.h"
#include "privacy/validate.h"
#include "privedge/privacy.h"

namespace privedge::privacy {
namespace {

using internal::kNegInf;
using internal::LogAdd;
using internal::LogErfc;
using internal::LogSub;

constexpr double kInf = std::numeric_limits<double>::infinity();
// The fractional-order series stop once both terms fall below e^-30 (as TF Privacy and Opacus
// do); a series still going after this many terms is reported as +infinity.
constexpr double kSeriesCutoff = -30;
constexpr int kMaxSeriesTerms = 10000;

// log A_alpha for integer alpha: log sum_i C(alpha, i) q^i (1-q)^(alpha-i) e^((i^2 - i)/(2 z^2)).
double LogAInteger(double q, double z, int64_t alpha) {
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  const double a = static_cast<double>(alpha);
  double log_a = kNegInf;
  for (int64_t k = 0; k <= alpha; ++k) {
    const double i = static_cast<double>(k);
    const double log_binom = std::lgamma(a + 1) - std::lgamma(i + 1) - std::lgamma(a - i + 1);
    const double log_term = log_binom + i * log_q + (a - i) * log_1mq + (i * i - i) / (2 * z * z);
    log_a = LogAdd(log_a, log_term);
  }
  return log_a;
}

// log A_alpha for fractional alpha: the two series of Mironov et al. Sec. 3.3, split at z0,
// with signed generalized binomial coefficients.
double LogAFractional(double q, double z, double alpha) {
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  const double z0 = z * z * std::log(1 / q - 1) + 0.5;
  const double log_half = std::log(0.5), sqrt2_z = std::sqrt(2.0) * z;
  double log_a0 = kNegInf, log_a1 = kNegInf;
  double log_abs_binom = 0;  // log |C(alpha, i)|, updated by C(a, i) = C(a, i-1) (a-i+1) / i
  bool binom_positive = true;
  for (int k = 0; k < kMaxSeriesTerms; ++k) {
    const double i = k, j = alpha - i;
    if (k > 0) {
      log_abs_binom += std::log(std::fabs(alpha - i + 1)) - std::log(i);
      if (alpha - i + 1 < 0) binom_positive = !binom_positive;
    }
    const double log_t0 = log_abs_binom + i * log_q + j * log_1mq;
    const double log_t1 = log_abs_binom + j * log_q + i * log_1mq;
    const double log_e0 = log_half + LogErfc((i - z0) / sqrt2_z);
    const double log_e1 = log_half + LogErfc((z0 - j) / sqrt2_z);
    const double log_s0 = log_t0 + (i * i - i) / (2 * z * z) + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / (2 * z * z) + log_e1;
    if (binom_positive) {
      log_a0 = LogAdd(log_a0, log_s0);
      log_a1 = LogAdd(log_a1, log_s1);
    } else {
      log_a0 = LogSub(log_a0, log_s0);
      log_a1 = LogSub(log_a1, log_s1);
    }
    if (std::max(log_s0, log_s1) < kSeriesCutoff) return LogAdd(log_a0, log_a1);
  }
  return kInf;
}

// RDP of one step; parameters already validated.
double StepRdp(double q, double z, double alpha) {
  if (q == 0) return 0;
  if (q == 1) return alpha / (2 * z * z);
  const double log_a = alpha == std::floor(alpha) ? LogAInteger(q, z, static_cast<int64_t>(alpha))
                                                  : LogAFractional(q, z, alpha);
  return std::max(0.0, log_a / (alpha - 1));
}

Status CheckStep(double q, double z) {
  PE_RETURN_IF_ERROR(internal::CheckInRange("sampling rate", q, 0, 1, true, true));
  return internal::CheckPositive("noise multiplier", z);
}

Status CheckOrder(double alpha) {
  if (!std::isfinite(alpha) || alpha <= 1)
    return InvalidArgument("Renyi order must be finite and > 1, got ", alpha);
  // The integer series has alpha + 1 terms; larger orders never help a practical epsilon.
  if (alpha > 1e6) return InvalidArgument("Renyi order must be at most 1e6, got ", alpha);
  return Status::OK();
}

std::span<const double> OrdersOrDefault(std::span<const double> orders) {
  if (orders.empty()) return DefaultRdpOrders();
  return orders;
}

}  // namespace

const std::vector<double>& DefaultRdpOrders() {
  static const std::vector<double> orders = [] {
    std::vector<double> o;
    for (int x = 1; x < 100; ++x) o.push_back(1 + x / 10.0);
    for (int a = 11; a <= 63; ++a) o.push_back(a);
    for (double a : {128.0, 256.0, 512.0, 1024.0}) o.push_back(a);
    return o;
  }();
  return orders;
}

Result<double> SampledGaussianRdp(double sampling_rate, double noise_multiplier, double order) {
  PE_RETURN_IF_ERROR(CheckStep(sampling_rate, noise_multiplier));
  PE_RETURN_IF_ERROR(CheckOrder(order));
  return StepRdp(sampling_rate, noise_multiplier, order);
}

Result<std::vector<double>> SampledGaussianRdpCurve(double sampling_rate, double noise_multiplier,
                                                    int64_t steps, std::span<const double> orders) {
  PE_RETURN_IF_ERROR(CheckStep(sampling_rate, noise_multiplier));
  if (steps < 0) return InvalidArgument("steps must be >= 0, got ", steps);
  orders = OrdersOrDefault(orders);
  std::vector<double> rdp;
  rdp.reserve(orders.size());
  for (double alpha : orders) {
    PE_RETURN_IF_ERROR(CheckOrder(alpha));
    // 0 steps spend nothing, even at an order where one step is unbounded (0 * inf).
    rdp.push_back(steps == 0 ? 0.0
                             : static_cast<double>(steps) *
                                   StepRdp(sampling_rate, noise_multiplier, alpha));
  }
  return rdp;
}

Result<EpsilonResult> RdpToEpsilon(std::span<const double> orders, std::span<const double> rdp,
                                   double delta, RdpConversion conversion) {
  PE_RETURN_IF_ERROR(internal::CheckInRange("delta", delta, 0, 1, false, false));
  if (orders.empty() || orders.size() != rdp.size())
    return InvalidArgument("expected one RDP value per order, got ", rdp.size(), " values for ",
                           orders.size(), " orders");
  EpsilonResult best{kInf, orders[0]};
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i], r = rdp[i];
    PE_RETURN_IF_ERROR(CheckOrder(a));
    if (std::isnan(r) || r < 0)
      return InvalidArgument("RDP at order ", a, " must be >= 0, got ", r);
    // KL <= RDP and total variation <= sqrt(1 - e^-KL) (Bretagnolle-Huber): when that is at
    // most delta, delta alone covers the difference and epsilon is 0 (as in TF Privacy).
    const double eps = delta * delta + std::expm1(-r) > 0 ? 0.0
                       : conversion == RdpConversion::kImproved
                           ? r + std::log1p(-1 / a) - (std::log(delta) + std::log(a)) / (a - 1)
                           : r - std::log(delta) / (a - 1);
    if (eps < best.epsilon) best = {eps, a};
  }
  best.epsilon = std::max(0.0, best.epsilon);
  return best;
}

Result<EpsilonResult> ComputeEpsilon(double sampling_rate, double noise_multiplier, int64_t steps,
                                     double delta, const AccountingOptions& options) {
  const std::span<const double> orders = OrdersOrDefault(options.orders);
  PE_ASSIGN_OR_RETURN(auto rdp,
                      SampledGaussianRdpCurve(sampling_rate, noise_multiplier, steps, orders));
  return RdpToEpsilon(orders, rdp, delta, options.conversion);
}

Result<double> NoiseMultiplierForEpsilon(double target_epsilon, double sampling_rate, int64_t steps,
                                         double delta, const AccountingOptions& options) {
  PE_RETURN_IF_ERROR(internal::CheckPositive("target epsilon", target_epsilon));
  PE_RETURN_IF_ERROR(internal::CheckInRange("sampling rate", sampling_rate, 0, 1, false, true));
  PE_RETURN_IF_ERROR(internal::CheckInRange("delta", delta, 0, 1, false, false));
  if (steps < 1) return InvalidArgument("steps must be >= 1, got ", steps);
  auto meets_target = [&](double z) -> Result<bool> {
    PE_ASSIGN_OR_RETURN(auto eps, ComputeEpsilon(sampling_rate, z, steps, delta, options));
    return eps.epsilon <= target_epsilon;
  };
  // Bracket [lo, hi] with lo failing the target and hi meeting it, then bisect.
  constexpr double kMaxNoise = 1e6, kMinNoise = 1e-6;
  double hi = 1;
  for (;;) {
    PE_ASSIGN_OR_RETURN(bool ok, meets_target(hi));
    if (ok) break;
    if (hi >= kMaxNoise)
      return OutOfRange("no noise multiplier up to ", kMaxNoise, " reaches epsilon ",
                        target_epsilon, " (sampling rate ", sampling_rate, ", ", steps,
                        " steps, delta ", delta, ")");
    hi *= 2;
  }
  double lo = hi / 2;
  for (;;) {
    PE_ASSIGN_OR_RETURN(bool ok, meets_target(lo));
    if (!ok) break;
    hi = lo;
    if (hi <= kMinNoise) return hi;  // the target is met by essentially no noise
    lo /= 2;
  }
  while (hi - lo > 1e-9 * hi) {
    const double mid = 0.5 * (lo + hi);
    PE_ASSIGN_OR_RETURN(bool ok, meets_target(mid));
    (ok ? hi : lo) = mid;
  }
  return hi;
}

RdpAccountant::RdpAccountant(AccountingOptions options)
    : orders_(options.orders.empty() ? DefaultRdpOrders() : std::move(options.orders)),
      rdp_(orders_.size(), 0.0),
      conversion_(options.conversion) {}

Status RdpAccountant::AddSteps(double sampling_rate, double noise_multiplier, int64_t steps) {
  PE_ASSIGN_OR_RETURN(auto rdp,
                      SampledGaussianRdpCurve(sampling_rate, noise_multiplier, steps, orders_));
  for (size_t i = 0; i < rdp_.size(); ++i) rdp_[i] += rdp[i];
  steps_ += steps;
  return Status::OK();
}

Result<EpsilonResult> RdpAccountant::Epsilon(double delta) const {
  return RdpToEpsilon(orders_, rdp_, delta, conversion_);
}

}  // namespace privedge::privacy
