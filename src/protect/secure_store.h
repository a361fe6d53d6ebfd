// Internals of the secure store (include/privedge/secure_store.h): the per-silo log and the
// durable file operations. File formats are described in docs/secure-store.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "privedge/secure_buffer.h"
#include "privedge/secure_store.h"
#include "privedge/status.h"

namespace privedge::protect {

constexpr size_t kSiloIdBytes = 16;
constexpr size_t kSiloKeyBytes = 32;
// Log header: "PESLOG01" | silo id[16] | epoch[16].
constexpr size_t kLogHeaderBytes = 8 + 2 * kSiloIdBytes;
// Record: length u32le | check u32le | nonce[24] | XChaCha20-Poly1305(plaintext) with tag[16].
constexpr size_t kRecordHeaderBytes = 4 + 4 + 24;
constexpr size_t kRecordTagBytes = 16;
// Plaintext: kind u8 | key length u32le | key | value.
constexpr size_t kPlainHeaderBytes = 1 + 4;
constexpr size_t kMaxKeyBytes = 64 * 1024;

// Bytes one record with this key and value takes in a log.
constexpr size_t RecordDiskBytes(size_t key_bytes, size_t value_bytes) {
  return kRecordHeaderBytes + kPlainHeaderBytes + key_bytes + value_bytes + kRecordTagBytes;
}

enum class RecordKind : uint8_t { kAppend = 0, kPut = 1, kDelete = 2 };

// Which silo instance and key generation a log belongs to (both also in its key file).
struct SiloIdentity {
  uint8_t id[kSiloIdBytes];
  uint8_t epoch[kSiloIdBytes];
};

// Writes `bytes` to dir/name through a temporary file in the same directory: written, flushed,
// renamed over `name`, directory flushed. Readers see the old or the new file, never a part.
Status WriteFileAtomically(int dir_fd, const std::string& name, std::span<const uint8_t> bytes,
                           bool sync);
// Overwrites dir/name with random bytes, flushes it, unlinks it and flushes the directory.
Status ShredFile(int dir_fd, const std::string& name, bool sync);
Status SyncDir(int dir_fd);

// One silo's append-only log, verified when opened. Not thread-safe (the store serializes).
class SiloLog {
 public:
  // Creates dir/file with just its header (atomically). `key` is the silo key.
  static Result<std::unique_ptr<SiloLog>> Create(int dir_fd, const std::string& file,
                                                 const std::string& silo,
                                                 const SiloIdentity& identity, SecureBuffer key,
                                                 const SecureStoreOptions& options);
  // Opens dir/file, checks its header against `identity`, authenticates every record and cuts
  // off a torn last record. Errors: altered record before the tail (Unauthenticated).
  static Result<std::unique_ptr<SiloLog>> Open(int dir_fd, const std::string& file,
                                               const std::string& silo,
                                               const SiloIdentity& identity, SecureBuffer key,
                                               const SecureStoreOptions& options);
  ~SiloLog();

  // Appends and commits one record; returns its position.
  Result<uint64_t> Append(RecordKind kind, std::span<const uint8_t> key,
                          std::span<const uint8_t> value);
  Result<SecureBuffer> Get(std::span<const uint8_t> key) const;
  bool Contains(std::span<const uint8_t> key) const;
  Status Scan(const std::function<Status(const SecureRecord&)>& visit) const;
  SiloStats Stats() const;

 private:
  struct Entry {
    uint64_t offset;
    uint32_t plain_bytes;
    bool live;
  };
  SiloLog() = default;
  Status Load();
  Status TruncateTail(uint64_t offset);
  // Reads and authenticates record `seq`; the plaintext goes to `plain`.
  Status ReadRecord(uint64_t seq, SecureBuffer& plain) const;
  // Authenticates and decrypts record `seq` from its bytes `sealed`.
  Status OpenRecord(uint64_t seq, const uint8_t* sealed, SecureBuffer& plain) const;
  std::string KeyHash(std::span<const uint8_t> key) const;
  void Index(RecordKind kind, std::span<const uint8_t> key, uint64_t seq);
  std::string Where(uint64_t seq, uint64_t offset) const;

  int fd_ = -1;
  std::string silo_;
  std::string file_;
  SiloIdentity identity_{};
  SecureBuffer record_key_;  // AEAD key of the records
  SecureBuffer index_key_;   // keys the hashes that index keyed records in memory
  SecureStoreOptions options_;
  uint64_t end_ = 0;
  std::vector<Entry> entries_;
  // Keyed hash of a record key -> position of its current Put (no plaintext key in the heap).
  std::unordered_map<std::string, uint64_t> by_key_;
  uint64_t live_ = 0;
  uint64_t recovered_tail_bytes_ = 0;
};

}  // namespace privedge::protect
