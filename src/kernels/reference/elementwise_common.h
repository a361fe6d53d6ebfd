// Shared pieces of the elementwise reference kernels: compute types, value conversion,
// wrap-around integer arithmetic, and the unary / broadcasting loops every kernel goes through.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "kernels/kernel.h"
#include "kernels/kernel_util.h"

namespace privedge {

// Sub-families of RegisterElementwiseKernels, one per file.
void RegisterElementwiseUnaryKernels(KernelRegistry& r);       // elementwise_unary.cc
void RegisterElementwiseBinaryKernels(KernelRegistry& r);      // elementwise_binary.cc
void RegisterElementwiseVariadicKernels(KernelRegistry& r);    // elementwise_variadic.cc
void RegisterElementwiseActivationKernels(KernelRegistry& r);  // elementwise_activation.cc
void RegisterElementwiseCastKernels(KernelRegistry& r);        // elementwise_cast.cc

namespace elementwise {

template <class T>
inline constexpr bool kIsHalf = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;
template <class T>
inline constexpr bool kIsFloat = std::is_floating_point_v<T> || kIsHalf<T>;
template <class T>
inline constexpr bool kIsInt = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// The type arithmetic happens in: the 16-bit floats widen to float, everything else is itself.
template <class T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<Float16> {
  using type = float;
};
template <>
struct ComputeOf<BFloat16> {
  using type = float;
};
template <class T>
using Compute = typename ComputeOf<T>::type;

template <class T>
Compute<T> Widen(T v) {
  return static_cast<Compute<T>>(v);
}

// Rounds a double to float with round-to-odd, so that a later round-to-nearest-even to a
// narrower float (half, bfloat16) gives the same result as rounding the double directly.
float RoundToOddFloat(double d);

// Converts any numeric or bool value to another such type. Float to integer truncates and
// saturates (NaN becomes 0) so that out-of-range values stay defined behaviour.
template <class To, class From>
To Convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (kIsHalf<From>) {
    return Convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_same_v<From, bool>) {
    return Convert<To>(static_cast<uint8_t>(v ? 1 : 0));
  } else if constexpr (kIsHalf<To>) {
    if constexpr (std::is_same_v<From, float>) return To(v);
    else return To(RoundToOddFloat(static_cast<double>(v)));
  } else if constexpr (std::is_floating_point_v<To> || std::is_integral_v<From>) {
    return static_cast<To>(v);  // int->int wraps (defined since C++20); rounds to floats
  } else {
    // Floating point to integer.
    double d = std::trunc(static_cast<double>(v));
    if (std::isnan(d)) return To(0);
    if (d <= static_cast<double>(std::numeric_limits<To>::lowest()))
      return std::numeric_limits<To>::lowest();
    if (d >= static_cast<double>(std::numeric_limits<To>::max()))
      return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  }
}

// Narrows a computed value back to the storage type T.
template <class T>
T Narrow(Compute<T> v) {
  return T(v);
}

// Integer + - * and negation wrap around (two's complement) instead of overflowing, which is
// undefined behaviour for signed types; small types are widened to unsigned int first so
// that integer promotion cannot overflow either.
template <class T>
using WrapType =
    std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <class C, class Op>
C Arith(C a, C b, Op op) {
  if constexpr (kIsInt<C>) {
    return static_cast<C>(op(static_cast<WrapType<C>>(a), static_cast<WrapType<C>>(b)));
  } else {
    return op(a, b);
  }
}

template <class C>
C Negate(C v) {
  if constexpr (kIsInt<C>) {
    return static_cast<C>(WrapType<C>(0) - static_cast<WrapType<C>>(v));
  } else {
    return -v;
  }
}

// True for a negative value; false for every unsigned value (without a type-limits warning).
template <class C>
bool IsNegative(C v) {
  if constexpr (std::is_unsigned_v<C>) {
    return false;
  } else {
    return v < C(0);
  }
}

// Prefixes a dispatch error (an unsupported element type) with the node's description.
inline Status Named(const KernelContext& ctx, Status s) {
  if (s.ok() || s.code() != StatusCode::kNotImplemented) return s;
  return s.WithContext(ctx.node().Describe());
}

// Error unless every tensor in `inputs` has the dtype of the first one; `first_index` is the
// node input number of inputs[0], for the message.
Status CheckSameTypes(const KernelContext& ctx, const std::vector<const Tensor*>& inputs,
                      int first_index = 0);

// Gathers the required inputs [0, n) as tensors.
Result<std::vector<const Tensor*>> RequireInputs(const KernelContext& ctx, int n);

// out[i] = f(x[i]) over output 0 (same shape as x), with element types In and Out.
template <class In, class Out, class F>
Status UnaryMap(KernelContext& ctx, const Tensor& x, F&& f) {
  if (!ctx.wants_output(0)) return Status::OK();
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DTypeOf<Out>::value, x.shape()));
  const In* in = x.data<In>();
  Out* po = out->data<Out>();
  for (int64_t i = 0; i < x.numel(); ++i) po[i] = f(in[i]);
  return Status::OK();
}

// The type dispatchers as objects, so that a kernel helper can take "which element types" as
// an argument (a function template cannot be passed as one).
inline constexpr auto kFloatTypes = [](DType t, auto&& f) { return DispatchFloat(t, f); };
inline constexpr auto kNumericTypes = [](DType t, auto&& f) { return DispatchNumeric(t, f); };
inline constexpr auto kAllTypes = [](DType t, auto&& f) { return DispatchAll(t, f); };
inline constexpr auto kBoolType = [](DType t, auto&& f) -> Status {
  if (t != DType::kBool)
    return NotImplemented("type ", DTypeName(t), " is not supported here (expected bool)");
  return f(bool{});
};

// One-input ops on input 0 over the types `dispatch` accepts: out = f(widened x), in x's type.
template <class Dispatch, class F>
Status SameTypeUnary(KernelContext& ctx, Dispatch dispatch, F f) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  return Named(ctx, dispatch(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    return UnaryMap<T, T>(ctx, *x, [&](T v) { return Narrow<T>(f(Widen(v))); });
  }));
}
template <class F>
Status FloatMath(KernelContext& ctx, F f) {
  return SameTypeUnary(ctx, kFloatTypes, f);
}
template <class F>
Status NumericMath(KernelContext& ctx, F f) {
  return SameTypeUnary(ctx, kNumericTypes, f);
}

// The one broadcasting loop: broadcasts `inputs` together (numpy rules), allocates output 0
// with element type Out and the broadcast shape, and sets out[o] = body(offsets), where
// offsets[k] is the element of inputs[k] that lines up with o.
template <class Out, class Body>
Status BroadcastLoop(KernelContext& ctx, const std::vector<const Tensor*>& inputs, Body&& body) {
  if (!ctx.wants_output(0)) return Status::OK();
  std::vector<Shape> shapes;
  for (const Tensor* t : inputs) shapes.push_back(t->shape());
  Result<Shape> shape = BroadcastShapes(shapes);
  if (!shape.ok()) return ctx.Error(shape.status().message());
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DTypeOf<Out>::value, *shape));
  std::vector<std::vector<int64_t>> strides;
  for (const Tensor* t : inputs) strides.push_back(BroadcastStrides(t->shape(), *shape));
  Out* po = out->data<Out>();
  ForEachBroadcast(*shape, strides,
                   [&](int64_t o, const std::vector<int64_t>& off) { po[o] = body(off); });
  return Status::OK();
}

// out = f(a, b) with numpy broadcasting; A, B, Out are the element types.
template <class Out, class A, class B, class F>
Status BroadcastBinary(KernelContext& ctx, const Tensor& a, const Tensor& b, F&& f) {
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  return BroadcastLoop<Out>(ctx, {&a, &b}, [&](const std::vector<int64_t>& off) {
    return f(pa[off[0]], pb[off[1]]);
  });
}

}  // namespace elementwise
}  // namespace privedge
