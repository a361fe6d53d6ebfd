// Reduce* operators: fold a tensor over a set of axes. ArgMax/ArgMin, CumSum and TopK live in
// reduction_select.cc.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"
#include "kernels/reference/reduction_common.h"

namespace privedge {
namespace {

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Which input elements fold into each output element.
struct ReducePlan {
  bool noop = false;             // empty axes with noop_with_empty_axes: output = input
  Shape out_shape;
  std::vector<int64_t> bases;    // input offset of the first element of each output's group
  std::vector<int64_t> members;  // offsets of a group's elements relative to its base
};

// Axes come from input 1 for ReduceSum from opset 13 and for every Reduce* from opset 18;
// before that they are the "axes" attribute.
Result<std::vector<int64_t>> ReadAxes(const KernelContext& ctx, bool axes_from_input) {
  if (!axes_from_input) return ctx.attr_ints("axes");
  const Tensor* a = ctx.input(1);
  if (a == nullptr) return std::vector<int64_t>{};
  if (!IsIntegerDType(a->dtype()) || a->rank() > 1)
    return ctx.Error("axes must be a 1-D integer tensor, got ", DTypeName(a->dtype()), " ",
                     ShapeToString(a->shape()));
  return ToInt64Vector(*a);
}

Result<ReducePlan> PlanReduction(const KernelContext& ctx, const Tensor& x, bool axes_from_input) {
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadAxes(ctx, axes_from_input));
  const int64_t rank = static_cast<int64_t>(x.rank());
  ReducePlan plan;
  std::vector<bool> reduced(rank, axes.empty());
  if (axes.empty() && ctx.attr_int("noop_with_empty_axes", 0) != 0) {
    plan.noop = true;
    plan.out_shape = x.shape();
    return plan;
  }
  for (int64_t axis : axes) {
    if (rank == 0) break;  // a scalar has nothing to reduce
    Result<int64_t> a = NormalizeAxis(axis, rank);
    if (!a.ok()) return ctx.Error(a.status().message());
    if (reduced[*a]) return ctx.Error("axis ", axis, " is listed more than once in axes");
    reduced[*a] = true;
  }
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  std::vector<int64_t> kept_axes, reduced_axes;
  for (int64_t i = 0; i < rank; ++i) {
    if (reduced[i]) {
      reduced_axes.push_back(i);
      if (keepdims) plan.out_shape.push_back(1);
    } else {
      kept_axes.push_back(i);
      plan.out_shape.push_back(x.dim(i));
    }
  }
  plan.bases = SubspaceOffsets(x.shape(), kept_axes);
  plan.members = SubspaceOffsets(x.shape(), reduced_axes);
  return plan;
}

// Converts a double result back to the accumulator type; for integers NaN and out-of-range
// values (log of 0, ...) are clamped instead of being undefined behaviour.
template <class Acc>
Acc FromDouble(double d) {
  if constexpr (std::is_floating_point_v<Acc>) {
    return d;
  } else {
    if (std::isnan(d)) return 0;
    if (d <= static_cast<double>(std::numeric_limits<Acc>::lowest()))
      return std::numeric_limits<Acc>::lowest();
    if (d >= static_cast<double>(std::numeric_limits<Acc>::max()))
      return std::numeric_limits<Acc>::max();
    return static_cast<Acc>(d);
  }
}

// Folds one group of values. Integer inputs fold in 64-bit integers except for the kinds that
// need logarithms or roots, which go through double.
template <class Acc>
Acc Fold(ReduceKind kind, const std::vector<Acc>& v) {
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kMean: {
      Acc s = 0;
      for (Acc x : v) s += x;
      if (kind == ReduceKind::kSum) return s;
      return v.empty() ? Acc(0) : static_cast<Acc>(s / static_cast<Acc>(v.size()));
    }
    case ReduceKind::kProd: {
      Acc p = 1;
      for (Acc x : v) p *= x;
      return p;
    }
    case ReduceKind::kMax:
    case ReduceKind::kMin: {
      const bool is_max = kind == ReduceKind::kMax;
      // An empty group yields the identity: -inf / +inf for floats, the type's limits otherwise.
      using Lim = std::numeric_limits<Acc>;
      Acc best = is_max ? Lim::lowest() : Lim::max();
      if constexpr (std::is_floating_point_v<Acc>)
        best = is_max ? -Lim::infinity() : Lim::infinity();
      for (Acc x : v) {
        if constexpr (std::is_floating_point_v<Acc>) {
          if (std::isnan(x)) return x;  // NaN propagates, as in numpy
        }
        best = is_max ? std::max(best, x) : std::min(best, x);
      }
      return best;
    }
    case ReduceKind::kL1: {
      Acc s = 0;
      for (Acc x : v) {
        if constexpr (std::is_signed_v<Acc>) s += x < 0 ? -x : x;
        else s += x;
      }
      return s;
    }
    case ReduceKind::kSumSquare: {
      Acc s = 0;
      for (Acc x : v) s += x * x;
      return s;
    }
    case ReduceKind::kL2: {
      double s = 0;
      for (Acc x : v) s += static_cast<double>(x) * static_cast<double>(x);
      return FromDouble<Acc>(std::sqrt(s));
    }
    case ReduceKind::kLogSum: {
      double s = 0;
      for (Acc x : v) s += static_cast<double>(x);
      return FromDouble<Acc>(std::log(s));
    }
    case ReduceKind::kLogSumExp: {
      // Shift by the maximum so exp() cannot overflow.
      double m = -std::numeric_limits<double>::infinity();
      for (Acc x : v) m = std::max(m, static_cast<double>(x));
      if (!std::isfinite(m)) return FromDouble<Acc>(m);  // empty, all -inf, or any +inf
      double s = 0;
      for (Acc x : v) s += std::exp(static_cast<double>(x) - m);
      return FromDouble<Acc>(m + std::log(s));
    }
  }
  return 0;
}

Status Reduce(KernelContext& ctx, ReduceKind kind) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const bool axes_from_input =
      ctx.opset() >= 18 || (kind == ReduceKind::kSum && ctx.opset() >= 13);
  PE_ASSIGN_OR_RETURN(ReducePlan plan, PlanReduction(ctx, *x, axes_from_input));
  if (plan.noop) {
    ctx.set_output(0, *x);
    return Status::OK();
  }
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), plan.out_shape));
  return DispatchNumeric(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using Acc = AccOf<T>;
    const T* in = x->data<T>();
    T* o = out->data<T>();
    std::vector<Acc> group(plan.members.size());
    for (size_t i = 0; i < plan.bases.size(); ++i) {
      for (size_t j = 0; j < plan.members.size(); ++j)
        group[j] = CastValue<Acc>(in[plan.bases[i] + plan.members[j]]);
      o[i] = CastValue<T>(Fold(kind, group));
    }
    return Status::OK();
  });
}

template <ReduceKind K>
Status ReduceOp(KernelContext& ctx) {
  return Reduce(ctx, K);
}

}  // namespace

void RegisterReductionKernels(KernelRegistry& r) {
  r.Add("ReduceSum", ReduceOp<ReduceKind::kSum>);
  r.Add("ReduceMean", ReduceOp<ReduceKind::kMean>);
  r.Add("ReduceMax", ReduceOp<ReduceKind::kMax>);
  r.Add("ReduceMin", ReduceOp<ReduceKind::kMin>);
  r.Add("ReduceProd", ReduceOp<ReduceKind::kProd>);
  r.Add("ReduceL1", ReduceOp<ReduceKind::kL1>);
  r.Add("ReduceL2", ReduceOp<ReduceKind::kL2>);
  r.Add("ReduceLogSum", ReduceOp<ReduceKind::kLogSum>);
  r.Add("ReduceLogSumExp", ReduceOp<ReduceKind::kLogSumExp>);
  r.Add("ReduceSumSquare", ReduceOp<ReduceKind::kSumSquare>);
  RegisterReductionSelectKernels(r);
}

}  // namespace privedge
