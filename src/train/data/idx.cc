// The IDX format (MNIST, Fashion-MNIST): a 4-byte magic, big-endian uint32 dimensions, then
// the elements, big-endian and row-major.
#include <algorithm>
#include <bit>
#include <cstdio>

#include "train/data/data_internal.h"

namespace privedge {
namespace {

struct IdxType {
  uint8_t code;
  DType dtype;
};
constexpr IdxType kIdxTypes[] = {
    {0x08, DType::kUInt8}, {0x09, DType::kInt8},    {0x0B, DType::kInt16},
    {0x0C, DType::kInt32}, {0x0D, DType::kFloat32}, {0x0E, DType::kFloat64},
};

std::string Hex(uint8_t b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02X", b);
  return buf;
}

// Reads exactly `n` bytes or says what was expected and what the data held.
Status ReadExact(data::ByteStream& in, uint8_t* dst, size_t n, const std::string& what) {
  size_t got = 0;
  PE_RETURN_IF_ERROR(in.Read(dst, n, &got));
  if (got == n) return Status::OK();
  return InvalidArgument(in.label(), ": truncated IDX file: ", what, " needs ", n,
                         " bytes at offset ", in.position() - got, ", ",
                         in.compressed() ? "inflated data has " : "file has ", got);
}

// IDX stores elements big-endian; turn them into host order in place.
void BigEndianToHost(Tensor& t) {
  const size_t width = DTypeSize(t.dtype());
  if (width == 1 || std::endian::native == std::endian::big) return;
  auto* p = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0, n = t.nbytes(); i < n; i += width) std::reverse(p + i, p + i + width);
}

}  // namespace

Result<Tensor> ParseIdx(std::span<const uint8_t> bytes, const std::string& label,
                        const DataLimits& limits) {
  data::ByteStream in(bytes, label);
  uint8_t magic[4];
  PE_RETURN_IF_ERROR(ReadExact(in, magic, 4, "the magic number"));
  if (magic[0] != 0 || magic[1] != 0)
    return InvalidArgument(label, ": not an IDX file (magic starts ", Hex(magic[0]), " ",
                           Hex(magic[1]), ", expected 0x00 0x00)");
  DType dtype = DType::kUndefined;
  for (const IdxType& t : kIdxTypes)
    if (t.code == magic[2]) dtype = t.dtype;
  if (dtype == DType::kUndefined)
    return InvalidArgument(label, ": unknown IDX element type ", Hex(magic[2]),
                           " (expected 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D "
                           "float32 or 0x0E float64)");
  const int rank = magic[3];
  if (rank < 1 || rank > limits.max_rank)
    return InvalidArgument(label, ": IDX rank ", rank, " is outside [1, ", limits.max_rank,
                           "] (DataLimits::max_rank)");

  uint8_t dim_bytes[4 * 255];
  PE_RETURN_IF_ERROR(ReadExact(in, dim_bytes, 4 * rank, std::to_string(rank) + " dimensions"));
  Shape shape(rank);
  uint64_t payload = DTypeSize(dtype);
  bool overflow = false;
  for (int i = 0; i < rank; ++i) {
    const uint8_t* d = dim_bytes + 4 * i;
    shape[i] = int64_t{d[0]} << 24 | int64_t{d[1]} << 16 | int64_t{d[2]} << 8 | d[3];
    overflow |= __builtin_mul_overflow(payload, static_cast<uint64_t>(shape[i]), &payload);
  }
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(rank);
  if (overflow || payload > limits.max_bytes - std::min(limits.max_bytes, header))
    return ResourceExhausted(
        label, ": IDX header declares ", DTypeName(dtype), ShapeToString(shape), ", ",
        overflow ? std::string("more than 2^64") : std::to_string(payload),
        " bytes, above the limit of ", limits.max_bytes, " bytes (DataLimits::max_bytes)");
  // The input can only hold so much: refuse a small file declaring a huge shape before
  // allocating for it.
  if (payload > in.max_remaining())
    return InvalidArgument(label, ": truncated IDX file: header declares ", DTypeName(dtype),
                           ShapeToString(shape), " (", payload, " bytes) but the ",
                           in.compressed() ? "compressed input can hold at most " : "file has ",
                           in.max_remaining());
  PE_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(dtype, shape, limits.max_bytes));
  PE_RETURN_IF_ERROR(ReadExact(in, static_cast<uint8_t*>(t.raw_data()), t.nbytes(),
                               "the " + DTypeName(dtype) + ShapeToString(shape) + " elements"));
  uint8_t extra = 0;
  size_t got = 0;
  PE_RETURN_IF_ERROR(in.Read(&extra, 1, &got));
  if (got != 0)
    return InvalidArgument(label, ": ",
                           in.compressed()
                               ? std::string("trailing data")
                               : std::to_string(in.max_remaining() + 1) + " trailing bytes",
                           " after the ", header + payload, " bytes the IDX header declares");
  BigEndianToHost(t);
  return t;
}

Result<Tensor> ReadIdxFile(const std::string& path, const DataLimits& limits) {
  PE_ASSIGN_OR_RETURN(std::string raw, data::ReadRawFile(path, limits.max_bytes));
  return ParseIdx(data::AsBytes(raw), path, limits);
}

}  // namespace privedge
