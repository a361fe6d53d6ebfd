// Continuous Gaussian noise: Box-Muller on 53-bit uniforms from SecureRandom.
#include <cmath>
#include <utility>

#include "privedge/privacy.h"

namespace privedge::privacy {
namespace {

// Two independent N(0, 1) samples.
std::pair<double, double> StandardNormalPair(SecureRandom& rng) {
  // u1 in (0, 1] so that log(u1) is finite; u2 in [0, 1).
  const double u1 = static_cast<double>((rng.NextUint64() >> 11) + 1) * 0x1.0p-53;
  const double u2 = rng.UniformDouble();
  const double r = std::sqrt(-2 * std::log(u1));
  const double theta = 2 * M_PI * u2;
  return {r * std::cos(theta), r * std::sin(theta)};
}

}  // namespace

double SampleGaussian(SecureRandom& rng, double stddev) {
  return stddev * StandardNormalPair(rng).first;
}

Status AddGaussianNoise(std::span<float> values, double stddev, SecureRandom& rng) {
  if (!(std::isfinite(stddev) && stddev >= 0))
    return InvalidArgument("noise standard deviation must be a finite number >= 0, got ", stddev);
  for (size_t i = 0; i < values.size(); i += 2) {
    const auto [a, b] = StandardNormalPair(rng);
    values[i] = static_cast<float>(values[i] + stddev * a);
    if (i + 1 < values.size()) values[i + 1] = static_cast<float>(values[i + 1] + stddev * b);
  }
  return Status::OK();
}

}  // namespace privedge::privacy
