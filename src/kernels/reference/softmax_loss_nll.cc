// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
#include <string>

#include "kernels/kernel_util.h"
#include "kernels/reference/reduction_common.h"

namespace privedge {
namespace {

// Validated inputs of a loss over log-probabilities of shape [N, C, d1, ..., dk].
struct LossInputs {
  int64_t n = 0, c = 0, d = 0;  // d = d1 * ... * dk
  std::vector<int64_t> target;  // [N, d1, ..., dk]
  Shape target_shape;
  std::vector<double> weight;   // [C], empty when not given
  bool has_ignore = false;
  int64_t ignore_index = 0;
  std::string reduction;
};

Result<LossInputs> ReadLossInputs(const KernelContext& ctx, const Tensor& x) {
  LossInputs li;
  if (x.rank() < 2) return ctx.Error("input must be [N, C, ...], got ", ShapeToString(x.shape()));
  PE_ASSIGN_OR_RETURN(const Tensor* target, ctx.RequireInput(1));
  Shape expected = x.shape();
  expected.erase(expected.begin() + 1);
  if (!IsIntegerDType(target->dtype()) || target->shape() != expected)
    return ctx.Error("target must be an integer tensor of shape ", ShapeToString(expected),
                     ", got ", DTypeName(target->dtype()), " ", ShapeToString(target->shape()));
  li.n = x.dim(0);
  li.c = x.dim(1);
  li.d = DimProduct(x.shape(), 2, x.rank());
  li.target = ToInt64Vector(*target);
  li.target_shape = target->shape();
  if (const Tensor* w = ctx.input(2)) {
    if (w->dtype() != x.dtype() || w->shape() != Shape{li.c})
      return ctx.Error("weight must be ", DTypeName(x.dtype()), " [", li.c, "], got ",
                       DTypeName(w->dtype()), " ", ShapeToString(w->shape()));
    li.weight = ToDoubleVector(*w);
  }
  li.has_ignore = ctx.has_attr("ignore_index");
  li.ignore_index = ctx.attr_int("ignore_index", 0);
  li.reduction = ctx.attr_string("reduction", "mean");
  if (li.reduction != "none" && li.reduction != "sum" && li.reduction != "mean")
    return ctx.Error("reduction must be none, sum or mean, got '", li.reduction, "'");
  return li;
}

// loss[n, d] = -log_prob[n, target[n, d], d] * weight[target[n, d]]; ignored targets count
// neither in the loss nor in the weight total that "mean" divides by.
Status WriteNllLoss(KernelContext& ctx, DType dtype, const LossInputs& li,
                    const std::vector<double>& log_prob) {
  std::vector<double> loss(static_cast<size_t>(li.n * li.d), 0.0);
  double loss_sum = 0, weight_sum = 0;
  for (int64_t n = 0; n < li.n; ++n) {
    for (int64_t d = 0; d < li.d; ++d) {
      const int64_t t = li.target[n * li.d + d];
      if (li.has_ignore && t == li.ignore_index) continue;
      if (t < 0 || t >= li.c)
        return ctx.Error("target value ", t, " at flat index ", n * li.d + d,
                         " is out of range [0, ", li.c, ")");
      const double w = li.weight.empty() ? 1.0 : li.weight[t];
      loss[n * li.d + d] = -log_prob[(n * li.c + t) * li.d + d] * w;
      loss_sum += loss[n * li.d + d];
      weight_sum += w;
    }
  }
  Shape out_shape;
  if (li.reduction == "none") {
    out_shape = li.target_shape;
  } else {
    loss = {li.reduction == "sum" ? loss_sum : loss_sum / weight_sum};
  }
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, dtype, out_shape));
  return StoreDoubles(loss, out);
}

Status NegativeLogLikelihoodLoss(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (!IsFloatingDType(x->dtype()))
    return ctx.Error("input must be a float tensor, got ", DTypeName(x->dtype()));
  PE_ASSIGN_OR_RETURN(LossInputs li, ReadLossInputs(ctx, *x));
  return WriteNllLoss(ctx, x->dtype(), li, ToDoubleVector(*x));
}

Status SoftmaxCrossEntropyLoss(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (!IsFloatingDType(x->dtype()))
    return ctx.Error("scores must be a float tensor, got ", DTypeName(x->dtype()));
  PE_ASSIGN_OR_RETURN(LossInputs li, ReadLossInputs(ctx, *x));
  AxisView classes;
  classes.axis = 1;
  classes.outer = li.n;
  classes.dim = li.c;
  classes.inner = li.d;
  std::vector<double> log_prob = ApplySoftmax(SoftmaxKind::kLogSoftmax, classes,
                                              ToDoubleVector(*x));
  if (ctx.wants_output(1)) {
    PE_ASSIGN_OR_RETURN(Tensor * lp, ctx.AllocateOutput(1, x->dtype(), x->shape()));
    PE_RETURN_IF_ERROR(StoreDoubles(log_prob, lp));
  }
  return WriteNllLoss(ctx, x->dtype(), li, log_prob);
}

}  // namespace

void RegisterLossKernels(KernelRegistry& r) {
  r.Add("NegativeLogLikelihoodLoss", NegativeLogLikelihoodLoss);
  r.Add("SoftmaxCrossEntropyLoss", SoftmaxCrossEntropyLoss);
}

}  // namespace privedge
