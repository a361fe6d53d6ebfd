#include "privedge/tensor.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>

namespace privedge {

float HalfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {  // subnormal or zero in half
    // Value in units of 2^-24, rounded to nearest even.
    float f;
    std::memcpy(&f, &abs, 4);
    float scaled = f * 16777216.0f;  // 2^24
    float r = std::nearbyint(scaled);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(r));
  }
  uint32_t mant = abs & 0x7fffffu;
  uint32_t exp = (abs >> 23) - 127 + 15;
  uint32_t h = exp << 10 | mant >> 13;
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // carries into exponent correctly
  return static_cast<uint16_t>(sign | h);
}

float BFloat16ToFloat(uint16_t bits) {
  uint32_t x = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t FloatToBFloat16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

Float16::Float16(float f) : bits(FloatToHalf(f)) {}
Float16::operator float() const { return HalfToFloat(bits); }
BFloat16::BFloat16(float f) : bits(FloatToBFloat16(f)) {}
BFloat16::operator float() const { return BFloat16ToFloat(bits); }

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kUInt8: return 1;
    case DType::kInt8: return 1;
    case DType::kUInt16: return 2;
    case DType::kInt16: return 2;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBool: return 1;
    case DType::kFloat16: return 2;
    case DType::kFloat64: return 8;
    case DType::kUInt32: return 4;
    case DType::kUInt64: return 8;
    case DType::kBFloat16: return 2;
    case DType::kString: return sizeof(std::string);
    case DType::kUndefined: return 0;
  }
  return 0;
}

std::string DTypeName(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kUInt16: return "uint16";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kString: return "string";
    case DType::kBool: return "bool";
    case DType::kFloat16: return "float16";
    case DType::kFloat64: return "float64";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
    case DType::kBFloat16: return "bfloat16";
    case DType::kUndefined: break;
  }
  return "undefined(" + std::to_string(static_cast<int>(t)) + ")";
}

bool IsValidDType(int32_t t) { return (t >= 1 && t <= 13) || t == 16; }

bool IsFloatingDType(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16;
}

bool IsIntegerDType(DType t) {
  switch (t) {
    case DType::kInt8: case DType::kInt16: case DType::kInt32: case DType::kInt64:
    case DType::kUInt8: case DType::kUInt16: case DType::kUInt32: case DType::kUInt64:
      return true;
    default:
      return false;
  }
}

int64_t ShapeElementCount(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

std::string ShapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

std::shared_ptr<void> AllocateStorage(DType dtype, int64_t numel, void** data) {
  if (dtype == DType::kString) {
    auto* v = new std::vector<std::string>(static_cast<size_t>(numel));
    *data = v->data();
    return std::shared_ptr<void>(v, [](void* p) { delete static_cast<std::vector<std::string>*>(p); });
  }
  size_t bytes = static_cast<size_t>(numel) * DTypeSize(dtype);
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  *data = p;
  return std::shared_ptr<void>(p, AlignedFree());
}

}  // namespace

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = ShapeElementCount(shape_);
  if (numel_ < 0) numel_ = 0;
  storage_ = AllocateStorage(dtype_, numel_, &data_);
}

Result<Tensor> Tensor::Create(DType dtype, Shape shape, size_t max_bytes) {
  if (!IsValidDType(static_cast<int32_t>(dtype)))
    return InvalidArgument("tensor type ", DTypeName(dtype), " is not supported");
  int64_t n = ShapeElementCount(shape);
  if (n < 0) return InvalidArgument("invalid tensor shape ", ShapeToString(shape));
  size_t elem = dtype == DType::kString ? sizeof(std::string) : DTypeSize(dtype);
  if (static_cast<uint64_t>(n) > max_bytes / elem)
    return OutOfRange("tensor of shape ", ShapeToString(shape), " and type ", DTypeName(dtype),
                      " needs more than the ", max_bytes, "-byte limit");
  try {
    return Tensor(dtype, std::move(shape));
  } catch (const std::bad_alloc&) {
    return OutOfRange("out of memory allocating tensor of shape ", ShapeToString(shape));
  }
}

Tensor Tensor::Borrow(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = std::max<int64_t>(0, ShapeElementCount(t.shape_));
  t.data_ = data;
  t.storage_ = std::move(owner);
  return t;
}

Tensor Tensor::Reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::Clone() const {
  if (!defined()) return Tensor();
  Tensor t(dtype_, shape_);
  if (dtype_ == DType::kString) {
    for (int64_t i = 0; i < numel_; ++i) t.data<std::string>()[i] = data<std::string>()[i];
  } else if (nbytes()) {
    std::memcpy(t.data_, data_, nbytes());
  }
  return t;
}

double Tensor::GetAsDouble(int64_t i) const {
  const void* p = data_;
  switch (dtype_) {
    case DType::kFloat32: return static_cast<const float*>(p)[i];
    case DType::kFloat64: return static_cast<const double*>(p)[i];
    case DType::kFloat16: return HalfToFloat(static_cast<const uint16_t*>(p)[i]);
    case DType::kBFloat16: return BFloat16ToFloat(static_cast<const uint16_t*>(p)[i]);
    case DType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DType::kInt64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    case DType::kUInt32: return static_cast<const uint32_t*>(p)[i];
    case DType::kUInt64: return static_cast<double>(static_cast<const uint64_t*>(p)[i]);
    case DType::kBool: return static_cast<const bool*>(p)[i] ? 1.0 : 0.0;
    default: return 0.0;
  }
}

int64_t Tensor::GetAsInt64(int64_t i) const {
  const void* p = data_;
  switch (dtype_) {
    case DType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DType::kInt64: return static_cast<const int64_t*>(p)[i];
    case DType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    case DType::kUInt32: return static_cast<const uint32_t*>(p)[i];
    case DType::kUInt64: return static_cast<int64_t>(static_cast<const uint64_t*>(p)[i]);
    case DType::kBool: return static_cast<const bool*>(p)[i] ? 1 : 0;
    case DType::kString: return 0;
    default: {
      double d = GetAsDouble(i);
      if (!(d == d)) return 0;
      if (d >= 9.2e18) return std::numeric_limits<int64_t>::max();
      if (d <= -9.2e18) return std::numeric_limits<int64_t>::min();
      return static_cast<int64_t>(d);
    }
  }
}

}  // namespace privedge
