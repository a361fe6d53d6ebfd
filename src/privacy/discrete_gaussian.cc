// The exact discrete Gaussian sampler of Canonne, Kamath and Steinke 2020, in integer
// arithmetic. Rationals that arise inside (the acceptance exponent) need up to 127 bits.
#include <cmath>
#include <limits>

#include "privedge/privacy.h"

namespace privedge::privacy {
namespace {

using u128 = unsigned __int128;
using i128 = __int128;

// Parameters of the public samplers are limited to 56-bit numerators and denominators so that
// every intermediate below fits in 128 bits (see DiscreteGaussianExponent).
constexpr uint64_t kMaxParameter = uint64_t{1} << 56;
// Proposals whose acceptance probability is below e^-2000 are rejected outright.
constexpr double kMaxExponent = 2000;

// Uniform integer in [0, bound) for bound >= 1, by masked rejection.
u128 UniformBelow(SecureRandom& rng, u128 bound) {
  if (bound <= std::numeric_limits<uint64_t>::max())
    return rng.UniformBelow(static_cast<uint64_t>(bound));
  const u128 top = bound - 1;
  const auto high = static_cast<uint64_t>(top >> 64);
  const int bits = high == 0 ? 64 : 128 - __builtin_clzll(high);
  const u128 mask = bits == 128 ? ~u128{0} : (u128{1} << bits) - 1;
  for (;;) {
    const u128 v = ((u128{rng.NextUint64()} << 64) | rng.NextUint64()) & mask;
    if (v < bound) return v;
  }
}

// Bernoulli(num / den), num <= den, den >= 1.
bool Bernoulli(SecureRandom& rng, u128 num, u128 den) { return UniformBelow(rng, den) < num; }

// Bernoulli(exp(-num/den)) for num <= den (Algorithm 1, gamma in [0, 1]): count K until a
// Bernoulli(gamma / K) fails; output whether K is odd. Bernoulli(gamma / K) is drawn as
// Bernoulli(gamma) and Bernoulli(1 / K), which is exact and keeps den * K from overflowing.
bool BernoulliExpAtMostOne(SecureRandom& rng, u128 num, u128 den) {
  uint64_t k = 1;
  while (Bernoulli(rng, num, den) && Bernoulli(rng, 1, k)) ++k;
  return k % 2 == 1;
}

// Bernoulli(exp(-num/den)) for any num / den >= 0 (Algorithm 1): exp(-gamma) is
// exp(-1)^floor(gamma) * exp(-(gamma - floor(gamma))).
bool BernoulliExp(SecureRandom& rng, u128 num, u128 den) {
  for (u128 whole = num / den; whole > 0; --whole)
    if (!BernoulliExpAtMostOne(rng, 1, 1)) return false;
  return BernoulliExpAtMostOne(rng, num % den, den);
}

// Discrete Laplace with scale num/den (Algorithm 2): a geometric magnitude with success
// probability 1 - exp(-den/num), built from a uniform remainder u in [0, num) accepted with
// probability exp(-u/num) plus num times a Geometric(1 - e^-1) count, divided by den; and a
// uniform sign, rejecting "-0" so that 0 is not counted twice.
int64_t DiscreteLaplace(SecureRandom& rng, uint64_t num, uint64_t den) {
  for (;;) {
    const uint64_t u = rng.UniformBelow(num);
    if (!BernoulliExp(rng, u, num)) continue;
    u128 v = 0;
    while (BernoulliExpAtMostOne(rng, 1, 1)) ++v;
    const u128 magnitude = (v * num + u) / den;
    const bool negative = rng.NextUint64() & 1;
    if (negative && magnitude == 0) continue;
    // Beyond int64 is reachable only with probability far below e^-100; resample.
    if (magnitude > static_cast<u128>(std::numeric_limits<int64_t>::max())) continue;
    const auto m = static_cast<int64_t>(magnitude);
    return negative ? -m : m;
  }
}

// floor(sqrt(p / q)), exactly.
uint64_t FloorSqrtRatio(uint64_t p, uint64_t q) {
  auto t = static_cast<uint64_t>(std::sqrt(static_cast<double>(p) / static_cast<double>(q)));
  while (t > 0 && u128{t} * t * q > p) --t;
  while (u128{t + 1} * (t + 1) * q <= p) ++t;
  return t;
}

Status CheckRational(const char* name, Rational r, bool allow_zero) {
  if (r.denominator == 0) return InvalidArgument(name, ": denominator must be > 0");
  if (!allow_zero && r.numerator == 0) return InvalidArgument(name, " must be > 0, got 0");
  if (r.numerator > kMaxParameter || r.denominator > kMaxParameter)
    return InvalidArgument(name, ": numerator and denominator must be at most 2^56, got ",
                           r.numerator, "/", r.denominator);
  return Status::OK();
}

}  // namespace

Result<Rational> RationalFromDouble(double x) {
  if (!std::isfinite(x) || x < 0 || x > static_cast<double>(kMaxParameter))
    return InvalidArgument("expected a finite number in [0, 2^56], got ", x);
  // The largest power-of-two denominator (up to 2^56) keeping the numerator within 2^56.
  int shift = 56;
  while (shift > 0 && std::ldexp(x, shift) > static_cast<double>(kMaxParameter)) --shift;
  uint64_t num = static_cast<uint64_t>(std::llround(std::ldexp(x, shift)));
  uint64_t den = uint64_t{1} << shift;
  while (num % 2 == 0 && den > 1) {
    num /= 2;
    den /= 2;
  }
  if (num == 0) den = 1;
  return Rational{num, den};
}

Result<bool> SampleBernoulliExp(SecureRandom& rng, Rational gamma) {
  if (gamma.denominator == 0) return InvalidArgument("gamma: denominator must be > 0");
  return BernoulliExp(rng, gamma.numerator, gamma.denominator);
}

Result<int64_t> SampleDiscreteLaplace(SecureRandom& rng, Rational scale) {
  PE_RETURN_IF_ERROR(CheckRational("discrete Laplace scale", scale, false));
  return DiscreteLaplace(rng, scale.numerator, scale.denominator);
}

Result<int64_t> SampleDiscreteGaussian(SecureRandom& rng, Rational sigma_squared) {
  PE_RETURN_IF_ERROR(CheckRational("discrete Gaussian sigma^2", sigma_squared, true));
  const uint64_t p = sigma_squared.numerator, q = sigma_squared.denominator;
  if (p == 0) return int64_t{0};
  const uint64_t t = FloorSqrtRatio(p, q) + 1;
  const double sigma2 = static_cast<double>(p) / static_cast<double>(q);
  for (;;) {
    const int64_t candidate = DiscreteLaplace(rng, t, 1);
    const uint64_t x = candidate < 0 ? -static_cast<uint64_t>(candidate) : candidate;
    // Accept with probability exp(-(x - sigma^2/t)^2 / (2 sigma^2)); as a rational that is
    // (x t q - p)^2 / (2 p q t^2). Past the e^-2000 cut x <= ~65 sigma + 1, so |x t q - p| < 2^64
    // and its square fits in 128 bits (p, q <= 2^56).
    const double approx = static_cast<double>(x) - sigma2 / static_cast<double>(t);
    if (approx * approx / (2 * sigma2) > kMaxExponent) continue;
    const i128 diff = static_cast<i128>(u128{x} * t * q) - static_cast<i128>(p);
    const u128 abs_diff = static_cast<u128>(diff < 0 ? -diff : diff);
    const u128 exponent_den = u128{2} * p * q * t * t;
    if (BernoulliExp(rng, abs_diff * abs_diff, exponent_den)) return candidate;
  }
}

Status AddDiscreteGaussianNoise(std::span<int64_t> values, Rational sigma_squared,
                                SecureRandom& rng) {
  PE_RETURN_IF_ERROR(CheckRational("discrete Gaussian sigma^2", sigma_squared, true));
  for (int64_t& v : values) {
    PE_ASSIGN_OR_RETURN(int64_t noise, SampleDiscreteGaussian(rng, sigma_squared));
    int64_t sum;
    if (__builtin_add_overflow(v, noise, &sum))
      sum = noise > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    v = sum;
  }
  return Status::OK();
}

}  // namespace privedge::privacy
