// Tensor: a typed, shaped, reference-counted block of memory.
//
// A Tensor is a cheap handle: copying it shares the underlying storage (like a shared_ptr).
// Use Clone() for a deep copy. Element data is 64-byte aligned and zero-initialized when the
// tensor is created by privedge. String tensors hold std::string elements.
//
// Thread-safety: distinct Tensor handles may be used from different threads; writing to the
// same storage from two threads at once is the caller's responsibility.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "privedge/status.h"

namespace privedge {

// Element types. The numbering matches onnx.TensorProto.DataType so files map one to one.
enum class DType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
};

// IEEE 754 binary16, stored as its bits. Arithmetic goes through float.
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  explicit Float16(float f);
  operator float() const;  // NOLINT: implicit widening is always exact
};

// bfloat16 (the top 16 bits of a float32), round-to-nearest-even on conversion.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float f);
  operator float() const;  // NOLINT: implicit widening is always exact
};

float HalfToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);

// Size in bytes of one element; 0 for kString and kUndefined.
size_t DTypeSize(DType t);
// "float32", "int64", ...; "undefined(N)" for values outside the enum.
std::string DTypeName(DType t);
// True for the enum values listed above (except kUndefined).
bool IsValidDType(int32_t t);
bool IsFloatingDType(DType t);  // float16, bfloat16, float32, float64
bool IsIntegerDType(DType t);   // signed and unsigned integers (not bool)

// Maps a C++ element type to its DType.
template <class T>
struct DTypeOf;
#define PE_DTYPE_OF_(T, D) \
  template <>              \
  struct DTypeOf<T> {      \
    static constexpr DType value = D; \
  };
PE_DTYPE_OF_(float, DType::kFloat32)
PE_DTYPE_OF_(double, DType::kFloat64)
PE_DTYPE_OF_(int8_t, DType::kInt8)
PE_DTYPE_OF_(int16_t, DType::kInt16)
PE_DTYPE_OF_(int32_t, DType::kInt32)
PE_DTYPE_OF_(int64_t, DType::kInt64)
PE_DTYPE_OF_(uint8_t, DType::kUInt8)
PE_DTYPE_OF_(uint16_t, DType::kUInt16)
PE_DTYPE_OF_(uint32_t, DType::kUInt32)
PE_DTYPE_OF_(uint64_t, DType::kUInt64)
PE_DTYPE_OF_(bool, DType::kBool)
PE_DTYPE_OF_(Float16, DType::kFloat16)
PE_DTYPE_OF_(BFloat16, DType::kBFloat16)
PE_DTYPE_OF_(std::string, DType::kString)
#undef PE_DTYPE_OF_

// A shape: one extent per axis; rank 0 is a scalar with one element.
using Shape = std::vector<int64_t>;

// Number of elements, or -1 if any dimension is negative or the product overflows int64.
int64_t ShapeElementCount(const Shape& shape);
// "[1,3,224,224]".
std::string ShapeToString(const Shape& shape);

class Tensor {
 public:
  // An empty handle: dtype kUndefined, no storage. defined() is false.
  Tensor() = default;

  // Allocates zeroed storage for `shape`. Check shapes before calling (see Create()).
  Tensor(DType dtype, Shape shape);

  // Like the constructor, but refuses undefined types, negative dimensions and element
  // counts whose byte size would exceed `max_bytes` instead of attempting the allocation.
  static Result<Tensor> Create(DType dtype, Shape shape, size_t max_bytes = size_t{1} << 34);

  // Wraps memory owned elsewhere; `owner` keeps it alive. The caller guarantees `data` is
  // valid for the tensor's byte size and suitably aligned for the element type.
  static Tensor Borrow(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner);

  // A tensor holding a copy of `values` with `shape` (element count must match).
  template <class T>
  static Tensor FromVector(const std::vector<T>& values, Shape shape) {
    Tensor t(DTypeOf<T>::value, std::move(shape));
    if constexpr (std::is_same_v<T, std::string>) {
      for (size_t i = 0; i < values.size() && i < static_cast<size_t>(t.numel()); ++i)
        t.data<std::string>()[i] = values[i];
    } else if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < values.size() && i < static_cast<size_t>(t.numel()); ++i)
        t.data<bool>()[i] = values[i];
    } else {
      size_t n = std::min(values.size(), static_cast<size_t>(t.numel()));
      if (n) std::memcpy(t.raw_data(), values.data(), n * sizeof(T));
    }
    return t;
  }
  // A rank-0 tensor holding `value`.
  template <class T>
  static Tensor Scalar(T value) {
    return FromVector<T>(std::vector<T>{value}, {});
  }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  // Extent of axis `i`; negative `i` counts from the end. Precondition: valid axis.
  int64_t dim(int64_t i) const { return shape_[i < 0 ? i + static_cast<int64_t>(rank()) : i]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * DTypeSize(dtype_); }

  // Typed element access. Precondition: T matches dtype() (checked: returns nullptr if not).
  template <class T>
  T* data() {
    return DTypeOf<T>::value == dtype_ ? static_cast<T*>(data_) : nullptr;
  }
  template <class T>
  const T* data() const {
    return DTypeOf<T>::value == dtype_ ? static_cast<const T*>(data_) : nullptr;
  }
  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }

  // Same storage, new shape. Precondition: same element count.
  Tensor Reshaped(Shape shape) const;
  // A deep copy with its own storage.
  Tensor Clone() const;
  // Element `i` converted to double (numeric and bool types; 0 for strings).
  double GetAsDouble(int64_t i) const;
  // Element `i` converted to int64 (numeric and bool types; 0 for strings).
  int64_t GetAsInt64(int64_t i) const;

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  void* data_ = nullptr;
  std::shared_ptr<void> storage_;
};

}  // namespace privedge
