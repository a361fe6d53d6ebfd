// Pieces shared by the dataset readers: raw file reading, a byte stream that inflates gzip on
// the fly, and the text-level CSV parser.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "privedge/dataset.h"

namespace privedge::data {

// Deflate cannot expand data by more than about 1032:1 (RFC 1951 block limits); a gzip stream
// declaring more than this from its compressed size is impossible and refused before any
// allocation.
constexpr uint64_t kMaxDeflateRatio = 1032;

// The bytes of a regular file, refusing files larger than `max_bytes` before reading them.
Result<std::string> ReadRawFile(const std::string& path, uint64_t max_bytes);

// Decoded bytes of a buffer: the buffer itself, or its gzip inflation (members may be
// concatenated). Errors name `label`.
class ByteStream {
 public:
  ByteStream(std::span<const uint8_t> bytes, std::string label);
  ~ByteStream();
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  bool compressed() const { return zs_ != nullptr; }
  // Upper bound of the decoded bytes still to come (exact for an uncompressed buffer).
  uint64_t max_remaining() const;
  // Reads up to `n` bytes into `dst`; `*got < n` only at the end of the data.
  Status Read(uint8_t* dst, size_t n, size_t* got);
  // Decoded bytes read so far.
  uint64_t position() const { return produced_; }
  const std::string& label() const { return label_; }

 private:
  Status Inflate(uint8_t* dst, size_t n, size_t* got);

  std::span<const uint8_t> in_;
  size_t in_pos_ = 0;
  uint64_t produced_ = 0;
  std::string label_;
  std::unique_ptr<z_stream> zs_;
  bool member_done_ = false;
};

// `raw` inflated when it is gzip-compressed, else `raw` itself.
Result<std::string> DecodeRaw(std::string raw, const std::string& label, const DataLimits& limits);

// The tensor in an IDX or .npy file's raw bytes (`format` from DetectRawFormat); CSV is an
// error here.
Result<Tensor> ParseTensorRaw(std::string raw, DataFormat format, const std::string& label,
                              const DataLimits& limits);

// Format of the decoded data behind `raw` (peeking through gzip).
Result<DataFormat> DetectRawFormat(std::span<const uint8_t> raw, const std::string& label);

// CSV parsing of decoded text.
Result<CsvTable> ParseCsvText(std::string_view text, const std::string& label,
                              const CsvOptions& options, const DataLimits& limits);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace privedge::data
