// Stochastic and conditional rounding of scaled updates to integers (distributed DP).
#include <cmath>

#include "privacy/validate.h"
#include "privedge/privacy.h"

namespace privedge::privacy {

Result<double> ConditionalRoundingBound(double scaled_norm, size_t dimension, double beta) {
  if (!(std::isfinite(scaled_norm) && scaled_norm >= 0))
    return InvalidArgument("scaled clip norm must be a finite number >= 0, got ", scaled_norm);
  if (dimension == 0) return InvalidArgument("dimension must be >= 1, got 0");
  PE_RETURN_IF_ERROR(internal::CheckInRange("beta", beta, 0, 1, false, false));
  const double c = scaled_norm, d = static_cast<double>(dimension), sd = std::sqrt(d);
  const double tight = c * c + d / 4 + std::sqrt(2 * std::log(1 / beta)) * (c + sd / 2);
  const double loose = (c + sd) * (c + sd);
  return std::sqrt(std::min(tight, loose));
}

Result<std::vector<int64_t>> QuantizeStochastic(std::span<const float> values, double scale,
                                                double norm_bound, SecureRandom& rng) {
  PE_RETURN_IF_ERROR(internal::CheckPositive("quantization scale", scale));
  PE_RETURN_IF_ERROR(internal::CheckPositive("quantization norm bound", norm_bound));
  constexpr double kLimit = 4503599627370496.0;  // 2^52: floor() and the fraction stay exact
  std::vector<double> floors(values.size()), fractions(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double x = static_cast<double>(values[i]) * scale;
    if (!std::isfinite(x) || std::abs(x) > kLimit)
      return InvalidArgument("element ", i, " scaled by ", scale, " is ", x,
                             ", expected a finite value within 2^52");
    floors[i] = std::floor(x);
    fractions[i] = x - floors[i];
  }
  const double bound_squared = norm_bound * norm_bound;
  std::vector<int64_t> out(values.size());
  for (int attempt = 0; attempt < 1000; ++attempt) {
    double norm_squared = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      const double r = floors[i] + (rng.UniformDouble() < fractions[i] ? 1.0 : 0.0);
      out[i] = static_cast<int64_t>(r);
      norm_squared += r * r;
    }
    if (norm_squared <= bound_squared) return out;
  }
  return ResourceExhausted("1000 stochastic roundings all exceeded the L2 bound ", norm_bound,
                           ": the update was not clipped to the norm the bound was computed for");
}

Result<double> AdaptiveClipUpdateNoiseMultiplier(double total_noise_multiplier,
                                                 double count_stddev) {
  PE_RETURN_IF_ERROR(internal::CheckPositive("noise multiplier", total_noise_multiplier));
  PE_RETURN_IF_ERROR(internal::CheckPositive("clipped-count noise stddev", count_stddev));
  const double z = total_noise_multiplier, count_z = 2 * count_stddev;
  if (!(count_z > z))
    return InvalidArgument("adaptive clipping: 2 x clipped-count noise stddev (", count_z,
                           ") must exceed the noise multiplier (", z,
                           "), or the count alone spends the round's budget");
  return 1 / std::sqrt(1 / (z * z) - 1 / (count_z * count_z));
}

double NextAdaptiveClipNorm(double clip, double noised_unclipped_fraction, double target_quantile,
                            double learning_rate) {
  return clip * std::exp(-learning_rate * (noised_unclipped_fraction - target_quantile));
}

}  // namespace privedge::privacy
