// SecureStore: the store directory, silo key files and the silo lifecycle. The log of one silo
// is in secure_store_log.cc.
#include "privedge/secure_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "protect/secure_store.h"

namespace privedge {
namespace {

using protect::kSiloIdBytes;
using protect::SiloIdentity;
using protect::SiloLog;

// Key file: "PESKEY01" | silo id[16] | epoch[16] | wrapped length u32le | wrapped key.
constexpr char kKeyMagic[8] = {'P', 'E', 'S', 'K', 'E', 'Y', '0', '1'};
constexpr size_t kKeyHeaderBytes = 8 + 2 * kSiloIdBytes + 4;
constexpr size_t kMaxWrappedBytes = 1024;

std::string Errno() { return strerror(errno); }

std::string Hex(const uint8_t* p, size_t n) {
  std::string s(2 * n + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), p, n);
  s.pop_back();
  return s;
}

Status CheckSiloName(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  if (!ok) {
    return InvalidArgument("silo name '", name,
                           "': expected 1 to 64 characters from [A-Za-z0-9_-]");
  }
  return Status::OK();
}

std::string KeyFileName(std::string_view silo) { return std::string(silo) + ".key"; }
std::string LogFileName(std::string_view silo, const uint8_t* epoch) {
  return std::string(silo) + "." + Hex(epoch, kSiloIdBytes) + ".log";
}
// The silo name of a log file name "<silo>.<epoch hex>.log", or nullopt.
std::optional<std::string> SiloOfLog(const std::string& file) {
  const size_t suffix = 1 + 2 * kSiloIdBytes + 4;
  if (file.size() <= suffix || file.compare(file.size() - 4, 4, ".log") != 0 ||
      file[file.size() - suffix] != '.') {
    return std::nullopt;
  }
  std::string silo = file.substr(0, file.size() - suffix);
  if (!CheckSiloName(silo).ok()) return std::nullopt;
  return silo;
}

std::string WrapContext(std::string_view silo, const SiloIdentity& identity) {
  return "privedge-silo-v1:" + std::string(silo) + ":" + Hex(identity.id, kSiloIdBytes) + ":" +
         Hex(identity.epoch, kSiloIdBytes);
}

struct KeyFile {
  SiloIdentity identity;
  std::vector<uint8_t> wrapped;
};

Result<KeyFile> ReadKeyFile(int dir_fd, const std::string& silo) {
  const std::string name = KeyFileName(silo);
  const int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("silo '", silo, "' does not exist");
    return IoError("silo '", silo, "': cannot open its key file: ", Errno());
  }
  std::vector<uint8_t> bytes(kKeyHeaderBytes + kMaxWrappedBytes + 1);
  ssize_t n;
  do {
    n = pread(fd, bytes.data(), bytes.size(), 0);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n < 0) return IoError("silo '", silo, "': cannot read its key file: ", Errno());
  const size_t size = static_cast<size_t>(n);
  const uint32_t wrapped_bytes = size >= kKeyHeaderBytes
                                     ? uint32_t{bytes[40]} | uint32_t{bytes[41]} << 8 |
                                           uint32_t{bytes[42]} << 16 | uint32_t{bytes[43]} << 24
                                     : 0;
  if (size < kKeyHeaderBytes || std::memcmp(bytes.data(), kKeyMagic, 8) != 0 ||
      wrapped_bytes > kMaxWrappedBytes || size != kKeyHeaderBytes + wrapped_bytes) {
    return InvalidArgument("silo '", silo, "': key file ", name, " is malformed (", size,
                           " bytes, expected the PESKEY01 header and a wrapped key)");
  }
  KeyFile key_file;
  std::memcpy(key_file.identity.id, bytes.data() + 8, kSiloIdBytes);
  std::memcpy(key_file.identity.epoch, bytes.data() + 8 + kSiloIdBytes, kSiloIdBytes);
  key_file.wrapped.assign(bytes.begin() + kKeyHeaderBytes, bytes.begin() + size);
  return key_file;
}

std::vector<uint8_t> EncodeKeyFile(const SiloIdentity& identity,
                                   const std::vector<uint8_t>& wrapped) {
  std::vector<uint8_t> bytes(kKeyHeaderBytes + wrapped.size());
  std::memcpy(bytes.data(), kKeyMagic, 8);
  std::memcpy(bytes.data() + 8, identity.id, kSiloIdBytes);
  std::memcpy(bytes.data() + 8 + kSiloIdBytes, identity.epoch, kSiloIdBytes);
  for (int i = 0; i < 4; ++i) bytes[40 + i] = static_cast<uint8_t>(wrapped.size() >> (8 * i));
  std::copy(wrapped.begin(), wrapped.end(), bytes.begin() + kKeyHeaderBytes);
  return bytes;
}

Result<std::vector<std::string>> ListDir(int dir_fd) {
  const int fd = dup(dir_fd);
  DIR* d = fd >= 0 ? fdopendir(fd) : nullptr;
  if (d == nullptr) {
    if (fd >= 0) close(fd);
    return IoError("cannot list the store directory: ", Errno());
  }
  rewinddir(d);
  std::vector<std::string> names;
  while (const dirent* e = readdir(d)) names.emplace_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Status MakeDirs(const std::string& dir) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    const std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), pos == std::string::npos ? 0700 : 0755) != 0 && errno != EEXIST) {
      return IoError("cannot create directory ", part, ": ", Errno());
    }
  }
  return Status::OK();
}

}  // namespace

struct SecureStore::Impl {
  std::string dir;
  int dir_fd = -1;
  int lock_fd = -1;
  std::shared_ptr<Keystore> keystore;
  SecureStoreOptions options;
  std::mutex mu;
  std::map<std::string, std::unique_ptr<SiloLog>, std::less<>> silos;  // opened silos

  ~Impl() {
    silos.clear();
    if (lock_fd >= 0) close(lock_fd);  // releases the lock
    if (dir_fd >= 0) close(dir_fd);
  }

  Status FinishInterruptedChanges();
  Result<SiloLog*> Silo(std::string_view name);
  Result<SecureBuffer> NewKeyFile(std::string_view silo, const SiloIdentity& identity,
                                  std::vector<uint8_t>& key_file);
  Status RemoveLogs(std::string_view silo, const std::string& keep);
};

// A crash can leave: temporary files (ciphertext), a log without a key (a deletion that
// destroyed the key, or a compaction that had not switched keys yet) and an old key kept for a
// compaction. None holds anything live; finish what was started.
Status SecureStore::Impl::FinishInterruptedChanges() {
  PE_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_fd));
  bool changed = false;
  for (const std::string& name : names) {
    if (EndsWith(name, ".tmp")) {
      unlinkat(dir_fd, name.c_str(), 0);
      changed = true;
    } else if (EndsWith(name, ".key.old")) {
      PE_RETURN_IF_ERROR(protect::ShredFile(dir_fd, name, options.sync));
    } else if (std::optional<std::string> silo = SiloOfLog(name)) {
      Result<KeyFile> key = ReadKeyFile(dir_fd, *silo);
      if (!key.ok() && key.status().code() != StatusCode::kNotFound) continue;  // keep on doubt
      if (key.ok() && LogFileName(*silo, key->identity.epoch) == name) continue;
      if (unlinkat(dir_fd, name.c_str(), 0) != 0) {
        return IoError("cannot remove the orphaned log ", name, ": ", Errno());
      }
      changed = true;
    }
  }
  return changed && options.sync ? protect::SyncDir(dir_fd) : Status::OK();
}

Result<SiloLog*> SecureStore::Impl::Silo(std::string_view name) {
  PE_RETURN_IF_ERROR(CheckSiloName(name));
  if (auto it = silos.find(name); it != silos.end()) return it->second.get();
  const std::string silo(name);
  PE_ASSIGN_OR_RETURN(KeyFile key_file, ReadKeyFile(dir_fd, silo));
  Result<SecureBuffer> key =
      keystore->Unwrap(key_file.wrapped, WrapContext(silo, key_file.identity));
  if (!key.ok()) return key.status().WithContext("silo '" + silo + "': unwrapping its key");
  PE_ASSIGN_OR_RETURN(std::unique_ptr<SiloLog> log,
                      SiloLog::Open(dir_fd, LogFileName(silo, key_file.identity.epoch), silo,
                                    key_file.identity, std::move(key).value(), options));
  SiloLog* raw = log.get();
  silos.emplace(silo, std::move(log));
  return raw;
}

Result<SecureBuffer> SecureStore::Impl::NewKeyFile(std::string_view silo,
                                                   const SiloIdentity& identity,
                                                   std::vector<uint8_t>& key_file) {
  PE_ASSIGN_OR_RETURN(SecureBuffer key, SecureBuffer::Allocate(protect::kSiloKeyBytes));
  randombytes_buf(key.data(), key.size());
  Result<std::vector<uint8_t>> wrapped = keystore->Wrap(key.span(), WrapContext(silo, identity));
  if (!wrapped.ok())
    return wrapped.status().WithContext("wrapping the key of silo '" + std::string(silo) + "'");
  key_file = EncodeKeyFile(identity, *wrapped);
  return key;
}

Status SecureStore::Impl::RemoveLogs(std::string_view silo, const std::string& keep) {
  PE_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(dir_fd));
  for (const std::string& name : names) {
    if (name == keep || SiloOfLog(name) != silo) continue;
    if (unlinkat(dir_fd, name.c_str(), 0) != 0) {
      return IoError("silo '", silo, "': cannot remove ", name, ": ", Errno());
    }
  }
  return protect::SyncDir(dir_fd);
}

SecureStore::SecureStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SecureStore::~SecureStore() = default;

Result<std::unique_ptr<SecureStore>> SecureStore::Open(const std::string& dir,
                                                       std::shared_ptr<Keystore> keystore,
                                                       const SecureStoreOptions& options) {
  if (keystore == nullptr) return InvalidArgument("secure store ", dir, ": no keystore given");
  if (dir.empty()) return InvalidArgument("secure store: empty directory name");
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->keystore = std::move(keystore);
  impl->options = options;
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return IoError("secure store ", dir, ": ", Errno());
    if (!options.create_if_missing) {
      return NotFound("secure store ", dir, " does not exist (create_if_missing is off)");
    }
    PE_RETURN_IF_ERROR(MakeDirs(dir));
  }
  impl->dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (impl->dir_fd < 0) return IoError("secure store ", dir, " is not a directory: ", Errno());
  impl->lock_fd = openat(impl->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (impl->lock_fd < 0) return IoError("secure store ", dir, ": cannot open LOCK: ", Errno());
  if (flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return IoError("secure store ", dir, " is in use by another process or SecureStore (",
                   errno == EWOULDBLOCK ? "LOCK is held" : Errno(), ")");
  }
  Status finished = impl->FinishInterruptedChanges();
  if (!finished.ok()) return finished.WithContext("secure store " + dir);
  return std::unique_ptr<SecureStore>(new SecureStore(std::move(impl)));
}

Status SecureStore::CreateSilo(std::string_view silo) {
  std::lock_guard lock(impl_->mu);
  PE_RETURN_IF_ERROR(CheckSiloName(silo));
  const std::string key_name = KeyFileName(silo);
  if (faccessat(impl_->dir_fd, key_name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
    return InvalidArgument("silo '", silo, "' already exists");
  }
  SiloIdentity identity;
  randombytes_buf(identity.id, sizeof identity.id);
  randombytes_buf(identity.epoch, sizeof identity.epoch);
  std::vector<uint8_t> key_file;
  PE_ASSIGN_OR_RETURN(SecureBuffer key, impl_->NewKeyFile(silo, identity, key_file));
  // The log first: until the key file exists, a crash leaves only an orphan log.
  PE_ASSIGN_OR_RETURN(
      auto log, SiloLog::Create(impl_->dir_fd, LogFileName(silo, identity.epoch), std::string(silo),
                                identity, std::move(key), impl_->options));
  PE_RETURN_IF_ERROR(
      protect::WriteFileAtomically(impl_->dir_fd, key_name, key_file, impl_->options.sync));
  impl_->silos[std::string(silo)] = std::move(log);
  return Status::OK();
}

Status SecureStore::DeleteSilo(std::string_view silo) {
  std::lock_guard lock(impl_->mu);
  PE_RETURN_IF_ERROR(CheckSiloName(silo));
  const std::string key_name = KeyFileName(silo);
  if (faccessat(impl_->dir_fd, key_name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
    return NotFound("silo '", silo, "' does not exist");
  }
  if (auto it = impl_->silos.find(silo); it != impl_->silos.end()) impl_->silos.erase(it);
  // The key goes first (always flushed): after this, no copy of the log can be decrypted.
  PE_RETURN_IF_ERROR(protect::ShredFile(impl_->dir_fd, key_name, /*sync=*/true));
  return impl_->RemoveLogs(silo, "");
}

Result<std::vector<std::string>> SecureStore::ListSilos() {
  std::lock_guard lock(impl_->mu);
  PE_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(impl_->dir_fd));
  std::vector<std::string> silos;
  for (const std::string& name : names) {
    if (!EndsWith(name, ".key")) continue;
    std::string silo = name.substr(0, name.size() - 4);
    if (CheckSiloName(silo).ok()) silos.push_back(std::move(silo));
  }
  return silos;
}

Result<uint64_t> SecureStore::Append(std::string_view silo, std::span<const uint8_t> value) {
  std::lock_guard lock(impl_->mu);
  PE_ASSIGN_OR_RETURN(SiloLog * log, impl_->Silo(silo));
  return log->Append(protect::RecordKind::kAppend, {}, value);
}

Status SecureStore::Put(std::string_view silo, std::span<const uint8_t> key,
                        std::span<const uint8_t> value) {
  std::lock_guard lock(impl_->mu);
  if (key.empty()) return InvalidArgument("silo '", silo, "': Put with an empty key");
  PE_ASSIGN_OR_RETURN(SiloLog * log, impl_->Silo(silo));
  return log->Append(protect::RecordKind::kPut, key, value).status();
}

Result<SecureBuffer> SecureStore::Get(std::string_view silo, std::span<const uint8_t> key) {
  std::lock_guard lock(impl_->mu);
  PE_ASSIGN_OR_RETURN(SiloLog * log, impl_->Silo(silo));
  return log->Get(key);
}

Status SecureStore::Delete(std::string_view silo, std::span<const uint8_t> key) {
  std::lock_guard lock(impl_->mu);
  PE_ASSIGN_OR_RETURN(SiloLog * log, impl_->Silo(silo));
  if (key.empty() || !log->Contains(key)) return NotFound("silo '", silo, "': no such key");
  return log->Append(protect::RecordKind::kDelete, key, {}).status();
}

Status SecureStore::Scan(std::string_view silo,
                         const std::function<Status(const SecureRecord&)>& visit) {
  std::lock_guard lock(impl_->mu);
  PE_ASSIGN_OR_RETURN(SiloLog * log, impl_->Silo(silo));
  return log->Scan(visit);
}

Result<uint64_t> SecureStore::Count(std::string_view silo) {
  PE_ASSIGN_OR_RETURN(SiloStats stats, Stats(silo));
  return stats.live_records;
}

Result<SiloStats> SecureStore::Stats(std::string_view silo) {
  std::lock_guard lock(impl_->mu);
  PE_ASSIGN_OR_RETURN(SiloLog * log, impl_->Silo(silo));
  return log->Stats();
}

// New log under a new key (an orphan until the key file switches), then the key file is
// replaced atomically; the old key stays reachable as <silo>.key.old only until it is shredded.
Status SecureStore::Compact(std::string_view silo_view) {
  std::lock_guard lock(impl_->mu);
  PE_ASSIGN_OR_RETURN(SiloLog * old_log, impl_->Silo(silo_view));
  const std::string silo(silo_view);
  const int dir_fd = impl_->dir_fd;
  PE_ASSIGN_OR_RETURN(KeyFile old_key, ReadKeyFile(dir_fd, silo));
  SiloIdentity identity = old_key.identity;
  randombytes_buf(identity.epoch, sizeof identity.epoch);
  std::vector<uint8_t> key_file;
  PE_ASSIGN_OR_RETURN(SecureBuffer key, impl_->NewKeyFile(silo, identity, key_file));
  PE_ASSIGN_OR_RETURN(SecureBuffer key_copy, SecureBuffer::Allocate(key.size()));
  std::memcpy(key_copy.data(), key.data(), key.size());
  const std::string log_name = LogFileName(silo, identity.epoch);
  SecureStoreOptions unsynced = impl_->options;
  unsynced.sync = false;  // one flush at the end instead of one per record
  {
    PE_ASSIGN_OR_RETURN(
        auto new_log, SiloLog::Create(dir_fd, log_name, silo, identity, std::move(key), unsynced));
    PE_RETURN_IF_ERROR(old_log->Scan([&](const SecureRecord& r) {
      const auto kind = r.key.empty() ? protect::RecordKind::kAppend : protect::RecordKind::kPut;
      return new_log->Append(kind, r.key, r.value).status();
    }));
  }
  const int fd = openat(dir_fd, log_name.c_str(), O_RDONLY | O_CLOEXEC);
  const bool flushed = fd >= 0 && fdatasync(fd) == 0;
  if (fd >= 0) close(fd);
  if (!flushed) return IoError("silo '", silo, "': cannot flush the compacted log: ", Errno());
  // Reopening verifies the new log end to end before it replaces the old one.
  PE_ASSIGN_OR_RETURN(auto new_log, SiloLog::Open(dir_fd, log_name, silo, identity,
                                                  std::move(key_copy), impl_->options));
  const std::string key_name = KeyFileName(silo);
  const std::string old_name = key_name + ".old";
  if (faccessat(dir_fd, old_name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
    PE_RETURN_IF_ERROR(protect::ShredFile(dir_fd, old_name, true));
  }
  if (linkat(dir_fd, key_name.c_str(), dir_fd, old_name.c_str(), 0) != 0) {
    return IoError("silo '", silo, "': cannot keep the old key during compaction: ", Errno());
  }
  PE_RETURN_IF_ERROR(protect::WriteFileAtomically(dir_fd, key_name, key_file, true));
  impl_->silos[silo] = std::move(new_log);
  PE_RETURN_IF_ERROR(protect::ShredFile(dir_fd, old_name, true));
  return impl_->RemoveLogs(silo, log_name);
}

}  // namespace privedge
