#include "protect/model_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <thread>

#include "model/container.h"

namespace privedge {
namespace {

// Header layout (little-endian); docs/container.md has the same table.
constexpr uint8_t kMagic[8] = {0x89, 'P', 'M', 'C', '\r', '\n', 0x1a, '\n'};
constexpr size_t kOffVersion = 8, kOffFlags = 12, kOffBodyOffset = 16, kOffBodySize = 24,
                 kOffPlainSize = 32, kOffChunkSize = 40, kOffBodyVersion = 44, kOffDigest = 48,
                 kOffNonce = 80, kOffKeyIdLen = 104, kOffKeyId = 108, kOffWrappedLen = 172,
                 kOffWrapped = 176, kOffSigner = 432, kOffSignature = 464, kOffHeaderMac = 528,
                 kHeaderUsed = 560;
constexpr size_t kMaxKeyId = 64, kMaxWrapped = 256;
constexpr uint32_t kFlagEncrypted = 1, kFlagSigned = 2;
constexpr uint32_t kMinChunk = 256, kMaxChunk = 64u << 20;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;

using HeaderBytes = std::array<uint8_t, kContainerHeaderSize>;
using Digest = std::array<uint8_t, 32>;

template <class T>
T Load(const uint8_t* p) {
  T v;
  memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void Store(uint8_t* p, T v) {
  memcpy(p, &v, sizeof v);
}

Status InitSodium() {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  return Status::OK();
}

HeaderBytes EncodeHeader(const ContainerHeader& h) {
  HeaderBytes b{};
  memcpy(b.data(), kMagic, sizeof kMagic);
  Store<uint32_t>(&b[kOffVersion], h.format_version);
  Store<uint32_t>(&b[kOffFlags],
                  (h.encrypted ? kFlagEncrypted : 0) | (h.is_signed ? kFlagSigned : 0));
  Store<uint64_t>(&b[kOffBodyOffset], h.body_offset);
  Store<uint64_t>(&b[kOffBodySize], h.body_size);
  Store<uint64_t>(&b[kOffPlainSize], h.plain_size);
  Store<uint32_t>(&b[kOffChunkSize], h.chunk_size);
  Store<uint32_t>(&b[kOffBodyVersion], h.body_version);
  memcpy(&b[kOffDigest], h.content_digest.data(), 32);
  memcpy(&b[kOffNonce], h.nonce_base.data(), 24);
  Store<uint32_t>(&b[kOffKeyIdLen], static_cast<uint32_t>(h.key_id.size()));
  // memcpy with a null source is undefined even for 0 bytes (empty key id of a plain container).
  if (!h.key_id.empty()) {
    memcpy(&b[kOffKeyId], h.key_id.data(), std::min(h.key_id.size(), kMaxKeyId));
  }
  Store<uint32_t>(&b[kOffWrappedLen], static_cast<uint32_t>(h.wrapped_key.size()));
  if (!h.wrapped_key.empty()) {
    memcpy(&b[kOffWrapped], h.wrapped_key.data(), std::min(h.wrapped_key.size(), kMaxWrapped));
  }
  memcpy(&b[kOffSigner], h.signer.data(), 32);
  memcpy(&b[kOffSignature], h.signature.data(), 64);
  memcpy(&b[kOffHeaderMac], h.header_mac.data(), 32);
  return b;
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t c) { return c == 0; });
}

template <class... Args>
Status BadHeader(const std::string& where, Args&&... args) {
  return InvalidModel(where, ": container header: ", std::forward<Args>(args)...);
}

// Parses and checks every header field against itself and the file size.
Result<ContainerHeader> DecodeHeader(const uint8_t* b, uint64_t file_size,
                                     const std::string& where) {
  if (memcmp(b, kMagic, sizeof kMagic) != 0)
    return BadHeader(where, "not a privedge container (bad magic)");
  ContainerHeader h;
  h.format_version = Load<uint32_t>(b + kOffVersion);
  if (h.format_version != kContainerFormatVersion)
    return BadHeader(where, "format version ", h.format_version, " is not supported (expected ",
                     kContainerFormatVersion, ")");
  const uint32_t flags = Load<uint32_t>(b + kOffFlags);
  if (flags & ~(kFlagEncrypted | kFlagSigned)) return BadHeader(where, "unknown flags 0x", flags);
  h.encrypted = flags & kFlagEncrypted;
  h.is_signed = flags & kFlagSigned;
  h.body_offset = Load<uint64_t>(b + kOffBodyOffset);
  h.body_size = Load<uint64_t>(b + kOffBodySize);
  h.plain_size = Load<uint64_t>(b + kOffPlainSize);
  h.chunk_size = Load<uint32_t>(b + kOffChunkSize);
  h.body_version = Load<uint32_t>(b + kOffBodyVersion);
  if (h.body_version != kContainerBodyVersion)
    return BadHeader(where, "body encoding version ", h.body_version,
                     " is not supported (expected ", kContainerBodyVersion, ")");
  if (h.body_offset != kContainerHeaderSize)
    return BadHeader(where, "body offset ", h.body_offset, ", expected ", kContainerHeaderSize);
  if (file_size < kContainerHeaderSize || h.body_size != file_size - kContainerHeaderSize)
    return BadHeader(where, "body of ", h.body_size, " bytes at offset ", h.body_offset,
                     " does not match the file size ", file_size, " (truncated or extended)");
  if (h.plain_size == 0) return BadHeader(where, "empty body");
  memcpy(h.content_digest.data(), b + kOffDigest, 32);
  memcpy(h.nonce_base.data(), b + kOffNonce, 24);
  const uint32_t key_id_len = Load<uint32_t>(b + kOffKeyIdLen);
  const uint32_t wrapped_len = Load<uint32_t>(b + kOffWrappedLen);
  if (key_id_len > kMaxKeyId || wrapped_len > kMaxWrapped)
    return BadHeader(where, "key id (", key_id_len, " bytes) or wrapped key (", wrapped_len,
                     " bytes) longer than its slot");
  if (!AllZero(b + kOffKeyId + key_id_len, kMaxKeyId - key_id_len) ||
      !AllZero(b + kOffWrapped + wrapped_len, kMaxWrapped - wrapped_len) ||
      !AllZero(b + kHeaderUsed, kContainerHeaderSize - kHeaderUsed))
    return BadHeader(where, "non-zero bytes in unused header space");
  h.key_id.assign(reinterpret_cast<const char*>(b + kOffKeyId), key_id_len);
  h.wrapped_key.assign(b + kOffWrapped, b + kOffWrapped + wrapped_len);
  memcpy(h.signer.data(), b + kOffSigner, 32);
  memcpy(h.signature.data(), b + kOffSignature, 64);
  memcpy(h.header_mac.data(), b + kOffHeaderMac, 32);
  if (!h.is_signed && !(AllZero(h.signer.data(), 32) && AllZero(h.signature.data(), 64)))
    return BadHeader(where, "signature slot is set but the container is not marked signed");
  if (h.encrypted) {
    if (h.chunk_size < kMinChunk || h.chunk_size > kMaxChunk)
      return BadHeader(where, "chunk size ", h.chunk_size, " outside [", kMinChunk, ", ", kMaxChunk,
                       "]");
    if (key_id_len == 0 || wrapped_len == 0)
      return BadHeader(where, "encrypted but no wrapped key");
    const uint64_t chunks = h.chunk_count();
    if (h.plain_size > UINT64_MAX - chunks * kTag || h.body_size != h.plain_size + chunks * kTag)
      return BadHeader(where, "body of ", h.body_size, " bytes does not hold ", h.plain_size,
                       " plain bytes in ", chunks, " chunks of ", h.chunk_size);
  } else {
    if (h.chunk_size != 0 || key_id_len || wrapped_len || !AllZero(h.nonce_base.data(), 24) ||
        !AllZero(h.header_mac.data(), 32))
      return BadHeader(where, "a plain container has encryption fields set");
    if (h.plain_size != h.body_size)
      return BadHeader(where, "plain size ", h.plain_size, " differs from body size ", h.body_size);
  }
  return h;
}

// The header without the fields that are filled in after encryption (content digest, header
// MAC) or that signing changes later (signed flag, signer, signature).
HeaderBytes HeaderWithout(const ContainerHeader& h, bool keep_content_digest) {
  ContainerHeader copy = h;
  if (!keep_content_digest) copy.content_digest = {};
  copy.header_mac = {};
  copy.is_signed = false;
  copy.signer = {};
  copy.signature = {};
  return EncodeHeader(copy);
}

Digest Hash(std::string_view domain, std::span<const uint8_t> data, const uint8_t* key,
            size_t key_size) {
  Digest d;
  crypto_generichash_state st;
  crypto_generichash_init(&st, key, key_size, d.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(domain.data()), domain.size());
  crypto_generichash_update(&st, data.data(), data.size());
  crypto_generichash_final(&st, d.data(), d.size());
  return d;
}

// What every chunk's associated data binds.
Digest HeaderAdDigest(const ContainerHeader& h) {
  return Hash("privedge-pmc-ad-v1", HeaderWithout(h, false), nullptr, 0);
}

// Binds the rest of the header (the content digest) under the model key: checked before any
// chunk is decrypted.
Digest HeaderMac(const ContainerHeader& h, const uint8_t* model_key) {
  return Hash("privedge-pmc-header-mac-v1", HeaderWithout(h, true), model_key, kKeyBytes);
}

// The signed message: a domain string and the header with its signature slot zeroed.
std::vector<uint8_t> SignedMessage(const ContainerHeader& h) {
  ContainerHeader copy = h;
  copy.signature = {};
  const HeaderBytes b = EncodeHeader(copy);
  static const char kDomain[] = "privedge-pmc-signature-v1";
  std::vector<uint8_t> msg(sizeof kDomain + b.size());
  memcpy(msg.data(), kDomain, sizeof kDomain);
  memcpy(msg.data() + sizeof kDomain, b.data(), b.size());
  return msg;
}

Digest ContentDigest(std::span<const uint8_t> body) {
  Digest d;
  crypto_generichash(d.data(), d.size(), body.data(), body.size(), nullptr, 0);
  return d;
}

void ChunkNonce(const ContainerHeader& h, uint64_t index, uint8_t* nonce) {
  memcpy(nonce, h.nonce_base.data(), 24);
  for (int i = 0; i < 8; ++i) nonce[16 + i] ^= static_cast<uint8_t>(index >> (8 * i));
}

std::array<uint8_t, 41> ChunkAd(const Digest& header_digest, uint64_t index, bool last) {
  std::array<uint8_t, 41> ad;
  memcpy(ad.data(), header_digest.data(), 32);
  Store<uint64_t>(ad.data() + 32, index);
  ad[40] = last;
  return ad;
}

// A read-only private mapping of a whole file.
struct FileMapping {
  void* addr = MAP_FAILED;
  size_t size = 0;
  ~FileMapping() {
    if (addr != MAP_FAILED) munmap(addr, size);
  }
  const uint8_t* data() const { return static_cast<const uint8_t*>(addr); }
};

Result<std::shared_ptr<FileMapping>> MapFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("cannot open '", path, "': ", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return IoError("'", path, "' is not a regular file");
  }
  auto m = std::make_shared<FileMapping>();
  m->size = static_cast<size_t>(st.st_size);
  if (m->size < kContainerHeaderSize) {
    close(fd);
    return InvalidModel(path, ": container of ", m->size, " bytes is shorter than its ",
                        kContainerHeaderSize, "-byte header");
  }
  m->addr = mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  close(fd);
  if (m->addr == MAP_FAILED) return IoError("cannot map '", path, "': ", strerror(err));
  return m;
}

struct MappedContainer {
  std::shared_ptr<FileMapping> map;
  ContainerHeader header;
  std::span<const uint8_t> stored_body() const {
    return {map->data() + header.body_offset, header.body_size};
  }
};

Result<MappedContainer> MapContainer(const std::string& path) {
  MappedContainer c;
  PE_ASSIGN_OR_RETURN(c.map, MapFile(path));
  PE_ASSIGN_OR_RETURN(c.header, DecodeHeader(c.map->data(), c.map->size, path));
  return c;
}

Status CheckSignature(const ContainerHeader& h, const std::string& path) {
  if (!h.is_signed) return Unauthenticated(path, ": the container is not signed");
  const std::vector<uint8_t> msg = SignedMessage(h);
  Status s = Verify(h.signer, msg, h.signature);
  if (!s.ok())
    return Unauthenticated(path, ": the header signature is invalid (", s.message(), ")");
  return Status::OK();
}

Status CheckContentDigest(const MappedContainer& c, const std::string& path) {
  if (ContentDigest(c.stored_body()) != c.header.content_digest)
    return Unauthenticated(path, ": the body does not match the signed content digest (altered)");
  return Status::OK();
}

Status Decrypt(const ContainerHeader& h, std::span<const uint8_t> stored, const uint8_t* key,
               uint8_t* out, int threads, const std::string& path) {
  const Digest ad_digest = HeaderAdDigest(h);
  const uint64_t chunks = h.chunk_count();
  auto run = [&](uint64_t begin, uint64_t end) -> uint64_t {  // first failing chunk, or end
    for (uint64_t i = begin; i < end; ++i) {
      const uint64_t plain_off = i * h.chunk_size;
      const uint64_t plain_len = std::min<uint64_t>(h.chunk_size, h.plain_size - plain_off);
      uint8_t nonce[24];
      ChunkNonce(h, i, nonce);
      const auto ad = ChunkAd(ad_digest, i, i + 1 == chunks);
      if (crypto_aead_xchacha20poly1305_ietf_decrypt(
              out + plain_off, nullptr, nullptr, stored.data() + plain_off + i * kTag,
              plain_len + kTag, ad.data(), ad.size(), nonce, key) != 0)
        return i;
    }
    return end;
  };
  uint64_t failed = chunks;
  if (threads > 1 && chunks > 1) {
    const uint64_t half = chunks / 2;
    uint64_t first_half = half;
    std::thread worker([&] { first_half = run(0, half); });
    const uint64_t second = run(half, chunks);
    worker.join();
    failed = first_half != half ? first_half : (second != chunks ? second : chunks);
  } else {
    failed = run(0, chunks);
  }
  if (failed != chunks) {
    sodium_memzero(out, h.plain_size);
    return Unauthenticated(path, ": encrypted chunk ", failed, " of ", chunks,
                           " fails authentication (altered, truncated, reordered, or not made "
                           "with this header)");
  }
  return Status::OK();
}

// Writes `parts` to a new file next to `path` and renames it over `path`.
Status WriteAtomically(const std::string& path,
                       std::initializer_list<std::span<const uint8_t>> parts) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0)
    return IoError("cannot create a temporary file next to '", path, "': ", strerror(errno));
  fchmod(fd, 0644);
  for (auto part : parts) {
    size_t done = 0;
    while (done < part.size()) {
      const ssize_t n = write(fd, part.data() + done, part.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        close(fd);
        unlink(tmp.c_str());
        return IoError("cannot write '", tmp, "': ", strerror(err));
      }
      done += static_cast<size_t>(n);
    }
  }
  const bool synced = fsync(fd) == 0;
  const bool closed = close(fd) == 0;
  if (!synced || !closed || rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return IoError("cannot write '", path, "': ", strerror(err));
  }
  return Status::OK();
}

}  // namespace

uint64_t ContainerHeader::chunk_count() const {
  if (!encrypted || chunk_size == 0) return 0;
  return (plain_size + chunk_size - 1) / chunk_size;
}

bool IsContainerFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint8_t magic[sizeof kMagic];
  const bool yes = pread(fd, magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
                   memcmp(magic, kMagic, sizeof magic) == 0;
  close(fd);
  return yes;
}

Result<ContainerHeader> ReadContainerHeader(const std::string& path) {
  PE_ASSIGN_OR_RETURN(MappedContainer c, MapContainer(path));
  return c.header;
}

Status WriteContainerFile(const std::string& path, std::span<const uint8_t> body,
                          const ContainerWriteOptions& options) {
  PE_RETURN_IF_ERROR(InitSodium());
  if (body.empty()) return InvalidArgument("container: empty body");
  ContainerHeader h;
  h.body_version = options.body_version;
  h.plain_size = body.size();
  std::vector<uint8_t> ciphertext;
  std::span<const uint8_t> stored = body;
  if (options.keystore) {
    if (options.chunk_size < kMinChunk || options.chunk_size > kMaxChunk)
      return InvalidArgument("container: chunk size ", options.chunk_size, " outside [", kMinChunk,
                             ", ", kMaxChunk, "]");
    h.encrypted = true;
    h.chunk_size = options.chunk_size;
    PE_ASSIGN_OR_RETURN(SecureBuffer key, SecureBuffer::Allocate(kKeyBytes));
    crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
    PE_ASSIGN_OR_RETURN(h.wrapped_key, options.keystore->Wrap(key.span(), kModelKeyContext));
    h.key_id = options.keystore->key_id();
    if (h.key_id.size() > kMaxKeyId || h.wrapped_key.size() > kMaxWrapped)
      return Internal("container: key id or wrapped key too long for the header");
    randombytes_buf(h.nonce_base.data(), h.nonce_base.size());
    const uint64_t chunks = h.chunk_count();
    h.body_size = h.plain_size + chunks * kTag;
    ciphertext.resize(h.body_size);
    const Digest ad_digest = HeaderAdDigest(h);
    for (uint64_t i = 0; i < chunks; ++i) {
      const uint64_t off = i * h.chunk_size;
      const uint64_t len = std::min<uint64_t>(h.chunk_size, h.plain_size - off);
      uint8_t nonce[24];
      ChunkNonce(h, i, nonce);
      const auto ad = ChunkAd(ad_digest, i, i + 1 == chunks);
      crypto_aead_xchacha20poly1305_ietf_encrypt(ciphertext.data() + off + i * kTag, nullptr,
                                                 body.data() + off, len, ad.data(), ad.size(),
                                                 nullptr, nonce, key.data());
    }
    stored = ciphertext;
    h.content_digest = ContentDigest(stored);
    h.header_mac = HeaderMac(h, key.data());
  } else {
    h.body_size = body.size();
    h.content_digest = ContentDigest(stored);
  }
  if (options.signing_key) {
    h.is_signed = true;
    h.signer = options.signing_key->public_key();
    h.signature = options.signing_key->Sign(SignedMessage(h));
  }
  const HeaderBytes header = EncodeHeader(h);
  return WriteAtomically(path, {header, stored});
}

Result<OpenedContainer> OpenContainerFile(const std::string& path,
                                          const ContainerOpenOptions& options) {
  PE_RETURN_IF_ERROR(InitSodium());
  PE_ASSIGN_OR_RETURN(MappedContainer c, MapContainer(path));
  const ContainerHeader& h = c.header;
  if (h.is_signed || options.require_signed_by) PE_RETURN_IF_ERROR(CheckSignature(h, path));
  if (options.require_signed_by) {
    if (h.signer != *options.require_signed_by)
      return Unauthenticated(path, ": signed by ", ToHex(h.signer), ", not by the required key ",
                             ToHex(*options.require_signed_by));
    PE_RETURN_IF_ERROR(CheckContentDigest(c, path));
  }
  OpenedContainer out;
  out.header = h;
  if (!h.encrypted) {
    out.body = c.stored_body();
    out.owner = c.map;
    return out;
  }
  if (!options.keystore)
    return InvalidArgument(path, ": the container is encrypted; a keystore is needed to open it");
  auto key = options.keystore->Unwrap(h.wrapped_key, kModelKeyContext);
  if (!key.ok()) {
    return Status(key.status().code(), path + ": model encrypted for keystore key " + h.key_id +
                                           ", this device's keystore key is " +
                                           options.keystore->key_id() + ": " +
                                           key.status().message());
  }
  if (key->size() != kKeyBytes ||
      sodium_memcmp(HeaderMac(h, key->data()).data(), h.header_mac.data(), 32) != 0)
    return Unauthenticated(path, ": the container header was altered (header MAC mismatch)");
  // Every ciphertext byte is about to be read: fault the mapping in one pass in the kernel,
  // cheaper than a fault per page (best effort; older kernels lack the flag).
  (void)madvise(c.map->addr, c.map->size, MADV_POPULATE_READ);
  auto plain = SecureBuffer::Allocate(h.plain_size, !options.allow_unlocked_memory);
  if (!plain.ok()) return plain.status().WithContext(path + ": decrypted model");
  auto buffer = std::make_shared<SecureBuffer>(std::move(plain).value());
  PE_RETURN_IF_ERROR(
      Decrypt(h, c.stored_body(), key->data(), buffer->data(), options.decrypt_threads, path));
  out.body = buffer->span();
  out.owner = buffer;
  return out;
}

Status SignContainerFile(const std::string& path, const SigningKey& key) {
  PE_RETURN_IF_ERROR(InitSodium());
  PE_ASSIGN_OR_RETURN(MappedContainer c, MapContainer(path));
  PE_RETURN_IF_ERROR(CheckContentDigest(c, path));
  ContainerHeader h = c.header;
  h.is_signed = true;
  h.signer = key.public_key();
  h.signature = key.Sign(SignedMessage(h));
  const HeaderBytes header = EncodeHeader(h);
  return WriteAtomically(path, {header, c.stored_body()});
}

Result<PublicKey> VerifyContainerFile(const std::string& path, const PublicKey* expected) {
  PE_RETURN_IF_ERROR(InitSodium());
  PE_ASSIGN_OR_RETURN(MappedContainer c, MapContainer(path));
  PE_RETURN_IF_ERROR(CheckSignature(c.header, path));
  if (expected && c.header.signer != *expected)
    return Unauthenticated(path, ": signed by ", ToHex(c.header.signer), ", not by ",
                           ToHex(*expected));
  PE_RETURN_IF_ERROR(CheckContentDigest(c, path));
  return c.header.signer;
}

Result<OpenedContainer> OpenContainerWithPolicy(const std::string& path,
                                                std::shared_ptr<Keystore> keystore,
                                                const std::string& require_signed_by,
                                                bool allow_unlocked_memory) {
  ContainerOpenOptions open;
  PublicKey required{};
  if (!require_signed_by.empty()) {
    auto key = LoadPublicKey(require_signed_by);
    if (!key.ok()) return key.status().WithContext("required signer");
    required = *key;
    open.require_signed_by = &required;
  }
  if (!keystore) {
    PE_ASSIGN_OR_RETURN(ContainerHeader header, ReadContainerHeader(path));
    if (header.encrypted) {
      auto opened = OpenKeystore(KeystoreOptions{});
      if (!opened.ok()) return opened.status().WithContext(path + ": encrypted model: keystore");
      keystore = std::move(opened).value();
    }
  }
  open.keystore = keystore.get();
  open.allow_unlocked_memory = allow_unlocked_memory;
  return OpenContainerFile(path, open);
}

}  // namespace privedge
