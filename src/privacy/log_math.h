// Log-space arithmetic for the accountant: sums of terms too small or too large for doubles.
#pragma once

#include <cmath>
#include <limits>
#include <utility>

namespace privedge::privacy::internal {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log(e^a + e^b).
inline double LogAdd(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf) return a;
  return a + std::log1p(std::exp(b - a));
}

// log(e^a - e^b) for a >= b; -infinity when the difference is zero or (by rounding) negative.
inline double LogSub(double a, double b) {
  if (b == kNegInf) return a;
  if (b >= a) return kNegInf;
  return a + std::log(-std::expm1(b - a));
}

// log(erfc(x)), accurate where erfc(x) nears underflow (x >= 26): there the asymptotic series
// erfc(x) ~ e^(-x^2) / (x sqrt(pi)) * (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + ...), whose log
// expansion is the one TensorFlow Privacy uses.
inline double LogErfc(double x) {
  if (x < 26) return std::log(std::erfc(x));  // erfc(26) ~ 1e-296: still a normal double
  return -std::log(M_PI) / 2 - std::log(x) - x * x - 0.5 / (x * x) + 0.625 / std::pow(x, 4) -
         37.0 / 24.0 / std::pow(x, 6) + 353.0 / 64.0 / std::pow(x, 8);
}

// log(Phi(x)), Phi the standard normal CDF.
inline double LogNormalCdf(double x) { return std::log(0.5) + LogErfc(-x / std::sqrt(2.0)); }

}  // namespace privedge::privacy::internal
