// What the parent and the isolated worker exchange: small control messages over a socket and
// payloads (model request, tensor lists, errors) in a shared memory region.
//
// The parent treats everything the worker writes as hostile (the worker may be running a
// compromised interpreter): every decoder checks counts, sizes and offsets against the bytes
// present before using them, and copies each field once (the worker could change the region
// while it is read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "privedge/session.h"
#include "privedge/status.h"

namespace privedge::sandbox {

enum class MessageType : uint32_t {
  kLoad = 1,   // parent -> worker: payload is a LoadRequest
  kLoaded,     // worker -> parent: payload is the model's inputs and outputs (TensorInfo lists)
  kRun,        // parent -> worker: payload is the input tensors
  kResult,     // worker -> parent: payload is the output tensors
  kError,      // worker -> parent: payload is a Status (the call failed, the worker lives on)
  kNeedSpace,  // worker -> parent: the region must hold `bytes` bytes (outputs too large)
  kGrown,      // parent -> worker: the region now has `capacity` bytes
};

// One control-channel datagram (SOCK_SEQPACKET); fixed size.
struct ControlMessage {
  uint32_t magic = kMagic;
  MessageType type = MessageType::kLoad;
  uint64_t capacity = 0;         // bytes of the shared region the sender has mapped
  uint64_t bytes = 0;            // payload bytes at kPayloadOffset (or bytes wanted)
  uint64_t cpu_nanoseconds = 0;  // worker -> parent: the worker's CPU time so far
  static constexpr uint32_t kMagic = 0x50455342;  // "PESB"
};

// The first bytes of the shared region; the payload starts at kPayloadOffset.
struct RegionHeader {
  // Set by the worker's SIGSYS handler before it exits: the blocked system call number + 1.
  volatile uint32_t blocked_syscall_plus_one;
  // Set by the worker when an allocation failed under its memory limit.
  volatile uint32_t out_of_memory;
};
constexpr size_t kPayloadOffset = 64;

// Exit codes the worker uses for the cases it reports itself.
constexpr int kExitBlockedSyscall = 97;
constexpr int kExitOutOfMemory = 98;
constexpr int kExitProtocol = 99;

struct LoadRequest {
  bool from_buffer = false;  // the model is `model_bytes`, else the file at `path`
  std::string path;
  std::string model_bytes;
  SessionOptions options;
};

// Serializes into a fixed buffer; with a null buffer it only counts bytes (first pass).
class Writer {
 public:
  Writer(uint8_t* data, size_t capacity) : data_(data), capacity_(capacity) {}
  void U8(uint8_t v) { Raw(&v, 1); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void Str(const std::string& s) {
    U64(s.size());
    Raw(s.data(), s.size());
  }
  void Align(size_t a) {
    while (size_ % a) U8(0);
  }
  void Raw(const void* p, size_t n);
  size_t size() const { return size_; }
  bool overflow() const { return size_ > capacity_; }

 private:
  uint8_t* data_;
  size_t capacity_;
  size_t size_ = 0;
};

// Bounds-checked reader; the first failure sticks and is reported by status().
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t U8();
  uint32_t U32();
  uint64_t U64();
  std::string Str();
  // Returns a pointer to `n` bytes inside the buffer, or nullptr (and fails) past its end.
  const uint8_t* Bytes(size_t n);
  void Align(size_t a);
  void Fail(const std::string& what);
  bool ok() const { return error_.empty(); }
  size_t remaining() const { return size_ - pos_; }
  Status status() const;

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string error_;
};

void EncodeLoadRequest(const LoadRequest& request, Writer& w);
Result<LoadRequest> DecodeLoadRequest(Reader& r);

void EncodeTensorInfos(const std::vector<TensorInfo>& infos, Writer& w);
Result<std::vector<TensorInfo>> DecodeTensorInfos(Reader& r);

// Tensor data is aligned to 64 bytes from the start of the buffer given to the Writer/Reader.
void EncodeTensors(const NamedTensors& tensors, Writer& w);
// Copies every tensor out of the buffer; no tensor may exceed `max_tensor_bytes`.
Result<NamedTensors> DecodeTensors(Reader& r, size_t max_tensor_bytes);
// Without copying: non-string tensors point into the buffer (kept alive by `owner`, which
// may be null when the caller keeps the buffer alive while the tensors are used).
Result<NamedTensors> DecodeTensorsBorrowed(Reader& r, size_t max_tensor_bytes,
                                           std::shared_ptr<void> owner);

void EncodeStatus(const Status& status, Writer& w);
Status DecodeStatus(Reader& r);

}  // namespace privedge::sandbox
