#include "secagg/quantize.h"

#include <algorithm>
#include <cmath>

#include "crypto/prg.h"

namespace privedge::secagg {

namespace {

uint64_t MaxValue(uint32_t bits) { return bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

}  // namespace

Result<uint64_t> LevelsFor(const QuantizationParams& p) {
  if (p.bits < 1 || p.bits > 64) return InvalidArgument("quantization bits ", p.bits, " not 1..64");
  if (p.max_clients == 0 || p.max_weight == 0) {
    return InvalidArgument("quantization: max_clients and max_weight must be positive");
  }
  if (!(p.clip > 0) || !std::isfinite(p.clip)) {
    return InvalidArgument("quantization clip ", p.clip, " must be positive and finite");
  }
  const uint64_t per_device = MaxValue(p.bits) / p.max_clients / p.max_weight;
  if (per_device < 1) {
    return InvalidArgument("quantization: 2^", p.bits, " is too small for ", p.max_clients,
                           " clients of weight up to ", p.max_weight, " (sum could wrap)");
  }
  // Values lie in [0, L]; a sum of max_clients of them, each times a weight <= max_weight,
  // is at most MaxValue(bits).
  return per_device;
}

Result<uint32_t> ChooseBits(uint32_t max_clients, uint32_t max_weight, uint64_t levels) {
  for (uint32_t b = 1; b <= 64; ++b) {
    auto l =
        LevelsFor({.clip = 1, .bits = b, .max_clients = max_clients, .max_weight = max_weight});
    if (l.ok() && *l >= levels) return b;
  }
  return InvalidArgument("no modulus 2^b with b <= 64 gives ", levels, " levels for ", max_clients,
                         " clients of weight up to ", max_weight);
}

Result<std::vector<uint64_t>> Quantize(std::span<const float> values, uint32_t weight,
                                       const QuantizationParams& params,
                                       const std::array<uint8_t, 32>& seed) {
  PE_ASSIGN_OR_RETURN(const uint64_t levels, LevelsFor(params));
  if (weight > params.max_weight) {
    return InvalidArgument("quantization weight ", weight, " above max_weight ", params.max_weight);
  }
  std::vector<uint64_t> coins(values.size());
  PE_RETURN_IF_ERROR(crypto::AddPrgMask(seed, 64, false, coins));
  std::vector<uint64_t> out(values.size() + 1);
  out[0] = weight;
  const double scale = static_cast<double>(levels) / (2 * params.clip);
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return InvalidArgument("quantization: value ", i, " is not finite (", values[i], ")");
    }
    const double x = std::clamp(static_cast<double>(values[i]), -params.clip, params.clip);
    const double v = std::clamp((x + params.clip) * scale, 0.0, static_cast<double>(levels));
    uint64_t q = static_cast<uint64_t>(std::floor(v));
    const double frac = v - static_cast<double>(q);
    // Round up with probability frac (53 random bits against the fraction).
    if (q < levels && static_cast<double>(coins[i] >> 11) * 0x1p-53 < frac) ++q;
    out[i + 1] = q * weight;
  }
  return out;
}

Result<std::vector<double>> DequantizeWeightedMean(std::span<const uint64_t> sum,
                                                   const QuantizationParams& params) {
  PE_ASSIGN_OR_RETURN(const uint64_t levels, LevelsFor(params));
  if (sum.empty()) return InvalidArgument("dequantize: empty aggregate (no weight element)");
  const uint64_t total_weight = sum[0];
  if (total_weight == 0) return InvalidArgument("dequantize: total weight is zero");
  std::vector<double> out(sum.size() - 1);
  const double w = static_cast<double>(total_weight);
  for (size_t i = 1; i < sum.size(); ++i) {
    if (sum[i] / levels > total_weight || (sum[i] / levels == total_weight && sum[i] % levels)) {
      return InvalidArgument("dequantize: coordinate ", i - 1, " = ", sum[i],
                             " exceeds total weight * levels; not a sum of quantized inputs");
    }
    out[i - 1] = static_cast<double>(sum[i]) / w / static_cast<double>(levels) * 2 * params.clip -
                 params.clip;
  }
  return out;
}

}  // namespace privedge::secagg
