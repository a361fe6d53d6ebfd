// Two-input elementwise operators with numpy broadcasting: arithmetic, Pow, Mod, BitShift,
// comparisons, logic, PRelu; and the three-input Where.
#include <cmath>

#include "kernels/reference/elementwise_common.h"

namespace privedge {
namespace {

using namespace elementwise;  // NOLINT: this file's own helper namespace

// Two inputs of one type that `dispatch` accepts; f receives the widened values. The output
// has the input type, or is bool when kBoolOut (comparisons and logic).
template <bool kBoolOut, class Dispatch, class F>
Status SameTypeBinary(KernelContext& ctx, Dispatch dispatch, F f) {
  PE_ASSIGN_OR_RETURN(std::vector<const Tensor*> in, RequireInputs(ctx, 2));
  PE_RETURN_IF_ERROR(CheckSameTypes(ctx, in));
  return Named(ctx, dispatch(in[0]->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using Out = std::conditional_t<kBoolOut, bool, T>;
    return BroadcastBinary<Out, T, T>(ctx, *in[0], *in[1], [&](const T& a, const T& b) {
      return Out(f(Widen(a), Widen(b)));
    });
  }));
}
template <class Dispatch, class F>
Status Arithmetic(KernelContext& ctx, Dispatch dispatch, F f) {
  return SameTypeBinary<false>(ctx, dispatch, f);
}
template <class Dispatch, class F>
Status Predicate(KernelContext& ctx, Dispatch dispatch, F f) {
  return SameTypeBinary<true>(ctx, dispatch, f);
}

// Integer division or remainder by zero has no result (and would trap); refuse it up front.
Status CheckNoIntegerZero(const KernelContext& ctx, const Tensor& divisor) {
  if (!IsIntegerDType(divisor.dtype())) return Status::OK();
  for (int64_t i = 0; i < divisor.numel(); ++i) {
    if (divisor.GetAsInt64(i) == 0)
      return ctx.Error("integer division by zero (divisor element ", i, ")");
  }
  return Status::OK();
}

Status Add(KernelContext& ctx) {
  return Arithmetic(ctx, kNumericTypes, [](auto a, auto b) {
    return Arith(a, b, [](auto p, auto q) { return p + q; });
  });
}
Status Sub(KernelContext& ctx) {
  return Arithmetic(ctx, kNumericTypes, [](auto a, auto b) {
    return Arith(a, b, [](auto p, auto q) { return p - q; });
  });
}
Status Mul(KernelContext& ctx) {
  return Arithmetic(ctx, kNumericTypes, [](auto a, auto b) {
    return Arith(a, b, [](auto p, auto q) { return p * q; });
  });
}
// Integer division truncates toward zero; min / -1 wraps like the other integer ops.
Status Div(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequireInput(1));
  PE_RETURN_IF_ERROR(CheckNoIntegerZero(ctx, *b));
  return Arithmetic(ctx, kNumericTypes, [](auto a, auto b) {
    using C = decltype(a);
    if constexpr (kIsInt<C>) {
      if (IsNegative(b) && b == C(-1)) return Negate(a);
    }
    return C(a / b);
  });
}

// fmod=1: the remainder takes the dividend's sign (C fmod / %); fmod=0: the divisor's sign
// (Python / numpy mod).
template <class C>
C ModValue(C a, C b, bool fmod) {
  C r;
  if constexpr (kIsInt<C>) {
    if (IsNegative(b) && b == C(-1)) return C(0);  // min % -1 would trap
    r = C(a % b);
  } else {
    r = std::fmod(a, b);
  }
  if (!fmod && r != C(0) && IsNegative(r) != IsNegative(b)) r = C(r + b);
  return r;
}

Status Mod(KernelContext& ctx) {
  const int64_t fmod = ctx.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return ctx.Error("attribute fmod is ", fmod, ", expected 0 or 1");
  PE_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequireInput(1));
  PE_RETURN_IF_ERROR(CheckNoIntegerZero(ctx, *b));
  return Arithmetic(ctx, kNumericTypes, [&](auto a, auto b) { return ModValue(a, b, fmod == 1); });
}

// x ** y in the base's type. Integer powers are exact (wrapping on overflow); everything else
// goes through double.
template <class T, class E>
T PowValue(T x, E y) {
  if constexpr (kIsInt<T> && kIsInt<E>) {
    if (IsNegative(y)) {  // 1 / x^|y| truncates to 0 unless |x| == 1
      if (x == T(1)) return T(1);
      if (IsNegative(x) && x == T(-1)) return y % 2 == 0 ? T(1) : x;
      return T(0);
    }
    auto mul = [](auto p, auto q) { return p * q; };
    T result = 1;
    T base = x;
    for (auto e = static_cast<uint64_t>(y); e != 0; e >>= 1) {
      if (e & 1u) result = Arith(result, base, mul);
      base = Arith(base, base, mul);
    }
    return result;
  } else {
    double r = std::pow(static_cast<double>(Widen(x)), static_cast<double>(Widen(y)));
    return Convert<T>(r);
  }
}

Status Pow(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(std::vector<const Tensor*> in, RequireInputs(ctx, 2));
  return Named(ctx, DispatchNumeric(in[0]->dtype(), [&](auto base_tag) -> Status {
    using T = decltype(base_tag);
    return DispatchNumeric(in[1]->dtype(), [&](auto exp_tag) -> Status {
      using E = decltype(exp_tag);
      return BroadcastBinary<T, T, E>(ctx, *in[0], *in[1],
                                      [](T x, E y) { return PowValue(x, y); });
    });
  }));
}

Status BitShift(KernelContext& ctx) {
  const std::string direction = ctx.attr_string("direction", "");
  if (direction != "LEFT" && direction != "RIGHT")
    return ctx.Error("attribute direction is '", direction, "', expected LEFT or RIGHT");
  const bool left = direction == "LEFT";
  PE_ASSIGN_OR_RETURN(std::vector<const Tensor*> in, RequireInputs(ctx, 2));
  PE_RETURN_IF_ERROR(CheckSameTypes(ctx, in));
  return Named(ctx, DispatchInteger(in[0]->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_signed_v<T>) {
      return ctx.Error("input type ", DTypeName(in[0]->dtype()), " is signed, expected uint8, "
                       "uint16, uint32 or uint64");
    } else {
      return BroadcastBinary<T, T, T>(ctx, *in[0], *in[1], [&](T x, T s) {
        // Shifting by the bit width or more is undefined in C++; every bit is shifted out.
        if (s >= sizeof(T) * 8) return T(0);
        return T(left ? x << s : x >> s);
      });
    }
  }));
}

Status Equal(KernelContext& ctx) {
  return Predicate(ctx, kAllTypes, [](const auto& a, const auto& b) { return a == b; });
}
Status Less(KernelContext& ctx) {
  return Predicate(ctx, kNumericTypes, [](auto a, auto b) { return a < b; });
}
Status LessOrEqual(KernelContext& ctx) {
  return Predicate(ctx, kNumericTypes, [](auto a, auto b) { return a <= b; });
}
Status Greater(KernelContext& ctx) {
  return Predicate(ctx, kNumericTypes, [](auto a, auto b) { return a > b; });
}
Status GreaterOrEqual(KernelContext& ctx) {
  return Predicate(ctx, kNumericTypes, [](auto a, auto b) { return a >= b; });
}
Status And(KernelContext& ctx) {
  return Predicate(ctx, kBoolType, [](bool a, bool b) { return a && b; });
}
Status Or(KernelContext& ctx) {
  return Predicate(ctx, kBoolType, [](bool a, bool b) { return a || b; });
}
Status Xor(KernelContext& ctx) {
  return Predicate(ctx, kBoolType, [](bool a, bool b) { return a != b; });
}

// slope broadcasts to x's shape (one direction only): the output has x's shape. Before opset 7
// a 1-D slope of length C applied per channel (axis 1), as PyTorch's exports of that era expect.
Status PRelu(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(std::vector<const Tensor*> in, RequireInputs(ctx, 2));
  PE_RETURN_IF_ERROR(CheckSameTypes(ctx, in));
  const Tensor& x = *in[0];
  Tensor slope = *in[1];
  if (ctx.opset() < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.dim(0) == x.dim(1) &&
      slope.dim(0) != 1) {
    Shape per_channel(x.rank() - 1, 1);
    per_channel[0] = slope.dim(0);
    slope = slope.Reshaped(per_channel);
  }
  Result<Shape> shape = BroadcastShapes({x.shape(), slope.shape()});
  if (!shape.ok() || *shape != x.shape())
    return ctx.Error("slope shape ", ShapeToString(in[1]->shape()),
                     " does not broadcast to the input shape ", ShapeToString(x.shape()));
  return Named(ctx, kNumericTypes(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    return BroadcastBinary<T, T, T>(ctx, x, slope, [&](const T& a, const T& b) {
      auto v = Widen(a);
      return T(IsNegative(v) ? Arith(v, Widen(b), [](auto p, auto q) { return p * q; }) : v);
    });
  }));
}

Status Where(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(std::vector<const Tensor*> in, RequireInputs(ctx, 3));
  if (in[0]->dtype() != DType::kBool)
    return ctx.Error("condition has type ", DTypeName(in[0]->dtype()), ", expected bool");
  PE_RETURN_IF_ERROR(CheckSameTypes(ctx, {in[1], in[2]}, 1));
  const bool* cond = in[0]->data<bool>();
  return Named(ctx, DispatchAll(in[1]->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* x = in[1]->data<T>();
    const T* y = in[2]->data<T>();
    return BroadcastLoop<T>(ctx, in, [&](const std::vector<int64_t>& off) {
      return cond[off[0]] ? x[off[1]] : y[off[2]];
    });
  }));
}

}  // namespace

void RegisterElementwiseBinaryKernels(KernelRegistry& r) {
  r.Add("Add", Add);
  r.Add("Sub", Sub);
  r.Add("Mul", Mul);
  r.Add("Div", Div);
  r.Add("Mod", Mod);
  r.Add("Pow", Pow);
  r.Add("BitShift", BitShift);
  r.Add("Equal", Equal);
  r.Add("Less", Less);
  r.Add("LessOrEqual", LessOrEqual);
  r.Add("Greater", Greater);
  r.Add("GreaterOrEqual", GreaterOrEqual);
  r.Add("And", And);
  r.Add("Or", Or);
  r.Add("Xor", Xor);
  r.Add("PRelu", PRelu);
  r.Add("Where", Where);
}

}  // namespace privedge
