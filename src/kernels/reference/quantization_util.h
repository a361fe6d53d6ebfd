// Helpers shared by the quantization kernels (quantization.cc, quantization_conv.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel.h"

namespace privedge {

void RegisterQuantizedConvKernels(KernelRegistry& r);  // quantization_conv.cc

namespace quant {

// Integer range of a quantized type (int8, uint8, int16, uint16), or an error.
struct QuantRange {
  double lo = 0, hi = 0;
};
Result<QuantRange> RangeOf(const KernelContext& ctx, DType t);

// Rounds half to even and clamps to `range`; NaN becomes 0.
double RoundSaturate(double v, QuantRange range);

// An int32 accumulator scaled by `multiplier` (computed in float, like the real-valued scale
// ratio), offset by the zero point, rounded and saturated.
double Requantize(int64_t acc, float multiplier, int64_t zero_point, QuantRange range);

// A scale and optional zero point that apply per tensor (one value) or per slice of one axis.
struct QuantParams {
  std::vector<double> scale;
  std::vector<int64_t> zero_point;  // same length as scale; zeros when absent
  DType zero_point_type = DType::kUndefined;
  int64_t axis_extent = 1;          // 1 for per-tensor
  int64_t inner = 1;                // elements per step along the axis
  int64_t IndexOf(int64_t i) const { return axis_extent == 1 ? 0 : (i / inner) % axis_extent; }
};

// Reads inputs `scale_input`/`zp_input` as parameters for quantizing a tensor of shape `data`
// along the node's `axis` attribute (default 1) when the scale is 1-D with more than one value.
Result<QuantParams> ReadQuantParams(const KernelContext& ctx, const Shape& data, int scale_input,
                                    int zp_input);

// Scale or zero point of a quantized matmul/conv operand: one value, or `per` values
// (per output channel, per row or per column), expanded to `per` values. Absent zero points
// are 0; present ones must have `data_type` unless it is kUndefined.
Result<std::vector<double>> ReadScales(const KernelContext& ctx, int input, int64_t per);
Result<std::vector<int32_t>> ReadZeroPoints(const KernelContext& ctx, int input, int64_t per,
                                            DType data_type);

// An 8-bit (or int32) integer tensor widened to int32.
Result<std::vector<int32_t>> ToInt32(const KernelContext& ctx, const Tensor& t, const char* name);

}  // namespace quant
}  // namespace privedge
