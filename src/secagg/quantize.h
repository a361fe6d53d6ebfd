// Quantization of model updates for secure aggregation: clip, stochastic rounding to integers
// mod 2^b, the weight prepended so the server can compute a weighted FedAvg mean.
//
//   secagg::QuantizationParams q{.clip = 1.0, .bits = 32, .max_clients = 1000,
//                                .max_weight = 64};
//   PE_ASSIGN_OR_RETURN(auto ints, secagg::Quantize(update, /*weight=*/examples, q, seed));
//   ... secure aggregation sums `ints` of every surviving device mod 2^b ...
//   PE_ASSIGN_OR_RETURN(auto mean, secagg::DequantizeWeightedMean(sum, q));
//
// A device with integer weight w (e.g. its example count, capped at max_weight) sends
// [w, w*q_1, ..., w*q_d] where q_i in [0, L] is x_i clipped to [-clip, clip], mapped to [0, L]
// and rounded up with probability equal to its fraction (unbiased). L = LevelsFor(params) =
// floor((2^b - 1) / (max_clients * max_weight)), so a sum over at most max_clients devices is
// at most 2^b - 1 in every coordinate: it never wraps. The mean is
//   x_i = (sum_u w_u q_ui) / (sum_u w_u) / L * 2 clip - clip.
// ChooseBits gives the smallest b for a wanted number of levels. Thread-safety: reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "privedge/status.h"

namespace privedge::secagg {

struct QuantizationParams {
  double clip = 1.0;         // values are clipped to [-clip, clip]
  uint32_t bits = 32;        // b: the aggregation works mod 2^b (1..64)
  uint32_t max_clients = 0;  // an upper bound on the devices summed in one round
  uint32_t max_weight = 1;   // an upper bound on a device's integer weight
};

// L for these parameters; an error when b is too small to give even one level (b too small
// for max_clients * max_weight), or a parameter is out of range.
Result<uint64_t> LevelsFor(const QuantizationParams& params);

// The smallest b (<= 64) with LevelsFor >= `levels`. Errors when even b = 64 is too small.
Result<uint32_t> ChooseBits(uint32_t max_clients, uint32_t max_weight, uint64_t levels);

// [weight, weight*q_1, ..., weight*q_d]. The rounding coins are AES-CTR bits of `seed` (pass
// a fresh random seed per call). Errors: weight outside 0..max_weight, non-finite values.
Result<std::vector<uint64_t>> Quantize(std::span<const float> values, uint32_t weight,
                                       const QuantizationParams& params,
                                       const std::array<uint8_t, 32>& seed);

// The weighted mean from an aggregated [sum w, sum w*q_1, ...]. Errors: empty input, zero
// total weight, a coordinate above total weight * L (not a sum of quantized inputs).
Result<std::vector<double>> DequantizeWeightedMean(std::span<const uint64_t> sum,
                                                   const QuantizationParams& params);

}  // namespace privedge::secagg
