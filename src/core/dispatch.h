// Type dispatch helpers for kernels: call a generic lambda with a value of the C++ element type
// that matches a runtime DType.
//
//   return DispatchNumeric(t.dtype(), [&](auto tag) -> Status {
//     using T = decltype(tag);
//     ...
//   });
#pragma once

#include <string>

#include "privedge/status.h"
#include "privedge/tensor.h"

namespace privedge {

// Float types: float, double, Float16, BFloat16.
template <class F>
Status DispatchFloat(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: return f(float{});
    case DType::kFloat64: return f(double{});
    case DType::kFloat16: return f(Float16{});
    case DType::kBFloat16: return f(BFloat16{});
    default: return NotImplemented("type ", DTypeName(t), " is not supported here (expected a float type)");
  }
}

// Integer types (signed and unsigned, no bool).
template <class F>
Status DispatchInteger(DType t, F&& f) {
  switch (t) {
    case DType::kInt8: return f(int8_t{});
    case DType::kInt16: return f(int16_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kInt64: return f(int64_t{});
    case DType::kUInt8: return f(uint8_t{});
    case DType::kUInt16: return f(uint16_t{});
    case DType::kUInt32: return f(uint32_t{});
    case DType::kUInt64: return f(uint64_t{});
    default: return NotImplemented("type ", DTypeName(t), " is not supported here (expected an integer type)");
  }
}

// Every numeric type: floats and integers (no bool, no string).
template <class F>
Status DispatchNumeric(DType t, F&& f) {
  if (IsFloatingDType(t)) return DispatchFloat(t, f);
  if (IsIntegerDType(t)) return DispatchInteger(t, f);
  return NotImplemented("type ", DTypeName(t), " is not supported here (expected a numeric type)");
}

// Every type with fixed-size elements: numeric and bool.
template <class F>
Status DispatchPod(DType t, F&& f) {
  if (t == DType::kBool) return f(bool{});
  return DispatchNumeric(t, f);
}

// Every type, strings included.
template <class F>
Status DispatchAll(DType t, F&& f) {
  if (t == DType::kString) return f(std::string{});
  return DispatchPod(t, f);
}

// Converts between element types through float for the 16-bit floats.
template <class To, class From>
inline To CastValue(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, Float16> || std::is_same_v<To, BFloat16>) {
    return To(static_cast<float>(v));
  } else if constexpr (std::is_same_v<From, Float16> || std::is_same_v<From, BFloat16>) {
    return static_cast<To>(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace privedge
