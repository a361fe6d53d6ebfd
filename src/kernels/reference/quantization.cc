// Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear and
// QLinearMatMul. The quantized convolutions live in quantization_conv.cc.
//
// Arithmetic follows the real-valued definitions in the ONNX spec with float intermediates
// (as the spec's reference does), rounding half to even and saturating to the output type.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/conv_pool_util.h"
#include "kernels/reference/families.h"
#include "kernels/reference/quantization_util.h"

namespace privedge {
namespace quant {

Result<QuantRange> RangeOf(const KernelContext& ctx, DType t) {
  switch (t) {
    case DType::kInt8: return QuantRange{-128, 127};
    case DType::kUInt8: return QuantRange{0, 255};
    case DType::kInt16: return QuantRange{-32768, 32767};
    case DType::kUInt16: return QuantRange{0, 65535};
    default:
      return ctx.Error("quantized type must be int8, uint8, int16 or uint16, got ", DTypeName(t));
  }
}

double RoundSaturate(double v, QuantRange range) {
  if (std::isnan(v)) return 0;
  return std::clamp(std::nearbyint(v), range.lo, range.hi);
}

double Requantize(int64_t acc, float multiplier, int64_t zero_point, QuantRange range) {
  const float real = static_cast<float>(acc) * multiplier;
  return RoundSaturate(static_cast<double>(std::nearbyint(real)) + static_cast<double>(zero_point),
                       range);
}

Result<QuantParams> ReadQuantParams(const KernelContext& ctx, const Shape& data, int scale_input,
                                    int zp_input) {
  PE_ASSIGN_OR_RETURN(const Tensor* scale, ctx.RequireInput(scale_input));
  if (!IsFloatingDType(scale->dtype()))
    return ctx.Error("scale must be a float tensor, got ", DTypeName(scale->dtype()));
  QuantParams q;
  q.scale = ToDoubleVector(*scale);
  if (scale->numel() != 1 || scale->rank() > 1) {
    if (scale->rank() != 1)
      return ctx.Error("scale must be a scalar or 1-D, got shape ", ShapeToString(scale->shape()));
    PE_ASSIGN_OR_RETURN(int64_t axis,
                        NormalizeAxis(ctx.attr_int("axis", 1), static_cast<int64_t>(data.size())));
    if (data.empty() || scale->numel() != data[axis])
      return ctx.Error("per-axis scale of ", scale->numel(), " values does not match axis ", axis,
                       " of the data shape ", ShapeToString(data));
    q.axis_extent = data[axis];
    q.inner = ShapeElementCount(Shape(data.begin() + axis + 1, data.end()));
  }
  q.zero_point.assign(q.scale.size(), 0);
  if (const Tensor* zp = ctx.input(zp_input)) {
    if (zp->numel() != scale->numel())
      return ctx.Error("zero point shape ", ShapeToString(zp->shape()),
                       " must match the scale shape ", ShapeToString(scale->shape()));
    q.zero_point = ToInt64Vector(*zp);
    q.zero_point_type = zp->dtype();
  }
  return q;
}

Result<std::vector<double>> ReadScales(const KernelContext& ctx, int input, int64_t per) {
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(input));
  if (!IsFloatingDType(t->dtype()) || t->rank() > 1 || (t->numel() != 1 && t->numel() != per))
    return ctx.Error("input ", input, " must be a float scale with 1 or ", per,
                     " values, got ", DTypeName(t->dtype()), " ", ShapeToString(t->shape()));
  std::vector<double> v = ToDoubleVector(*t);
  if (v.size() == 1) v.assign(static_cast<size_t>(per), v[0]);
  return v;
}

Result<std::vector<int32_t>> ReadZeroPoints(const KernelContext& ctx, int input, int64_t per,
                                            DType data_type) {
  const Tensor* t = ctx.input(input);
  if (!t) return std::vector<int32_t>(static_cast<size_t>(per), 0);
  if ((data_type != DType::kUndefined && t->dtype() != data_type) || t->rank() > 1 ||
      (t->numel() != 1 && t->numel() != per))
    return ctx.Error("input ", input, " must be a zero point of type ", DTypeName(data_type),
                     " with 1 or ", per, " values, got ", DTypeName(t->dtype()), " ",
                     ShapeToString(t->shape()));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> v, ToInt32(ctx, *t, "zero point"));
  if (v.size() == 1) v.assign(static_cast<size_t>(per), v[0]);
  return v;
}

Result<std::vector<int32_t>> ToInt32(const KernelContext& ctx, const Tensor& t, const char* name) {
  const DType dt = t.dtype();
  if (dt != DType::kInt8 && dt != DType::kUInt8 && dt != DType::kInt32)
    return ctx.Error(name, " must be int8, uint8 or int32, got ", DTypeName(dt));
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  PE_RETURN_IF_ERROR(DispatchInteger(dt, [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* d = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = static_cast<int32_t>(d[i]);
    return Status::OK();
  }));
  return v;
}

}  // namespace quant

namespace {

using convpool::WriteDoubles;

// Float arithmetic of the quantization formulas: double stays double, the rest use float.
template <class T>
using QuantFloat = std::conditional_t<std::is_same_v<T, double>, double, float>;

Status QuantizeLinear(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(quant::QuantParams q, quant::ReadQuantParams(ctx, x->shape(), 1, 2));
  const DType out_type =
      q.zero_point_type == DType::kUndefined ? DType::kUInt8 : q.zero_point_type;
  PE_ASSIGN_OR_RETURN(quant::QuantRange range, quant::RangeOf(ctx, out_type));
  std::vector<double> y(static_cast<size_t>(x->numel()));
  PE_RETURN_IF_ERROR(DispatchFloat(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using F = QuantFloat<T>;
    const T* xd = x->data<T>();
    for (int64_t i = 0; i < x->numel(); ++i) {
      const int64_t k = q.IndexOf(i);
      const F v = static_cast<F>(xd[i]) / static_cast<F>(q.scale[k]);
      y[i] = quant::RoundSaturate(static_cast<double>(std::nearbyint(v)) +
                                      static_cast<double>(q.zero_point[k]),
                                  range);
    }
    return Status::OK();
  }));
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, out_type, x->shape()));
  return WriteDoubles(y, yt);
}

Status DequantizeLinear(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> xv, quant::ToInt32(ctx, *x, "x"));
  PE_ASSIGN_OR_RETURN(quant::QuantParams q, quant::ReadQuantParams(ctx, x->shape(), 1, 2));
  if (q.zero_point_type != DType::kUndefined && q.zero_point_type != x->dtype())
    return ctx.Error("x_zero_point must have x's type ", DTypeName(x->dtype()), ", got ",
                     DTypeName(q.zero_point_type));
  const DType out_type = ctx.input(1)->dtype();
  std::vector<double> y(xv.size());
  PE_RETURN_IF_ERROR(DispatchFloat(out_type, [&](auto tag) -> Status {
    using F = QuantFloat<decltype(tag)>;
    for (size_t i = 0; i < xv.size(); ++i) {
      const int64_t k = q.IndexOf(static_cast<int64_t>(i));
      y[i] = static_cast<F>(static_cast<int64_t>(xv[i]) - q.zero_point[k]) *
             static_cast<F>(q.scale[k]);
    }
    return Status::OK();
  }));
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, out_type, x->shape()));
  return WriteDoubles(y, yt);
}

// uint8 quantization with a scale and zero point chosen so [min(x, 0), max(x, 0)] fits.
Status DynamicQuantizeLinear(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->dtype() != DType::kFloat32)
    return ctx.Error("x must be float32, got ", DTypeName(x->dtype()));
  const float* xd = x->data<float>();
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < x->numel(); ++i) {
    if (std::isnan(xd[i])) continue;
    lo = std::min(lo, xd[i]);
    hi = std::max(hi, xd[i]);
  }
  const quant::QuantRange range{0, 255};
  const float scale = (hi - lo) / 255.0f;
  // All-zero input: any scale works; keep 0 and avoid dividing by it.
  const double zp = scale > 0 ? quant::RoundSaturate((0.0f - lo) / scale, range) : 0.0;
  std::vector<double> y(static_cast<size_t>(x->numel()), 0.0);
  if (scale > 0) {
    for (int64_t i = 0; i < x->numel(); ++i)
      y[i] = quant::RoundSaturate(static_cast<double>(std::nearbyint(xd[i] / scale)) + zp, range);
  }
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, DType::kUInt8, x->shape()));
  PE_RETURN_IF_ERROR(WriteDoubles(y, yt));
  if (ctx.wants_output(1)) ctx.set_output(1, Tensor::Scalar<float>(scale));
  if (ctx.wants_output(2)) ctx.set_output(2, Tensor::Scalar<uint8_t>(static_cast<uint8_t>(zp)));
  return Status::OK();
}

// Quantized numpy-style matmul: int32 accumulation of (a - a_zp) * (b - b_zp), requantized with
// a_scale * b_scale / y_scale. Scales and zero points are per tensor, per row of a, or per
// column of b.
Status QLinearMatMul(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequireInput(3));
  if (a->rank() < 1 || b->rank() < 1)
    return ctx.Error("a and b must have rank >= 1, got ", ShapeToString(a->shape()), " and ",
                     ShapeToString(b->shape()));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> av, quant::ToInt32(ctx, *a, "a"));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> bv, quant::ToInt32(ctx, *b, "b"));
  // Rank-1 operands are promoted to matrices (a row, b a column) as in numpy.
  Shape as = a->rank() == 1 ? Shape{1, a->dim(0)} : a->shape();
  Shape bs = b->rank() == 1 ? Shape{b->dim(0), 1} : b->shape();
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  if (bs[bs.size() - 2] != k)
    return ctx.Error("inner dimensions differ: a ", ShapeToString(a->shape()), ", b ",
                     ShapeToString(b->shape()));
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  PE_ASSIGN_OR_RETURN(Shape batch, BroadcastShapes({a_batch, b_batch}));

  PE_ASSIGN_OR_RETURN(std::vector<double> a_scale, quant::ReadScales(ctx, 1, m));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> a_zp, quant::ReadZeroPoints(ctx, 2, m, a->dtype()));
  PE_ASSIGN_OR_RETURN(std::vector<double> b_scale, quant::ReadScales(ctx, 4, n));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> b_zp, quant::ReadZeroPoints(ctx, 5, n, b->dtype()));
  PE_ASSIGN_OR_RETURN(std::vector<double> y_scale, quant::ReadScales(ctx, 6, 1));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> y_zp,
                      quant::ReadZeroPoints(ctx, 7, 1, DType::kUndefined));
  const DType out_type = ctx.input(7) ? ctx.input(7)->dtype() : DType::kUInt8;
  PE_ASSIGN_OR_RETURN(quant::QuantRange range, quant::RangeOf(ctx, out_type));

  Shape out_shape = batch;
  if (a->rank() > 1) out_shape.push_back(m);
  if (b->rank() > 1) out_shape.push_back(n);
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, out_type, out_shape));
  std::vector<double> y(static_cast<size_t>(yt->numel()));
  ForEachBroadcast(batch, {BroadcastStrides(a_batch, batch), BroadcastStrides(b_batch, batch)},
                   [&](int64_t o, const std::vector<int64_t>& off) {
                     const int32_t* am = av.data() + off[0] * m * k;
                     const int32_t* bm = bv.data() + off[1] * k * n;
                     double* ym = y.data() + o * m * n;
                     for (int64_t i = 0; i < m; ++i) {
                       for (int64_t j = 0; j < n; ++j) {
                         int64_t acc = 0;
                         for (int64_t t = 0; t < k; ++t)
                           acc += static_cast<int64_t>(am[i * k + t] - a_zp[i]) *
                                  (bm[t * n + j] - b_zp[j]);
                         const float mult = static_cast<float>(a_scale[i]) *
                                            static_cast<float>(b_scale[j]) /
                                            static_cast<float>(y_scale[0]);
                         ym[i * n + j] = quant::Requantize(acc, mult, y_zp[0], range);
                       }
                     }
                   });
  return WriteDoubles(y, yt);
}

}  // namespace

void RegisterQuantizationKernels(KernelRegistry& r) {
  r.Add("QuantizeLinear", QuantizeLinear);
  r.Add("DequantizeLinear", DequantizeLinear);
  r.Add("DynamicQuantizeLinear", DynamicQuantizeLinear);
  r.Add("QLinearMatMul", QLinearMatMul);
  RegisterQuantizedConvKernels(r);
}

}  // namespace privedge
