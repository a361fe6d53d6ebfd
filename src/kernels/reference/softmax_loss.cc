// Softmax, LogSoftmax and Hardmax. The losses are in softmax_loss_nll.cc and the training
// optimizers in softmax_loss_optimizers.cc.
#include <cmath>
#include <limits>

#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"
#include "kernels/reference/reduction_common.h"

namespace privedge {

std::vector<double> ApplySoftmax(SoftmaxKind kind, const AxisView& v,
                                 const std::vector<double>& in) {
  std::vector<double> out(in.size(), 0.0);
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t i = 0; i < v.inner; ++i) {
      // Subtracting the maximum keeps exp() from overflowing.
      double max = -std::numeric_limits<double>::infinity();
      int64_t argmax = 0;
      for (int64_t k = 0; k < v.dim; ++k) {
        const double x = in[v.Offset(o, k, i)];
        if (x > max) {
          max = x;
          argmax = k;
        }
      }
      if (kind == SoftmaxKind::kHardmax) {
        if (v.dim > 0) out[v.Offset(o, argmax, i)] = 1.0;
        continue;
      }
      double sum = 0;
      for (int64_t k = 0; k < v.dim; ++k) sum += std::exp(in[v.Offset(o, k, i)] - max);
      const double log_sum = std::log(sum);
      for (int64_t k = 0; k < v.dim; ++k) {
        const int64_t off = v.Offset(o, k, i);
        out[off] = kind == SoftmaxKind::kLogSoftmax ? in[off] - max - log_sum
                                                    : std::exp(in[off] - max) / sum;
      }
    }
  }
  return out;
}

namespace {

// Before opset 13 the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] with
// axis defaulting to 1; from 13 the operator works along the single axis, default -1.
Result<AxisView> SoftmaxView(const KernelContext& ctx, const Tensor& x) {
  if (ctx.opset() >= 13) return ViewAroundAxis(ctx, x, ctx.attr_int("axis", -1));
  const int64_t rank = static_cast<int64_t>(x.rank());
  int64_t axis = ctx.attr_int("axis", 1);
  if (axis < -rank || axis > rank)
    return ctx.Error("axis ", axis, " is out of range for rank ", rank, " (expected in [", -rank,
                     ", ", rank, "])");
  if (axis < 0) axis += rank;
  AxisView v;
  v.axis = axis;
  v.outer = DimProduct(x.shape(), 0, axis);
  v.dim = DimProduct(x.shape(), axis, rank);
  return v;
}

Status SoftmaxFamily(KernelContext& ctx, SoftmaxKind kind) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(AxisView v, SoftmaxView(ctx, *x));
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  if (!IsFloatingDType(x->dtype()))
    return ctx.Error("input must be a float tensor, got ", DTypeName(x->dtype()));
  return StoreDoubles(ApplySoftmax(kind, v, ToDoubleVector(*x)), out);
}

Status Softmax(KernelContext& ctx) { return SoftmaxFamily(ctx, SoftmaxKind::kSoftmax); }
Status LogSoftmax(KernelContext& ctx) { return SoftmaxFamily(ctx, SoftmaxKind::kLogSoftmax); }
Status Hardmax(KernelContext& ctx) { return SoftmaxFamily(ctx, SoftmaxKind::kHardmax); }

}  // namespace

void RegisterSoftmaxLossKernels(KernelRegistry& r) {
  r.Add("Softmax", Softmax);
  r.Add("LogSoftmax", LogSoftmax);
  r.Add("Hardmax", Hardmax);
  RegisterLossKernels(r);
  RegisterOptimizerKernels(r);
}

}  // namespace privedge
