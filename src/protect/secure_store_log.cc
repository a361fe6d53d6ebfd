// The per-silo log of the secure store and its durable file operations.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "protect/secure_store.h"

namespace privedge::protect {
namespace {

constexpr char kLogMagic[8] = {'P', 'E', 'S', 'L', 'O', 'G', '0', '1'};
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kAdBytes = 2 * kSiloIdBytes + 8 + 4;
static_assert(kRecordHeaderBytes == 8 + kNonceBytes);
static_assert(kRecordTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Tells a record header from random or zeroed bytes, so that a damaged length in the middle of
// a log is reported instead of being taken for a torn tail. Not a security check: the AEAD is.
uint32_t LengthCheck(uint32_t length) {
  uint8_t in[8] = {'P', 'E', 'S', 'R'};
  PutU32(in + 4, length);
  uint8_t out[4];
  crypto_generichash(out, sizeof out, in, sizeof in, nullptr, 0);
  return GetU32(out);
}

std::string Errno() { return strerror(errno); }

Status WriteAll(int fd, const uint8_t* data, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("write failed: ", n < 0 ? Errno() : "no progress");
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

// Reads exactly `size` bytes; false at end of file.
Result<bool> ReadAll(int fd, uint8_t* data, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = pread(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("read failed: ", Errno());
    if (n == 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

void MakeAd(const SiloIdentity& identity, uint64_t seq, uint32_t length, uint8_t* ad) {
  std::memcpy(ad, identity.id, kSiloIdBytes);
  std::memcpy(ad + kSiloIdBytes, identity.epoch, kSiloIdBytes);
  for (int i = 0; i < 8; ++i) ad[2 * kSiloIdBytes + i] = static_cast<uint8_t>(seq >> (8 * i));
  PutU32(ad + 2 * kSiloIdBytes + 8, length);
}

// Sequential reader of a log file in large chunks (opening a silo reads every record).
class ChunkReader {
 public:
  ChunkReader(int fd, uint64_t file_size) : fd_(fd), file_size_(file_size) {}
  // Pointer to bytes [offset, offset + n), which the caller checked lie within the file.
  Result<const uint8_t*> Fetch(uint64_t offset, size_t n) {
    if (offset < start_ || offset + n > start_ + buffer_.size()) {
      const uint64_t want = std::min<uint64_t>(std::max<size_t>(n, kChunk), file_size_ - offset);
      buffer_.resize(want);
      PE_ASSIGN_OR_RETURN(bool full, ReadAll(fd_, buffer_.data(), want, offset));
      if (!full) return IoError("file shrank while being read");
      start_ = offset;
    }
    return buffer_.data() + (offset - start_);
  }

 private:
  static constexpr size_t kChunk = size_t{1} << 20;
  int fd_;
  uint64_t file_size_;
  uint64_t start_ = 0;
  std::vector<uint8_t> buffer_;
};

// A record header whose check passes and whose length is within the limits.
bool ValidHeader(const uint8_t* h, size_t max_record) {
  const uint32_t length = GetU32(h);
  return length >= kPlainHeaderBytes && length - kPlainHeaderBytes <= max_record &&
         GetU32(h + 4) == LengthCheck(length);
}

// A valid header whose record fits in the `bytes_left` bytes from it.
bool PlausibleHeader(const uint8_t* h, uint64_t bytes_left, size_t max_record) {
  return bytes_left >= kRecordHeaderBytes + GetU32(h) + kRecordTagBytes &&
         ValidHeader(h, max_record);
}

// Whether a plausible record starts anywhere in [from, size): then records were written after
// a damaged one, so the damage is not a torn tail. Random bytes pass with odds of about 2^-32
// per offset, and most offsets are rejected by their length before any hashing.
Result<bool> RecordFollows(ChunkReader& reader, uint64_t from, uint64_t size, size_t max_record) {
  constexpr uint64_t kWindow = 64 * 1024;
  for (uint64_t base = from; base + kRecordHeaderBytes <= size; base += kWindow) {
    const uint64_t end = std::min(base + kWindow, size - kRecordHeaderBytes + 1);
    PE_ASSIGN_OR_RETURN(const uint8_t* p, reader.Fetch(base, end - base + 8));
    for (uint64_t q = base; q < end; ++q) {
      if (PlausibleHeader(p + (q - base), size - q, max_record)) return true;
    }
  }
  return false;
}

}  // namespace

Status SyncDir(int dir_fd) {
  if (fsync(dir_fd) != 0) return IoError("cannot flush the store directory: ", Errno());
  return Status::OK();
}

Status WriteFileAtomically(int dir_fd, const std::string& name, std::span<const uint8_t> bytes,
                           bool sync) {
  uint8_t suffix[8];
  randombytes_buf(suffix, sizeof suffix);
  char hex[2 * sizeof suffix + 1];
  sodium_bin2hex(hex, sizeof hex, suffix, sizeof suffix);
  const std::string tmp = name + "." + hex + ".tmp";
  const int fd = openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create ", tmp, ": ", Errno());
  Status st = WriteAll(fd, bytes.data(), bytes.size(), 0);
  if (st.ok() && sync && fdatasync(fd) != 0) st = IoError("cannot flush ", tmp, ": ", Errno());
  close(fd);
  if (st.ok() && renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) != 0) {
    st = IoError("cannot rename ", tmp, " to ", name, ": ", Errno());
  }
  if (!st.ok()) {
    unlinkat(dir_fd, tmp.c_str(), 0);
    return st.WithContext(name);
  }
  return sync ? SyncDir(dir_fd) : Status::OK();
}

Status ShredFile(int dir_fd, const std::string& name, bool sync) {
  const int fd = openat(dir_fd, name.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return IoError("cannot open ", name, " to destroy it: ", Errno());
  struct stat st;
  Status status;
  if (fstat(fd, &st) != 0) status = IoError("cannot stat ", name, ": ", Errno());
  if (status.ok()) {
    std::vector<uint8_t> noise(static_cast<size_t>(st.st_size));
    randombytes_buf(noise.data(), noise.size());
    status = WriteAll(fd, noise.data(), noise.size(), 0);
    // The overwrite must reach the disk even when the store does not sync its records.
    if (status.ok() && fdatasync(fd) != 0) status = IoError("cannot flush ", name, ": ", Errno());
  }
  close(fd);
  if (!status.ok()) return status.WithContext("destroying " + name);
  if (unlinkat(dir_fd, name.c_str(), 0) != 0) return IoError("cannot unlink ", name, ": ", Errno());
  return sync ? SyncDir(dir_fd) : Status::OK();
}

SiloLog::~SiloLog() {
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<SiloLog>> SiloLog::Create(int dir_fd, const std::string& file,
                                                 const std::string& silo,
                                                 const SiloIdentity& identity, SecureBuffer key,
                                                 const SecureStoreOptions& options) {
  uint8_t header[kLogHeaderBytes];
  std::memcpy(header, kLogMagic, 8);
  std::memcpy(header + 8, identity.id, kSiloIdBytes);
  std::memcpy(header + 8 + kSiloIdBytes, identity.epoch, kSiloIdBytes);
  PE_RETURN_IF_ERROR(WriteFileAtomically(dir_fd, file, header, options.sync));
  return Open(dir_fd, file, silo, identity, std::move(key), options);
}

Result<std::unique_ptr<SiloLog>> SiloLog::Open(int dir_fd, const std::string& file,
                                               const std::string& silo,
                                               const SiloIdentity& identity, SecureBuffer key,
                                               const SecureStoreOptions& options) {
  if (key.size() != kSiloKeyBytes) return Internal("silo key of ", key.size(), " bytes");
  std::unique_ptr<SiloLog> log(new SiloLog());
  log->silo_ = silo;
  log->file_ = file;
  log->identity_ = identity;
  log->options_ = options;
  PE_ASSIGN_OR_RETURN(log->record_key_, SecureBuffer::Allocate(kSiloKeyBytes));
  PE_ASSIGN_OR_RETURN(log->index_key_, SecureBuffer::Allocate(crypto_generichash_KEYBYTES));
  crypto_kdf_derive_from_key(log->record_key_.data(), kSiloKeyBytes, 1, "PEsilorc", key.data());
  crypto_kdf_derive_from_key(log->index_key_.data(), log->index_key_.size(), 2, "PEsiloix",
                             key.data());
  log->fd_ = openat(dir_fd, file.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (log->fd_ < 0) return IoError("silo '", silo, "': cannot open its log ", file, ": ", Errno());
  PE_RETURN_IF_ERROR(log->Load());
  return log;
}

std::string SiloLog::Where(uint64_t seq, uint64_t offset) const {
  return detail::Concat("silo '", silo_, "' (", file_, ") record ", seq, " at offset ", offset);
}

Status SiloLog::Load() {
  struct stat st;
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    return IoError("silo '", silo_, "': log ", file_, " is not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint8_t header[kLogHeaderBytes];
  PE_ASSIGN_OR_RETURN(bool full, ReadAll(fd_, header, sizeof header, 0));
  if (!full || std::memcmp(header, kLogMagic, 8) != 0) {
    return InvalidArgument("silo '", silo_, "': ", file_, " is not a privedge silo log (", size,
                           " bytes, expected the PESLOG01 header)");
  }
  if (sodium_memcmp(header + 8, identity_.id, kSiloIdBytes) != 0 ||
      sodium_memcmp(header + 8 + kSiloIdBytes, identity_.epoch, kSiloIdBytes) != 0) {
    return Unauthenticated("silo '", silo_, "': log ", file_,
                           " belongs to another silo or key generation than its key file");
  }
  ChunkReader reader(fd_, size);
  PE_ASSIGN_OR_RETURN(SecureBuffer plain, SecureBuffer::Allocate(0));
  uint64_t pos = kLogHeaderBytes;
  while (pos < size) {
    const uint64_t seq = entries_.size();
    if (size - pos < kRecordHeaderBytes) return TruncateTail(pos);
    PE_ASSIGN_OR_RETURN(const uint8_t* h, reader.Fetch(pos, kRecordHeaderBytes));
    const uint32_t length = GetU32(h);
    if (!ValidHeader(h, options_.max_record_bytes)) {
      PE_ASSIGN_OR_RETURN(bool more,
                          RecordFollows(reader, pos + 1, size, options_.max_record_bytes));
      if (!more) return TruncateTail(pos);  // e.g. blocks never written before a power cut
      return Unauthenticated(Where(seq, pos), ": damaged record header (length ", length,
                             ", limit ", options_.max_record_bytes, " + ", kPlainHeaderBytes,
                             ") with records after it");
    }
    const uint64_t total = kRecordHeaderBytes + length + kRecordTagBytes;
    if (size - pos < total) return TruncateTail(pos);
    entries_.push_back({pos, length, false});
    PE_ASSIGN_OR_RETURN(const uint8_t* sealed, reader.Fetch(pos, total));
    const Status read = OpenRecord(seq, sealed, plain);
    if (!read.ok()) {
      entries_.pop_back();
      if (read.code() != StatusCode::kUnauthenticated) return read;
      // A failed tag with no record after it is a write that did not complete.
      PE_ASSIGN_OR_RETURN(bool more,
                          RecordFollows(reader, pos + total, size, options_.max_record_bytes));
      if (!more) return TruncateTail(pos);
      return read;
    }
    const uint32_t key_bytes = GetU32(plain.data() + 1);
    Index(static_cast<RecordKind>(plain.data()[0]),
          plain.span().subspan(kPlainHeaderBytes, key_bytes), seq);
    pos += total;
  }
  end_ = pos;
  return Status::OK();
}

Status SiloLog::TruncateTail(uint64_t offset) {
  struct stat st;
  if (fstat(fd_, &st) != 0) return IoError("silo '", silo_, "': cannot stat its log: ", Errno());
  if (ftruncate(fd_, static_cast<off_t>(offset)) != 0 || fdatasync(fd_) != 0) {
    return IoError("silo '", silo_, "': cannot cut the torn record at offset ", offset, ": ",
                   Errno());
  }
  recovered_tail_bytes_ = static_cast<uint64_t>(st.st_size) - offset;
  end_ = offset;
  return Status::OK();
}

Status SiloLog::ReadRecord(uint64_t seq, SecureBuffer& plain) const {
  const Entry& e = entries_[seq];
  std::vector<uint8_t> sealed(kRecordHeaderBytes + e.plain_bytes + kRecordTagBytes);
  PE_ASSIGN_OR_RETURN(bool full, ReadAll(fd_, sealed.data(), sealed.size(), e.offset));
  if (!full || GetU32(sealed.data()) != e.plain_bytes) {
    return Unauthenticated(Where(seq, e.offset), ": log changed since the silo was opened");
  }
  return OpenRecord(seq, sealed.data(), plain);
}

Status SiloLog::OpenRecord(uint64_t seq, const uint8_t* sealed, SecureBuffer& plain) const {
  const Entry& e = entries_[seq];
  if (plain.size() < e.plain_bytes) {
    PE_ASSIGN_OR_RETURN(plain, SecureBuffer::Allocate(std::max<size_t>(e.plain_bytes, 4096)));
  }
  uint8_t ad[kAdBytes];
  MakeAd(identity_, seq, e.plain_bytes, ad);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          plain.data(), nullptr, nullptr, sealed + kRecordHeaderBytes,
          e.plain_bytes + kRecordTagBytes, ad, sizeof ad, sealed + 8, record_key_.data()) != 0) {
    return Unauthenticated(Where(seq, e.offset),
                           ": authentication failed (record altered, moved or damaged)");
  }
  const uint8_t kind = plain.data()[0];
  const uint32_t key_bytes = GetU32(plain.data() + 1);
  if (kind > static_cast<uint8_t>(RecordKind::kDelete) ||
      key_bytes > e.plain_bytes - kPlainHeaderBytes) {
    return InvalidArgument(Where(seq, e.offset), ": malformed record (kind ", int{kind},
                           ", key of ", key_bytes, " bytes in ", e.plain_bytes, ")");
  }
  return Status::OK();
}

std::string SiloLog::KeyHash(std::span<const uint8_t> key) const {
  std::string hash(16, '\0');
  crypto_generichash(reinterpret_cast<uint8_t*>(hash.data()), hash.size(), key.data(), key.size(),
                     index_key_.data(), index_key_.size());
  return hash;
}

void SiloLog::Index(RecordKind kind, std::span<const uint8_t> key, uint64_t seq) {
  Entry& entry = entries_[seq];
  if (kind == RecordKind::kAppend) {
    entry.live = true;
    ++live_;
    return;
  }
  const std::string hash = KeyHash(key);
  auto it = by_key_.find(hash);
  if (it != by_key_.end()) {
    entries_[it->second].live = false;
    --live_;
    by_key_.erase(it);
  }
  if (kind == RecordKind::kPut) {
    entry.live = true;
    ++live_;
    by_key_.emplace(hash, seq);
  }
}

Result<uint64_t> SiloLog::Append(RecordKind kind, std::span<const uint8_t> key,
                                 std::span<const uint8_t> value) {
  const size_t limit =
      std::min<size_t>(options_.max_record_bytes, UINT32_MAX - kPlainHeaderBytes - kRecordTagBytes);
  if (key.size() > kMaxKeyBytes || value.size() > limit || key.size() + value.size() > limit) {
    return InvalidArgument("silo '", silo_, "': record of ", key.size(), " + ", value.size(),
                           " bytes (key + value), limits are ", kMaxKeyBytes, " and ", limit);
  }
  const uint32_t length = static_cast<uint32_t>(kPlainHeaderBytes + key.size() + value.size());
  PE_ASSIGN_OR_RETURN(SecureBuffer plain, SecureBuffer::Allocate(length));
  plain.data()[0] = static_cast<uint8_t>(kind);
  PutU32(plain.data() + 1, static_cast<uint32_t>(key.size()));
  if (!key.empty()) std::memcpy(plain.data() + kPlainHeaderBytes, key.data(), key.size());
  if (!value.empty()) {
    std::memcpy(plain.data() + kPlainHeaderBytes + key.size(), value.data(), value.size());
  }
  const uint64_t seq = entries_.size();
  std::vector<uint8_t> sealed(kRecordHeaderBytes + length + kRecordTagBytes);
  PutU32(sealed.data(), length);
  PutU32(sealed.data() + 4, LengthCheck(length));
  randombytes_buf(sealed.data() + 8, kNonceBytes);
  uint8_t ad[kAdBytes];
  MakeAd(identity_, seq, length, ad);
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.data() + kRecordHeaderBytes, nullptr,
                                             plain.data(), length, ad, sizeof ad, nullptr,
                                             sealed.data() + 8, record_key_.data());
  Status st = WriteAll(fd_, sealed.data(), sealed.size(), end_);
  if (st.ok() && options_.sync && fdatasync(fd_) != 0) st = IoError("fdatasync failed: ", Errno());
  if (!st.ok()) {
    // Leave the log as it was; if even that fails, the next open cuts the torn record.
    if (ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
      st = st.WithContext("log may end with a torn record");
    }
    return st.WithContext(detail::Concat("silo '", silo_, "': appending record ", seq));
  }
  entries_.push_back({end_, length, false});
  end_ += sealed.size();
  Index(kind, key, seq);
  return seq;
}

bool SiloLog::Contains(std::span<const uint8_t> key) const {
  return by_key_.count(KeyHash(key)) > 0;
}

Result<SecureBuffer> SiloLog::Get(std::span<const uint8_t> key) const {
  auto it = by_key_.find(KeyHash(key));
  if (it == by_key_.end()) return NotFound("silo '", silo_, "': no such key");
  PE_ASSIGN_OR_RETURN(SecureBuffer plain, SecureBuffer::Allocate(0));
  PE_RETURN_IF_ERROR(ReadRecord(it->second, plain));
  const uint32_t key_bytes = GetU32(plain.data() + 1);
  if (key_bytes != key.size() ||
      std::memcmp(plain.data() + kPlainHeaderBytes, key.data(), key.size()) != 0) {
    return Internal("silo '", silo_, "': key hash collision");
  }
  const size_t offset = kPlainHeaderBytes + key_bytes;
  PE_ASSIGN_OR_RETURN(SecureBuffer value,
                      SecureBuffer::Allocate(entries_[it->second].plain_bytes - offset));
  if (!value.empty()) std::memcpy(value.data(), plain.data() + offset, value.size());
  return value;
}

Status SiloLog::Scan(const std::function<Status(const SecureRecord&)>& visit) const {
  PE_ASSIGN_OR_RETURN(SecureBuffer plain, SecureBuffer::Allocate(0));
  ChunkReader reader(fd_, end_);
  for (uint64_t seq = 0; seq < entries_.size(); ++seq) {
    const Entry& e = entries_[seq];
    if (!e.live) continue;
    Result<const uint8_t*> sealed =
        reader.Fetch(e.offset, kRecordHeaderBytes + e.plain_bytes + kRecordTagBytes);
    if (!sealed.ok() || GetU32(*sealed) != e.plain_bytes) {
      return Unauthenticated(Where(seq, e.offset), ": log changed since the silo was opened");
    }
    PE_RETURN_IF_ERROR(OpenRecord(seq, *sealed, plain));
    const uint32_t key_bytes = GetU32(plain.data() + 1);
    SecureRecord record;
    record.seq = seq;
    record.key = plain.span().subspan(kPlainHeaderBytes, key_bytes);
    record.value = plain.span().subspan(kPlainHeaderBytes + key_bytes,
                                        e.plain_bytes - kPlainHeaderBytes - key_bytes);
    PE_RETURN_IF_ERROR(visit(record));
  }
  return Status::OK();
}

SiloStats SiloLog::Stats() const {
  SiloStats s;
  s.live_records = live_;
  s.log_records = entries_.size();
  s.log_bytes = end_;
  s.recovered_tail_bytes = recovered_tail_bytes_;
  return s;
}

}  // namespace privedge::protect
