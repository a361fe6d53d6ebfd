// Activation functions (Relu family, sigmoids, softplus, shrink, tanh) and Clip.
#include <cmath>
#include <limits>

#include "kernels/reference/elementwise_common.h"

namespace privedge {
namespace {

using namespace elementwise;  // NOLINT: this file's own helper namespace

// Keeps NaN (unlike max(0, x)).
Status Relu(KernelContext& ctx) {
  return NumericMath(ctx, [](auto v) { return IsNegative(v) ? decltype(v)(0) : v; });
}

Status LeakyRelu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 0.01f);
  return FloatMath(ctx, [&](auto v) { return v < 0 ? v * alpha : v; });
}

Status Elu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.0f);
  return FloatMath(ctx, [&](auto v) { return v < 0 ? alpha * (std::exp(v) - 1) : v; });
}

Status Selu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.attr_float("gamma", 1.05070102214813232421875f);
  return FloatMath(ctx, [&](auto v) {
    return v > 0 ? gamma * v : gamma * (alpha * std::exp(v) - alpha);
  });
}

Status Celu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.0f);
  if (alpha == 0) return ctx.Error("attribute alpha must be non-zero");
  return FloatMath(ctx, [&](auto v) {
    using C = decltype(v);
    return std::max(C(0), v) + std::min(C(0), C(alpha * (std::exp(v / alpha) - 1)));
  });
}

// Both branches avoid exp overflow for large |v|.
Status Sigmoid(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) {
    using C = decltype(v);
    if (v >= 0) return C(1) / (C(1) + std::exp(-v));
    C e = std::exp(v);
    return e / (C(1) + e);
  });
}

Status HardSigmoid(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 0.2f);
  const float beta = ctx.attr_float("beta", 0.5f);
  return FloatMath(ctx, [&](auto v) {
    using C = decltype(v);
    return std::max(C(0), std::min(C(1), C(alpha * v + beta)));
  });
}

Status HardSwish(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) {
    using C = decltype(v);
    return v * std::max(C(0), std::min(C(1), v * C(1.0 / 6.0) + C(0.5)));
  });
}

// log(1 + exp(v)) without overflowing exp for large v.
Status Softplus(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) {
    return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
  });
}

Status Softsign(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return v / (1 + std::fabs(v)); });
}

Status ThresholdedRelu(KernelContext& ctx) {
  const float alpha = ctx.attr_float("alpha", 1.0f);
  return FloatMath(ctx, [&](auto v) { return v > alpha ? v : decltype(v)(0); });
}

Status Shrink(KernelContext& ctx) {
  const double bias = ctx.attr_float("bias", 0.0f);
  const double lambd = ctx.attr_float("lambd", 0.5f);
  return NumericMath(ctx, [&](auto v) {
    const double d = static_cast<double>(v);
    return Convert<decltype(v)>(d < -lambd ? d + bias : d > lambd ? d - bias : 0.0);
  });
}

Status Tanh(KernelContext& ctx) {
  return FloatMath(ctx, [](auto v) { return std::tanh(v); });
}

// Reads the optional scalar bound input `i` (opset >= 11) into `bound`.
template <class T>
Status ReadBound(const KernelContext& ctx, int i, T& bound) {
  if (!ctx.has_input(i)) return Status::OK();
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
  if (t->dtype() != DTypeOf<T>::value)
    return ctx.Error("input ", i, " has type ", DTypeName(t->dtype()), ", expected ",
                     DTypeName(DTypeOf<T>::value), " like the input");
  if (t->numel() != 1)
    return ctx.Error("input ", i, " has shape ", ShapeToString(t->shape()),
                     ", expected a scalar");
  bound = t->data<T>()[0];
  return Status::OK();
}

// min is applied before max, so min > max clips everything to max (as the spec says).
Status Clip(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  return Named(ctx, DispatchNumeric(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using C = Compute<T>;
    C lo = std::numeric_limits<C>::lowest();
    C hi = std::numeric_limits<C>::max();
    if (ctx.opset() < 11) {
      lo = Convert<C>(ctx.attr_float("min", -std::numeric_limits<float>::max()));
      hi = Convert<C>(ctx.attr_float("max", std::numeric_limits<float>::max()));
    } else {
      T lo_t = Narrow<T>(lo);
      T hi_t = Narrow<T>(hi);
      PE_RETURN_IF_ERROR(ReadBound(ctx, 1, lo_t));
      PE_RETURN_IF_ERROR(ReadBound(ctx, 2, hi_t));
      lo = Widen(lo_t);
      hi = Widen(hi_t);
    }
    return UnaryMap<T, T>(ctx, *x, [&](T t) {
      C v = Widen(t);
      if (v < lo) v = lo;
      if (v > hi) v = hi;
      return Narrow<T>(v);
    });
  }));
}

}  // namespace

void RegisterElementwiseActivationKernels(KernelRegistry& r) {
  r.Add("Relu", Relu);
  r.Add("LeakyRelu", LeakyRelu);
  r.Add("Elu", Elu);
  r.Add("Selu", Selu);
  r.Add("Celu", Celu);
  r.Add("Sigmoid", Sigmoid);
  r.Add("HardSigmoid", HardSigmoid);
  r.Add("HardSwish", HardSwish);
  r.Add("Softplus", Softplus);
  r.Add("Softsign", Softsign);
  r.Add("ThresholdedRelu", ThresholdedRelu);
  r.Add("Shrink", Shrink);
  r.Add("Tanh", Tanh);
  r.Add("Clip", Clip);
}

}  // namespace privedge
