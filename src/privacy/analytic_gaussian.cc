// Analytic Gaussian calibration (Balle and Wang 2018).
#include <cmath>

#include "privacy/log_math.h"
#include "privacy/validate.h"
#include "privedge/privacy.h"

namespace privedge::privacy {
namespace {

// The smallest delta for which N(0, sigma^2) noise on a sensitivity-1 query is
// (epsilon, delta)-DP: Phi(1/(2 sigma) - epsilon sigma) - e^epsilon Phi(-1/(2 sigma) - epsilon
// sigma). The second term is formed in log space so that a large epsilon cannot overflow it.
double GaussianDelta(double epsilon, double sigma) {
  const double a = 1 / (2 * sigma), b = epsilon * sigma;
  const double first = std::exp(internal::LogNormalCdf(a - b));
  const double second = std::exp(epsilon + internal::LogNormalCdf(-a - b));
  return first - second;
}

}  // namespace

Result<double> AnalyticGaussianSigma(double epsilon, double delta, double sensitivity) {
  PE_RETURN_IF_ERROR(internal::CheckPositive("epsilon", epsilon));
  PE_RETURN_IF_ERROR(internal::CheckInRange("delta", delta, 0, 1, false, false));
  PE_RETURN_IF_ERROR(internal::CheckPositive("sensitivity", sensitivity));
  // GaussianDelta falls from 1 towards 0 as sigma grows; bracket the crossing, then bisect.
  double lo = 1, hi = 1;
  while (GaussianDelta(epsilon, lo) <= delta && lo > 1e-300) lo /= 2;
  while (GaussianDelta(epsilon, hi) > delta) {
    hi *= 2;
    if (hi > 1e300) return OutOfRange("no sigma reaches epsilon ", epsilon, ", delta ", delta);
  }
  while (hi - lo > 1e-12 * hi) {
    const double mid = 0.5 * (lo + hi);
    (GaussianDelta(epsilon, mid) <= delta ? hi : lo) = mid;
  }
  // The condition is for sensitivity 1; sigma scales linearly with the sensitivity.
  return sensitivity * hi;
}

}  // namespace privedge::privacy
