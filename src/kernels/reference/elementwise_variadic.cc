// Elementwise operators over any number of broadcast inputs: Sum, Mean, Max, Min.
#include <cmath>

#include "kernels/reference/elementwise_common.h"

namespace privedge {
namespace {

using namespace elementwise;  // NOLINT: this file's own helper namespace

template <class C>
bool IsNaNValue(C v) {
  if constexpr (std::is_floating_point_v<C>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

// Folds the inputs element by element: acc = fold(acc, next), then out = finish(acc, count).
template <class Fold, class Finish>
Status Variadic(KernelContext& ctx, Fold fold, Finish finish) {
  const int n = ctx.num_inputs();
  if (n < 1) return ctx.Error("expected at least one input, got none");
  PE_ASSIGN_OR_RETURN(std::vector<const Tensor*> in, RequireInputs(ctx, n));
  PE_RETURN_IF_ERROR(CheckSameTypes(ctx, in));
  return Named(ctx, DispatchNumeric(in[0]->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    std::vector<const T*> data;
    for (const Tensor* t : in) data.push_back(t->data<T>());
    return BroadcastLoop<T>(ctx, in, [&](const std::vector<int64_t>& off) {
      Compute<T> acc = Widen(data[0][off[0]]);
      for (size_t k = 1; k < data.size(); ++k) acc = fold(acc, Widen(data[k][off[k]]));
      return Narrow<T>(finish(acc, n));
    });
  }));
}

const auto kKeep = [](auto acc, int) { return acc; };
const auto kPlus = [](auto a, auto b) { return Arith(a, b, [](auto p, auto q) { return p + q; }); };

Status Sum(KernelContext& ctx) { return Variadic(ctx, kPlus, kKeep); }

Status Mean(KernelContext& ctx) {
  return Variadic(ctx, kPlus, [](auto acc, int n) { return decltype(acc)(acc / n); });
}

// Max and Min propagate NaN like numpy's maximum / minimum.
Status Max(KernelContext& ctx) {
  return Variadic(ctx, [](auto a, auto b) { return IsNaNValue(a) || a >= b ? a : b; }, kKeep);
}
Status Min(KernelContext& ctx) {
  return Variadic(ctx, [](auto a, auto b) { return IsNaNValue(a) || a <= b ? a : b; }, kKeep);
}

}  // namespace

void RegisterElementwiseVariadicKernels(KernelRegistry& r) {
  r.Add("Sum", Sum);
  r.Add("Mean", Mean);
  r.Add("Max", Max);
  r.Add("Min", Min);
}

}  // namespace privedge
