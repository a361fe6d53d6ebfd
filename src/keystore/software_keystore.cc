#include "keystore/software_keystore.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace privedge::keystore {
namespace {

// Device key file, one per generation, named device-key.<generation>:
//   "PEKEY1" | mode u8 (0 plain, 1 Argon2id) | then
//   mode 0: key[32]
//   mode 1: salt[16] | opslimit u64le | memlimit u64le | nonce[24] | XChaCha20-Poly1305(key)[48]
//           (AEAD associated data: every byte before the nonce)
constexpr char kFileMagic[] = "PEKEY1";
constexpr size_t kMagicLen = 6;
constexpr size_t kKeyLen = 32;
constexpr size_t kPlainFileLen = kMagicLen + 1 + kKeyLen;
constexpr size_t kSaltLen = crypto_pwhash_SALTBYTES;
constexpr size_t kNonceLen = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagLen = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kPassHeaderLen = kMagicLen + 1 + kSaltLen + 8 + 8;
constexpr size_t kPassFileLen = kPassHeaderLen + kNonceLen + kKeyLen + kTagLen;

// Wrapped key blob:
//   "PEWK" | version u8 (1) | key id[8] | nonce[24] | XChaCha20-Poly1305(key)[n + 16]
//   associated data: the 13 header bytes, then the context.
constexpr char kBlobMagic[] = "PEWK";
constexpr size_t kIdLen = 8;
constexpr size_t kBlobHeaderLen = 4 + 1 + kIdLen;
constexpr size_t kMaxWrappedKey = 64;

std::string Hex(const uint8_t* p, size_t n) {
  std::string s(n * 2, '0');
  sodium_bin2hex(s.data(), s.size() + 1, p, n);
  return s;
}

void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Generation {
  SecureBuffer wrap_key;  // derived from the device key; the device key itself is not kept
  uint8_t id[kIdLen];
};

Result<Generation> DeriveGeneration(const uint8_t* device_key) {
  Generation g;
  PE_ASSIGN_OR_RETURN(g.wrap_key, SecureBuffer::Allocate(kKeyLen));
  crypto_kdf_derive_from_key(g.wrap_key.data(), kKeyLen, 1, "PEwrapky", device_key);
  uint8_t id_key[crypto_kdf_KEYBYTES];
  crypto_kdf_derive_from_key(id_key, sizeof id_key, 2, "PEkeyid_", device_key);
  crypto_generichash(g.id, kIdLen, reinterpret_cast<const uint8_t*>("privedge key id"), 15,
                     id_key, sizeof id_key);
  sodium_memzero(id_key, sizeof id_key);
  return g;
}

Status ReadFile(const std::string& path, std::vector<uint8_t>* out, size_t max) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return IoError("cannot open device key file ", path, ": ", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) > max) {
    close(fd);
    return InvalidArgument("device key file ", path, ": expected a regular file of at most ", max,
                           " bytes");
  }
  out->resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out->size()) {
    const ssize_t n = read(fd, out->data() + got, out->size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got != out->size()) return IoError("short read of device key file ", path);
  return Status::OK();
}

// Writes `data` to `path` with mode 0600; fails if `path` exists. Durable when it returns OK.
Status WriteNewFile(const std::string& dir, const std::string& path, const uint8_t* data,
                    size_t size) {
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return IoError("cannot create ", tmp, ": ", strerror(errno));
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == size && fsync(fd) == 0;
  close(fd);
  if (!ok) {
    unlink(tmp.c_str());
    return IoError("cannot write ", tmp, ": ", strerror(errno));
  }
  const int rc = link(tmp.c_str(), path.c_str());  // no-clobber publish
  const int err = errno;
  unlink(tmp.c_str());
  if (rc != 0) return IoError("cannot create ", path, ": ", strerror(err));
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return Status::OK();
}

Status EnsureDir(const std::string& dir) {
  // Create each missing component; the last one 0700.
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    const std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), pos == std::string::npos ? 0700 : 0755) != 0 && errno != EEXIST) {
      return IoError("cannot create keystore directory ", part, ": ", strerror(errno));
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return IoError("keystore path ", dir, " is not a directory");
  }
  if ((st.st_mode & 077) != 0) chmod(dir.c_str(), 0700);
  return Status::OK();
}

// Generation numbers present in `dir`, ascending.
std::vector<int> ListGenerations(const std::string& dir) {
  std::vector<int> gens;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return gens;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind("device-key.", 0) != 0) continue;
    const std::string num = name.substr(11);
    if (num.empty() || num.size() > 6 ||
        !std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    gens.push_back(std::atoi(num.c_str()));
  }
  closedir(d);
  std::sort(gens.begin(), gens.end());
  return gens;
}

std::string GenPath(const std::string& dir, int gen) {
  return dir + "/device-key." + std::to_string(gen);
}

Result<SecureBuffer> LoadDeviceKey(const std::string& path, const std::string& passphrase) {
  std::vector<uint8_t> bytes;
  PE_RETURN_IF_ERROR(ReadFile(path, &bytes, 4096));
  PE_ASSIGN_OR_RETURN(SecureBuffer key, SecureBuffer::Allocate(kKeyLen));
  if (bytes.size() < kMagicLen + 1 || std::memcmp(bytes.data(), kFileMagic, kMagicLen) != 0) {
    return InvalidArgument("device key file ", path, ": not a privedge key file (bad magic)");
  }
  const uint8_t mode = bytes[kMagicLen];
  if (mode == 0) {
    if (bytes.size() != kPlainFileLen) {
      return InvalidArgument("device key file ", path, ": expected ", kPlainFileLen,
                             " bytes, got ", bytes.size());
    }
    std::memcpy(key.data(), bytes.data() + kMagicLen + 1, kKeyLen);
    sodium_memzero(bytes.data(), bytes.size());
    return key;
  }
  if (mode != 1) return InvalidArgument("device key file ", path, ": unknown mode ", int{mode});
  if (bytes.size() != kPassFileLen) {
    return InvalidArgument("device key file ", path, ": expected ", kPassFileLen, " bytes, got ",
                           bytes.size());
  }
  if (passphrase.empty()) {
    return PermissionDenied("device key ", path,
                            " is protected by a passphrase; give it (--passphrase-file or "
                            "PRIVEDGE_KEYSTORE_PASSPHRASE)");
  }
  const uint8_t* salt = bytes.data() + kMagicLen + 1;
  const uint64_t ops = GetU64(salt + kSaltLen);
  const uint64_t mem = GetU64(salt + kSaltLen + 8);
  if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_SENSITIVE ||
      mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_SENSITIVE) {
    return InvalidArgument("device key file ", path, ": Argon2id limits out of range");
  }
  PE_ASSIGN_OR_RETURN(SecureBuffer kek, SecureBuffer::Allocate(kKeyLen));
  if (crypto_pwhash(kek.data(), kKeyLen, passphrase.data(), passphrase.size(), salt, ops,
                    static_cast<size_t>(mem), crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return ResourceExhausted("Argon2id needs ", mem, " bytes of memory");
  }
  const uint8_t* nonce = bytes.data() + kPassHeaderLen;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(key.data(), nullptr, nullptr, nonce + kNonceLen,
                                                 kKeyLen + kTagLen, bytes.data(),
                                                 kPassHeaderLen, nonce, kek.data()) != 0) {
    return PermissionDenied("device key ", path, ": wrong passphrase (or the file was altered)");
  }
  return key;
}

Status CreateGeneration(const std::string& dir, int gen, const std::string& passphrase) {
  PE_ASSIGN_OR_RETURN(SecureBuffer key, SecureBuffer::Allocate(kKeyLen));
  randombytes_buf(key.data(), kKeyLen);
  PE_ASSIGN_OR_RETURN(SecureBuffer file, SecureBuffer::Allocate(kPassFileLen));
  uint8_t* p = file.data();
  std::memcpy(p, kFileMagic, kMagicLen);
  size_t len = kPlainFileLen;
  if (passphrase.empty()) {
    p[kMagicLen] = 0;
    std::memcpy(p + kMagicLen + 1, key.data(), kKeyLen);
  } else {
    p[kMagicLen] = 1;
    uint8_t* salt = p + kMagicLen + 1;
    randombytes_buf(salt, kSaltLen);
    const uint64_t ops = crypto_pwhash_OPSLIMIT_MODERATE;
    const uint64_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    PutU64(salt + kSaltLen, ops);
    PutU64(salt + kSaltLen + 8, mem);
    PE_ASSIGN_OR_RETURN(SecureBuffer kek, SecureBuffer::Allocate(kKeyLen));
    if (crypto_pwhash(kek.data(), kKeyLen, passphrase.data(), passphrase.size(), salt, ops, mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
      return ResourceExhausted("Argon2id needs ", mem, " bytes of memory");
    }
    uint8_t* nonce = p + kPassHeaderLen;
    randombytes_buf(nonce, kNonceLen);
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonceLen, nullptr, key.data(), kKeyLen,
                                               p, kPassHeaderLen, nullptr, nonce, kek.data());
    len = kPassFileLen;
  }
  return WriteNewFile(dir, GenPath(dir, gen), p, len);
}

class SoftwareKeystore : public Keystore {
 public:
  explicit SoftwareKeystore(std::map<int, Generation> gens) : gens_(std::move(gens)) {}
  std::string backend() const override { return "software"; }
  std::string key_id() const override { return Hex(current().id, kIdLen); }

  Result<std::vector<uint8_t>> Wrap(std::span<const uint8_t> key,
                                    std::string_view context) override {
    if (key.empty() || key.size() > kMaxWrappedKey) {
      return InvalidArgument("keystore wrap: key of ", key.size(), " bytes, expected 1..",
                             kMaxWrappedKey);
    }
    std::lock_guard<std::mutex> lock(mu_);
    const Generation& g = current();
    std::vector<uint8_t> blob(kBlobHeaderLen + kNonceLen + key.size() + kTagLen);
    std::memcpy(blob.data(), kBlobMagic, 4);
    blob[4] = 1;
    std::memcpy(blob.data() + 5, g.id, kIdLen);
    uint8_t* nonce = blob.data() + kBlobHeaderLen;
    randombytes_buf(nonce, kNonceLen);
    const std::vector<uint8_t> ad = AssociatedData(blob.data(), context);
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonceLen, nullptr, key.data(), key.size(),
                                               ad.data(), ad.size(), nullptr, nonce,
                                               g.wrap_key.data());
    return blob;
  }

  Result<SecureBuffer> Unwrap(std::span<const uint8_t> blob, std::string_view context) override {
    if (blob.size() < kBlobHeaderLen + kNonceLen + kTagLen + 1 ||
        blob.size() > kBlobHeaderLen + kNonceLen + kTagLen + kMaxWrappedKey) {
      return InvalidArgument("wrapped key: ", blob.size(), " bytes, expected ",
                             kBlobHeaderLen + kNonceLen + kTagLen + 1, "..",
                             kBlobHeaderLen + kNonceLen + kTagLen + kMaxWrappedKey);
    }
    if (std::memcmp(blob.data(), kBlobMagic, 4) != 0 || blob[4] != 1) {
      return InvalidArgument("wrapped key: not made by the software keystore (bad magic/version)");
    }
    std::lock_guard<std::mutex> lock(mu_);
    const Generation* g = nullptr;
    for (const auto& [n, gen] : gens_) {
      if (std::memcmp(gen.id, blob.data() + 5, kIdLen) == 0) g = &gen;
    }
    if (g == nullptr) {
      return PermissionDenied("key was wrapped for device key ", Hex(blob.data() + 5, kIdLen),
                              ", but this device's key is ", key_id(),
                              " (made on another device, or under a deleted key)");
    }
    const size_t n = blob.size() - kBlobHeaderLen - kNonceLen - kTagLen;
    PE_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(n));
    const uint8_t* nonce = blob.data() + kBlobHeaderLen;
    const std::vector<uint8_t> ad = AssociatedData(blob.data(), context);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), nullptr, nullptr,
                                                   nonce + kNonceLen, n + kTagLen, ad.data(),
                                                   ad.size(), nonce, g->wrap_key.data()) != 0) {
      return Unauthenticated("wrapped key for device key ", Hex(g->id, kIdLen),
                             " does not verify: altered, or unwrapped under another context");
    }
    return out;
  }

 private:
  const Generation& current() const { return gens_.rbegin()->second; }
  static std::vector<uint8_t> AssociatedData(const uint8_t* header, std::string_view context) {
    std::vector<uint8_t> ad(header, header + kBlobHeaderLen);
    ad.insert(ad.end(), context.begin(), context.end());
    return ad;
  }

  std::mutex mu_;
  std::map<int, Generation> gens_;
};

}  // namespace

std::string ResolveKeystoreDir(const KeystoreOptions& options) {
  if (!options.dir.empty()) return options.dir;
  if (const char* h = std::getenv("PRIVEDGE_HOME"); h != nullptr && *h) {
    return std::string(h) + "/keys";
  }
  if (const char* x = std::getenv("XDG_DATA_HOME"); x != nullptr && *x) {
    return std::string(x) + "/privedge/keys";
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home ? home : ".") + "/.local/share/privedge/keys";
}

Result<std::unique_ptr<Keystore>> OpenSoftwareKeystore(const KeystoreOptions& options) {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  const std::string dir = ResolveKeystoreDir(options);
  std::vector<int> gens = ListGenerations(dir);
  if (gens.empty()) {
    if (!options.create_if_missing) {
      return NotFound("no device key in ", dir, "; create one with `privedge keys init`");
    }
    PE_RETURN_IF_ERROR(EnsureDir(dir));
    PE_RETURN_IF_ERROR(CreateGeneration(dir, 1, options.passphrase));
    gens = {1};
  }
  std::map<int, Generation> loaded;
  for (int gen : gens) {
    PE_ASSIGN_OR_RETURN(SecureBuffer key, LoadDeviceKey(GenPath(dir, gen), options.passphrase));
    PE_ASSIGN_OR_RETURN(loaded[gen], DeriveGeneration(key.data()));
  }
  return std::unique_ptr<Keystore>(new SoftwareKeystore(std::move(loaded)));
}

Result<std::string> RotateSoftwareKey(const KeystoreOptions& options) {
  KeystoreOptions open = options;
  open.create_if_missing = false;
  PE_ASSIGN_OR_RETURN(auto before, OpenSoftwareKeystore(open));  // checks the passphrase
  const std::string dir = ResolveKeystoreDir(options);
  const std::vector<int> gens = ListGenerations(dir);
  PE_RETURN_IF_ERROR(CreateGeneration(dir, gens.back() + 1, options.passphrase));
  PE_ASSIGN_OR_RETURN(auto after, OpenSoftwareKeystore(open));
  return after->key_id();
}

}  // namespace privedge::keystore
