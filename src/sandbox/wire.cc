#include "sandbox/wire.h"

#include <cstring>

namespace privedge::sandbox {
namespace {

constexpr uint32_t kMaxRank = 64;
constexpr uint64_t kMaxCount = 1 << 20;  // tensors or infos in one message

bool IsKnownDType(uint32_t v) {
  switch (static_cast<DType>(v)) {
    case DType::kFloat32:
    case DType::kUInt8:
    case DType::kInt8:
    case DType::kUInt16:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kString:
    case DType::kBool:
    case DType::kFloat16:
    case DType::kFloat64:
    case DType::kUInt32:
    case DType::kUInt64:
    case DType::kBFloat16:
      return true;
    default:
      return false;
  }
}

// Name, dtype and shape of one encoded tensor, checked against `max_tensor_bytes`.
struct TensorHeader {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape shape;
};

bool ReadTensorHeader(Reader& r, size_t max_tensor_bytes, TensorHeader& h) {
  h.name = r.Str();
  const uint32_t dtype = r.U32();
  const uint32_t rank = r.U32();
  if (!r.ok()) return false;
  if (!IsKnownDType(dtype)) {
    r.Fail("tensor '" + h.name + "' has unknown type " + std::to_string(dtype));
    return false;
  }
  if (rank > kMaxRank) {
    r.Fail("tensor '" + h.name + "' has rank " + std::to_string(rank) + " (at most 64)");
    return false;
  }
  h.dtype = static_cast<DType>(dtype);
  h.shape.resize(rank);
  for (uint32_t i = 0; i < rank; ++i) h.shape[i] = static_cast<int64_t>(r.U64());
  if (!r.ok()) return false;
  const int64_t n = ShapeElementCount(h.shape);
  const size_t elem = h.dtype == DType::kString ? 1 : DTypeSize(h.dtype);
  if (n < 0 || static_cast<uint64_t>(n) > max_tensor_bytes / elem) {
    r.Fail("tensor '" + h.name + "' of shape " + ShapeToString(h.shape) +
           " is invalid or exceeds the tensor size limit");
    return false;
  }
  return true;
}

Result<NamedTensors> Decode(Reader& r, size_t max_tensor_bytes, bool borrow,
                            const std::shared_ptr<void>& owner) {
  const uint64_t count = r.U64();
  if (r.ok() && count > kMaxCount) r.Fail("tensor count " + std::to_string(count) + " too large");
  NamedTensors out;
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    TensorHeader h;
    if (!ReadTensorHeader(r, max_tensor_bytes, h)) break;
    const int64_t n = ShapeElementCount(h.shape);
    if (h.dtype == DType::kString) {
      auto t = Tensor::Create(h.dtype, h.shape, max_tensor_bytes);
      if (!t.ok()) return t.status();
      size_t total = 0;
      for (int64_t k = 0; k < n && r.ok(); ++k) {
        std::string s = r.Str();
        total += s.size();
        if (total > max_tensor_bytes) r.Fail("string tensor '" + h.name + "' is too large");
        t->data<std::string>()[k] = std::move(s);
      }
      out.emplace_back(h.name, std::move(*t));
      continue;
    }
    const size_t nbytes = static_cast<size_t>(n) * DTypeSize(h.dtype);
    r.Align(64);
    const uint8_t* data = r.Bytes(nbytes);
    if (!data) break;
    if (borrow) {
      out.emplace_back(h.name, Tensor::Borrow(h.dtype, h.shape, const_cast<uint8_t*>(data), owner));
    } else {
      auto t = Tensor::Create(h.dtype, h.shape, max_tensor_bytes);
      if (!t.ok()) return t.status();
      if (nbytes) std::memcpy(t->raw_data(), data, nbytes);
      out.emplace_back(h.name, std::move(*t));
    }
  }
  if (!r.ok()) return r.status();
  return out;
}

}  // namespace

void Writer::Raw(const void* p, size_t n) {
  if (data_ && n && size_ + n <= capacity_) std::memcpy(data_ + size_, p, n);
  size_ += n;
}

void Reader::Fail(const std::string& what) {
  if (error_.empty()) error_ = what;
  pos_ = size_;
}

const uint8_t* Reader::Bytes(size_t n) {
  if (!ok()) return nullptr;
  if (n > size_ - pos_) {
    Fail("message truncated: needs " + std::to_string(n) + " bytes at offset " +
         std::to_string(pos_) + ", has " + std::to_string(size_ - pos_));
    return nullptr;
  }
  const uint8_t* p = data_ + pos_;
  pos_ += n;
  return p;
}

uint8_t Reader::U8() {
  const uint8_t* p = Bytes(1);
  return p ? *p : 0;
}
uint32_t Reader::U32() {
  uint32_t v = 0;
  if (const uint8_t* p = Bytes(4)) std::memcpy(&v, p, 4);
  return v;
}
uint64_t Reader::U64() {
  uint64_t v = 0;
  if (const uint8_t* p = Bytes(8)) std::memcpy(&v, p, 8);
  return v;
}
std::string Reader::Str() {
  const uint64_t n = U64();
  if (!ok()) return {};
  const uint8_t* p = Bytes(n);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}
void Reader::Align(size_t a) {
  const size_t pad = (a - pos_ % a) % a;
  Bytes(pad);
}
Status Reader::status() const {
  return ok() ? Status::OK()
              : Status(StatusCode::kAborted, "bad message from the worker: " + error_);
}

void EncodeLoadRequest(const LoadRequest& q, Writer& w) {
  w.U8(q.from_buffer);
  w.Str(q.path);
  w.Str(q.model_bytes);
  w.U32(static_cast<uint32_t>(q.options.threads));
  w.U8(q.options.fast_kernels);
  w.U8(q.options.optimize);
  w.U64(q.options.max_tensor_bytes);
  w.U64(static_cast<uint64_t>(q.options.max_loop_iterations));
}

Result<LoadRequest> DecodeLoadRequest(Reader& r) {
  LoadRequest q;
  q.from_buffer = r.U8() != 0;
  q.path = r.Str();
  q.model_bytes = r.Str();
  q.options.threads = static_cast<int>(r.U32());
  q.options.fast_kernels = r.U8() != 0;
  q.options.optimize = r.U8() != 0;
  q.options.max_tensor_bytes = r.U64();
  q.options.max_loop_iterations = static_cast<int64_t>(r.U64());
  if (!r.ok()) return r.status();
  return q;
}

void EncodeTensorInfos(const std::vector<TensorInfo>& infos, Writer& w) {
  w.U64(infos.size());
  for (const TensorInfo& i : infos) {
    w.Str(i.name);
    w.Str(i.kind);
    w.U32(static_cast<uint32_t>(i.dtype));
    w.U8(i.has_shape);
    w.U64(i.shape.size());
    for (const DimInfo& d : i.shape) {
      w.U64(static_cast<uint64_t>(d.value));
      w.Str(d.symbol);
    }
  }
}

Result<std::vector<TensorInfo>> DecodeTensorInfos(Reader& r) {
  const uint64_t count = r.U64();
  if (r.ok() && count > kMaxCount) r.Fail("info count " + std::to_string(count) + " too large");
  std::vector<TensorInfo> infos;
  for (uint64_t k = 0; k < count && r.ok(); ++k) {
    TensorInfo i;
    i.name = r.Str();
    i.kind = r.Str();
    const uint32_t dtype = r.U32();
    if (r.ok() && dtype != 0 && !IsKnownDType(dtype))
      r.Fail("info '" + i.name + "' has unknown type " + std::to_string(dtype));
    i.dtype = static_cast<DType>(dtype);
    i.has_shape = r.U8() != 0;
    const uint64_t rank = r.U64();
    if (r.ok() && rank > kMaxRank) r.Fail("info '" + i.name + "' has rank above 64");
    for (uint64_t d = 0; d < rank && r.ok(); ++d) {
      DimInfo dim;
      dim.value = static_cast<int64_t>(r.U64());
      dim.symbol = r.Str();
      i.shape.push_back(std::move(dim));
    }
    infos.push_back(std::move(i));
  }
  if (!r.ok()) return r.status();
  return infos;
}

void EncodeTensors(const NamedTensors& tensors, Writer& w) {
  w.U64(tensors.size());
  for (const auto& [name, t] : tensors) {
    w.Str(name);
    w.U32(static_cast<uint32_t>(t.dtype()));
    w.U32(static_cast<uint32_t>(t.rank()));
    for (int64_t d : t.shape()) w.U64(static_cast<uint64_t>(d));
    if (t.dtype() == DType::kString) {
      for (int64_t k = 0; k < t.numel(); ++k) w.Str(t.data<std::string>()[k]);
    } else {
      w.Align(64);
      w.Raw(t.raw_data(), t.nbytes());
    }
  }
}

Result<NamedTensors> DecodeTensors(Reader& r, size_t max_tensor_bytes) {
  return Decode(r, max_tensor_bytes, false, nullptr);
}

Result<NamedTensors> DecodeTensorsBorrowed(Reader& r, size_t max_tensor_bytes,
                                           std::shared_ptr<void> owner) {
  return Decode(r, max_tensor_bytes, true, owner);
}

void EncodeStatus(const Status& status, Writer& w) {
  w.U32(static_cast<uint32_t>(status.code()));
  w.Str(status.message());
}

Status DecodeStatus(Reader& r) {
  const uint32_t code = r.U32();
  std::string message = r.Str();
  if (!r.ok()) return r.status();
  if (code == 0 || code > static_cast<uint32_t>(StatusCode::kAborted))
    return Status(StatusCode::kAborted,
                  "bad message from the worker: unknown status code " + std::to_string(code));
  // One line, whatever the worker sent.
  for (char& c : message)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return Status(static_cast<StatusCode>(code), message);
}

}  // namespace privedge::sandbox
