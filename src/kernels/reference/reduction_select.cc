// Operators that work along one axis: ArgMax, ArgMin, CumSum, TopK.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/reduction_common.h"

namespace privedge {
namespace {

// Orders NaN above every number so sorting stays a strict weak ordering.
template <class Acc>
bool Greater(Acc a, Acc b) {
  if constexpr (std::is_floating_point_v<Acc>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

Status ArgExtreme(KernelContext& ctx, bool is_max) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(AxisView v, ViewAroundAxis(ctx, *x, ctx.attr_int("axis", 0)));
  if (v.dim == 0) return ctx.Error("cannot take the arg-extreme of an empty axis ", v.axis);
  const bool last = ctx.attr_int("select_last_index", 0) != 0;
  Shape out_shape = x->shape();
  if (ctx.attr_int("keepdims", 1) != 0) {
    out_shape[v.axis] = 1;
  } else {
    out_shape.erase(out_shape.begin() + v.axis);
  }
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DType::kInt64, out_shape));
  int64_t* o = out->data<int64_t>();
  return DispatchNumeric(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using Acc = AccOf<T>;
    const T* in = x->data<T>();
    for (int64_t outer = 0; outer < v.outer; ++outer) {
      for (int64_t i = 0; i < v.inner; ++i) {
        int64_t best_k = 0;
        Acc best = CastValue<Acc>(in[v.Offset(outer, 0, i)]);
        for (int64_t k = 1; k < v.dim; ++k) {
          Acc cur = CastValue<Acc>(in[v.Offset(outer, k, i)]);
          bool better = is_max ? Greater(cur, best) : Greater(best, cur);
          bool tie = !Greater(cur, best) && !Greater(best, cur);
          if (better || (last && tie)) {
            best = cur;
            best_k = k;
          }
        }
        o[outer * v.inner + i] = best_k;
      }
    }
    return Status::OK();
  });
}

Status ArgMax(KernelContext& ctx) { return ArgExtreme(ctx, true); }
Status ArgMin(KernelContext& ctx) { return ArgExtreme(ctx, false); }

// Reads a scalar (or one-element 1-D) integer input.
Result<int64_t> ReadScalarInt(const KernelContext& ctx, int i, const char* what) {
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
  if (!IsIntegerDType(t->dtype()) || t->numel() != 1 || t->rank() > 1)
    return ctx.Error(what, " must be an integer scalar or 1-element 1-D tensor, got ",
                     DTypeName(t->dtype()), " ", ShapeToString(t->shape()));
  return t->GetAsInt64(0);
}

Status CumSum(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(int64_t axis, ReadScalarInt(ctx, 1, "axis"));
  PE_ASSIGN_OR_RETURN(AxisView v, ViewAroundAxis(ctx, *x, axis));
  const bool exclusive = ctx.attr_int("exclusive", 0) != 0;
  const bool reverse = ctx.attr_int("reverse", 0) != 0;
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  return DispatchNumeric(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using Acc = AccOf<T>;
    const T* in = x->data<T>();
    T* o = out->data<T>();
    for (int64_t outer = 0; outer < v.outer; ++outer) {
      for (int64_t i = 0; i < v.inner; ++i) {
        Acc sum = 0;
        for (int64_t step = 0; step < v.dim; ++step) {
          const int64_t k = reverse ? v.dim - 1 - step : step;
          const int64_t off = v.Offset(outer, k, i);
          const Acc value = CastValue<Acc>(in[off]);
          if (!exclusive) sum += value;
          o[off] = CastValue<T>(sum);
          if (exclusive) sum += value;
        }
      }
    }
    return Status::OK();
  });
}

Status TopK(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  int64_t k = 0;
  if (ctx.opset() >= 10) {
    PE_ASSIGN_OR_RETURN(k, ReadScalarInt(ctx, 1, "K"));
  } else {
    if (!ctx.has_attr("k")) return ctx.Error("attribute k is required before opset 10");
    k = ctx.attr_int("k", 0);
  }
  PE_ASSIGN_OR_RETURN(AxisView v, ViewAroundAxis(ctx, *x, ctx.attr_int("axis", -1)));
  if (k < 0 || k > v.dim)
    return ctx.Error("K must be in [0, ", v.dim, "] (the extent of axis ", v.axis, "), got ", k);
  const bool largest = ctx.attr_int("largest", 1) != 0;
  // The output is always sorted; with sorted=0 any order is allowed, so sorted order is too.
  Shape out_shape = x->shape();
  out_shape[v.axis] = k;
  PE_ASSIGN_OR_RETURN(Tensor * values, ctx.AllocateOutput(0, x->dtype(), out_shape));
  PE_ASSIGN_OR_RETURN(Tensor indices_storage, ctx.CreateTensor(DType::kInt64, out_shape));
  Tensor* indices = &indices_storage;
  if (ctx.wants_output(1)) {
    PE_ASSIGN_OR_RETURN(indices, ctx.AllocateOutput(1, DType::kInt64, out_shape));
  }
  return DispatchNumeric(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using Acc = AccOf<T>;
    const T* in = x->data<T>();
    T* vo = values->data<T>();
    int64_t* io = indices->data<int64_t>();
    std::vector<Acc> row(v.dim);
    std::vector<int64_t> order(v.dim);
    for (int64_t outer = 0; outer < v.outer; ++outer) {
      for (int64_t i = 0; i < v.inner; ++i) {
        for (int64_t j = 0; j < v.dim; ++j) row[j] = CastValue<Acc>(in[v.Offset(outer, j, i)]);
        std::iota(order.begin(), order.end(), int64_t{0});
        // A stable sort keeps equal values in index order: the lower index comes first.
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
          return largest ? Greater(row[a], row[b]) : Greater(row[b], row[a]);
        });
        for (int64_t j = 0; j < k; ++j) {
          const int64_t off = (outer * k + j) * v.inner + i;
          vo[off] = in[v.Offset(outer, order[j], i)];
          io[off] = order[j];
        }
      }
    }
    return Status::OK();
  });
}

}  // namespace

void RegisterReductionSelectKernels(KernelRegistry& r) {
  r.Add("ArgMax", ArgMax);
  r.Add("ArgMin", ArgMin);
  r.Add("CumSum", CumSum);
  r.Add("TopK", TopK);
}

}  // namespace privedge
