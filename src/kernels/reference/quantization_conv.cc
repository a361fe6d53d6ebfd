// Quantized convolutions: ConvInteger (int32 result) and QLinearConv (requantized result).
// Both run the shared convolution loop of conv_pool_util.h with int32 accumulation.
#include "kernels/reference/conv_pool_util.h"
#include "kernels/reference/quantization_util.h"

namespace privedge {
namespace {

using convpool::ConvSetup;

// Sum over the window of (x - x_zp) * (w - w_zp[m]) for every output element. Padding
// contributes 0, i.e. it stands for x_zp, as the spec requires.
Result<std::vector<int32_t>> IntegerConvolve(const KernelContext& ctx, const Tensor& x,
                                             int32_t x_zp, const Tensor& w,
                                             const std::vector<int32_t>& w_zp,
                                             const ConvSetup& s) {
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> xv, quant::ToInt32(ctx, x, "x"));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> wv, quant::ToInt32(ctx, w, "w"));
  const int64_t out_channels = s.dims.out_channels;
  const int64_t per_channel = out_channels > 0 ? w.numel() / out_channels : 0;
  for (int64_t i = 0; i < w.numel(); ++i) wv[i] -= w_zp[i / per_channel];
  std::vector<int32_t> acc(static_cast<size_t>(ShapeElementCount(s.output_shape)), 0);
  const convpool::TapMap map(s.geometry);
  convpool::ConvolveForward<int32_t>(
      s.dims, map, [&](int64_t i) { return xv[i] - x_zp; }, wv, acc.data());
  return acc;
}

Status ConvInteger(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* w, ctx.RequireInput(1));
  PE_ASSIGN_OR_RETURN(ConvSetup s, convpool::PrepareConv(ctx, x->shape(), w->shape()));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> x_zp, quant::ReadZeroPoints(ctx, 2, 1, x->dtype()));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> w_zp,
                      quant::ReadZeroPoints(ctx, 3, s.dims.out_channels, w->dtype()));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> acc, IntegerConvolve(ctx, *x, x_zp[0], *w, w_zp, s));
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, DType::kInt32, s.output_shape));
  std::copy(acc.begin(), acc.end(), y->data<int32_t>());
  return Status::OK();
}

Status QLinearConv(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* w, ctx.RequireInput(3));
  PE_ASSIGN_OR_RETURN(ConvSetup s, convpool::PrepareConv(ctx, x->shape(), w->shape()));
  const int64_t m = s.dims.out_channels;
  PE_ASSIGN_OR_RETURN(std::vector<double> x_scale, quant::ReadScales(ctx, 1, 1));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> x_zp, quant::ReadZeroPoints(ctx, 2, 1, x->dtype()));
  PE_ASSIGN_OR_RETURN(std::vector<double> w_scale, quant::ReadScales(ctx, 4, m));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> w_zp, quant::ReadZeroPoints(ctx, 5, m, w->dtype()));
  PE_ASSIGN_OR_RETURN(std::vector<double> y_scale, quant::ReadScales(ctx, 6, 1));
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> y_zp,
                      quant::ReadZeroPoints(ctx, 7, 1, DType::kUndefined));
  const DType out_type = ctx.input(7) ? ctx.input(7)->dtype() : DType::kUInt8;
  PE_ASSIGN_OR_RETURN(quant::QuantRange range, quant::RangeOf(ctx, out_type));
  std::vector<int32_t> bias(static_cast<size_t>(m), 0);
  if (const Tensor* b = ctx.input(8)) {
    if (b->dtype() != DType::kInt32 || b->rank() != 1 || b->numel() != m)
      return ctx.Error("B must be a 1-D int32 tensor of ", m, " values, got ",
                       DTypeName(b->dtype()), " ", ShapeToString(b->shape()));
    PE_ASSIGN_OR_RETURN(bias, quant::ToInt32(ctx, *b, "B"));
  }
  PE_ASSIGN_OR_RETURN(std::vector<int32_t> acc, IntegerConvolve(ctx, *x, x_zp[0], *w, w_zp, s));
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, out_type, s.output_shape));
  const int64_t plane = ShapeElementCount(s.geometry.cols);
  std::vector<double> y(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t ch = (static_cast<int64_t>(i) / plane) % m;
    const float mult = static_cast<float>(x_scale[0]) * static_cast<float>(w_scale[ch]) /
                       static_cast<float>(y_scale[0]);
    y[i] = quant::Requantize(static_cast<int64_t>(acc[i]) + bias[ch], mult, y_zp[0], range);
  }
  return convpool::WriteDoubles(y, yt);
}

}  // namespace

void RegisterQuantizedConvKernels(KernelRegistry& r) {
  r.Add("ConvInteger", ConvInteger);
  r.Add("QLinearConv", QLinearConv);
}

}  // namespace privedge
