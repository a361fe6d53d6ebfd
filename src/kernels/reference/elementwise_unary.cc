// One-input elementwise operators: math functions, sign and rounding, predicates, Identity.
#include <cmath>

#include "kernels/reference/elementwise_common.h"

namespace privedge {
namespace {

using namespace elementwise;  // NOLINT: this file's own helper namespace

// Float-typed predicates producing a bool tensor.
template <class F>
Status FloatPredicate(KernelContext& ctx, F f) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  return Named(ctx, DispatchFloat(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    return UnaryMap<T, bool>(ctx, *x, [&](T v) { return f(Widen(v)); });
  }));
}

Status Abs(KernelContext& ctx) {
  return NumericMath(ctx, [](auto v) { return IsNegative(v) ? Negate(v) : v; });
}
Status Neg(KernelContext& ctx) {
  return NumericMath(ctx, [](auto v) { return Negate(v); });
}
Status Sign(KernelContext& ctx) {
  return NumericMath(ctx, [](auto v) {
    using C = decltype(v);
    if (IsNegative(v)) return C(-1);
    return v > C(0) ? C(1) : v;  // keeps 0 and NaN as they are
  });
}
Status Reciprocal(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return decltype(v)(1) / v; });
}
Status Sqrt(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::sqrt(v); });
}
Status Exp(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::exp(v); });
}
Status Log(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::log(v); });
}
Status Ceil(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::ceil(v); });
}
Status Floor(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::floor(v); });
}
Status Round(KernelContext& ctx) {
  // nearbyint in the default rounding mode rounds halves to even, as ONNX requires.
  return FloatMath(ctx, [](auto v) { return std::nearbyint(v); });
}
Status Erf(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::erf(v); });
}
Status Sin(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::sin(v); });
}
Status Cos(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::cos(v); });
}
Status Tan(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::tan(v); });
}
Status Asin(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::asin(v); });
}
Status Acos(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::acos(v); });
}
Status Atan(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::atan(v); });
}
Status Sinh(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::sinh(v); });
}
Status Cosh(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::cosh(v); });
}
Status Asinh(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::asinh(v); });
}
Status Acosh(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::acosh(v); });
}
Status Atanh(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::atanh(v); });
}

Status IsNaN(KernelContext& ctx) {
  return FloatPredicate(ctx, [](auto v) { return std::isnan(v); });
}
Status IsInf(KernelContext& ctx) {
  const bool positive = ctx.attr_int("detect_positive", 1) != 0;
  const bool negative = ctx.attr_int("detect_negative", 1) != 0;
  return FloatPredicate(ctx, [&](auto v) {
    return std::isinf(v) && (v > 0 ? positive : negative);
  });
}

Status Not(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->dtype() != DType::kBool)
    return ctx.Error("input has type ", DTypeName(x->dtype()), ", expected bool");
  return UnaryMap<bool, bool>(ctx, *x, [](bool v) { return !v; });
}

// Tensors, sequences and optionals all pass through unchanged (tensors share storage). An
// absent input is treated as an empty optional.
Status Identity(KernelContext& ctx) {
  const Value* v = ctx.input_value(0);
  ctx.set_output_value(0, v ? *v : Value());
  return Status::OK();
}

}  // namespace

void RegisterElementwiseUnaryKernels(KernelRegistry& r) {
  r.Add("Abs", Abs);
  r.Add("Neg", Neg);
  r.Add("Sign", Sign);
  r.Add("Reciprocal", Reciprocal);
  r.Add("Sqrt", Sqrt);
  r.Add("Exp", Exp);
  r.Add("Log", Log);
  r.Add("Ceil", Ceil);
  r.Add("Floor", Floor);
  r.Add("Round", Round);
  r.Add("Erf", Erf);
  r.Add("Sin", Sin);
  r.Add("Cos", Cos);
  r.Add("Tan", Tan);
  r.Add("Asin", Asin);
  r.Add("Acos", Acos);
  r.Add("Atan", Atan);
  r.Add("Sinh", Sinh);
  r.Add("Cosh", Cosh);
  r.Add("Asinh", Asinh);
  r.Add("Acosh", Acosh);
  r.Add("Atanh", Atanh);
  r.Add("IsNaN", IsNaN);
  r.Add("IsInf", IsInf);
  r.Add("Not", Not);
  r.Add("Identity", Identity);
}

}  // namespace privedge
