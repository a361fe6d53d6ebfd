// Reading data files: size-checked raw reads, gzip inflation, format detection.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "model/tensor_io.h"
#include "train/data/data_internal.h"

namespace privedge {
namespace data {

Result<std::string> ReadRawFile(const std::string& path, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("'", path, "' is not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    return ResourceExhausted("'", path, "' is ", size, " bytes, above the limit of ", max_bytes,
                             " bytes (DataLimits::max_bytes)");
  }
  std::string bytes(size, '\0');
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return IoError("failed reading '", path, "' at byte ", done, " of ", size);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return bytes;
}

ByteStream::ByteStream(std::span<const uint8_t> bytes, std::string label)
    : in_(bytes), label_(std::move(label)) {
  if (!IsGzip(bytes)) return;
  zs_ = std::make_unique<z_stream>();
  std::memset(zs_.get(), 0, sizeof(z_stream));
  // 15 + 16: a 32 KiB window, gzip wrapper only. zlib fails here only when out of memory; the
  // bytes are then passed through and the parser rejects the gzip magic.
  if (inflateInit2(zs_.get(), 15 + 16) != Z_OK) zs_.reset();
}

ByteStream::~ByteStream() {
  if (zs_) inflateEnd(zs_.get());
}

uint64_t ByteStream::max_remaining() const {
  const uint64_t left = in_.size() - in_pos_;
  if (!zs_) return left;
  // Output zlib holds back is bounded by its 32 KiB window.
  return left > UINT64_MAX / kMaxDeflateRatio ? UINT64_MAX : left * kMaxDeflateRatio + 65536;
}

Status ByteStream::Read(uint8_t* dst, size_t n, size_t* got) {
  if (zs_) return Inflate(dst, n, got);
  *got = std::min<size_t>(n, in_.size() - in_pos_);
  if (*got) std::memcpy(dst, in_.data() + in_pos_, *got);
  in_pos_ += *got;
  produced_ += *got;
  return Status::OK();
}

Status ByteStream::Inflate(uint8_t* dst, size_t n, size_t* got) {
  *got = 0;
  while (*got < n) {
    if (member_done_) {
      if (in_pos_ == in_.size()) break;
      if (!IsGzip(in_.subspan(in_pos_)))
        return InvalidArgument(label_, ": ", in_.size() - in_pos_,
                               " bytes of trailing data after the gzip stream");
      inflateReset(zs_.get());
      member_done_ = false;
    }
    const size_t in_chunk = std::min<size_t>(in_.size() - in_pos_, UINT_MAX);
    const size_t out_chunk = std::min<size_t>(n - *got, UINT_MAX);
    zs_->next_in = const_cast<Bytef*>(in_.data() + in_pos_);
    zs_->avail_in = static_cast<uInt>(in_chunk);
    zs_->next_out = dst + *got;
    zs_->avail_out = static_cast<uInt>(out_chunk);
    const int rc = inflate(zs_.get(), Z_NO_FLUSH);
    in_pos_ += in_chunk - zs_->avail_in;
    const size_t out = out_chunk - zs_->avail_out;
    *got += out;
    produced_ += out;
    if (rc == Z_STREAM_END) {
      member_done_ = true;
    } else if (rc == Z_BUF_ERROR && in_pos_ == in_.size()) {
      return InvalidArgument(label_, ": truncated gzip stream (input ends after ", produced_,
                             " decoded bytes)");
    } else if (rc != Z_OK) {
      return InvalidArgument(label_, ": corrupt gzip data after ", produced_, " decoded bytes (",
                             zs_->msg ? zs_->msg : "zlib error " + std::to_string(rc), ")");
    }
  }
  return Status::OK();
}

Result<DataFormat> DetectRawFormat(std::span<const uint8_t> raw, const std::string& label) {
  uint8_t head[6] = {};
  ByteStream stream(raw, label);
  size_t got = 0;
  PE_RETURN_IF_ERROR(stream.Read(head, sizeof(head), &got));
  return DetectDataFormat({head, got});
}

}  // namespace data

const char* DataFormatName(DataFormat format) {
  switch (format) {
    case DataFormat::kIdx: return "idx";
    case DataFormat::kNpy: return "npy";
    case DataFormat::kCsv: return "csv";
  }
  return "unknown";
}

bool IsGzip(std::span<const uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

DataFormat DetectDataFormat(std::span<const uint8_t> decoded) {
  if (decoded.size() >= 3 && decoded[0] == 0 && decoded[1] == 0) {
    switch (decoded[2]) {
      case 0x08:
      case 0x09:
      case 0x0B:
      case 0x0C:
      case 0x0D:
      case 0x0E: return DataFormat::kIdx;
      default: break;
    }
  }
  if (decoded.size() >= 6 && std::memcmp(decoded.data(), "\x93NUMPY", 6) == 0)
    return DataFormat::kNpy;
  return DataFormat::kCsv;
}

Result<std::string> InflateIfGzip(std::span<const uint8_t> bytes, const std::string& label,
                                  const DataLimits& limits) {
  data::ByteStream stream(bytes, label);
  if (!stream.compressed()) {
    if (bytes.size() > limits.max_bytes)
      return ResourceExhausted(label, ": ", bytes.size(), " bytes, above the limit of ",
                               limits.max_bytes, " bytes (DataLimits::max_bytes)");
    return std::string(bytes.begin(), bytes.end());
  }
  // Grow geometrically, never past the limit plus one byte: that byte tells "exactly at the
  // limit" from "above it" without inflating any further.
  std::string out;
  const uint64_t cap = limits.max_bytes + 1;
  size_t size = 0;
  for (;;) {
    const uint64_t want = std::min<uint64_t>(cap, std::max<uint64_t>(65536, out.size() * 2));
    if (want > out.size()) out.resize(want);
    size_t got = 0;
    PE_RETURN_IF_ERROR(
        stream.Read(reinterpret_cast<uint8_t*>(out.data()) + size, out.size() - size, &got));
    size += got;
    if (size > limits.max_bytes)
      return ResourceExhausted(label, ": inflates to more than ", limits.max_bytes,
                               " bytes (DataLimits::max_bytes; compressed size ", bytes.size(),
                               ")");
    if (size < out.size()) break;
  }
  out.resize(size);
  return out;
}

namespace data {
Result<std::string> DecodeRaw(std::string raw, const std::string& label, const DataLimits& limits) {
  if (!IsGzip(AsBytes(raw))) return raw;
  return InflateIfGzip(AsBytes(raw), label, limits);
}
}  // namespace data

Result<std::string> ReadDataFile(const std::string& path, const DataLimits& limits) {
  PE_ASSIGN_OR_RETURN(std::string raw, data::ReadRawFile(path, limits.max_bytes));
  return data::DecodeRaw(std::move(raw), path, limits);
}

namespace data {
Result<Tensor> ParseTensorRaw(std::string raw, DataFormat format, const std::string& label,
                              const DataLimits& limits) {
  if (format == DataFormat::kIdx) return ParseIdx(AsBytes(raw), label, limits);
  if (format == DataFormat::kCsv)
    return InvalidArgument(label, ": neither IDX nor .npy (no IDX or \\x93NUMPY magic); a CSV ",
                           "file needs the CSV reader");
  PE_ASSIGN_OR_RETURN(std::string decoded, DecodeRaw(std::move(raw), label, limits));
  PE_ASSIGN_OR_RETURN(Tensor t, ParseNpy(decoded, label));
  if (t.rank() > static_cast<size_t>(limits.max_rank))
    return InvalidArgument(label, ": .npy rank ", t.rank(), " is above the limit of ",
                           limits.max_rank, " (DataLimits::max_rank)");
  return t;
}
}  // namespace data

Result<Tensor> ReadTensorData(const std::string& path, const DataLimits& limits) {
  PE_ASSIGN_OR_RETURN(std::string raw, data::ReadRawFile(path, limits.max_bytes));
  PE_ASSIGN_OR_RETURN(DataFormat format, data::DetectRawFormat(data::AsBytes(raw), path));
  return data::ParseTensorRaw(std::move(raw), format, path, limits);
}

}  // namespace privedge
