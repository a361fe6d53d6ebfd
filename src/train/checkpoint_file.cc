// Checkpoint files, plaintext or sealed with XChaCha20-Poly1305 under a key wrapped by the
// device keystore (format in include/privedge/training.h).
#include <sodium.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "train/session_impl.h"

namespace privedge {
namespace {

constexpr char kSealMagic[8] = {'P', 'E', 'S', 'C', 'K', 'P', 'T', '1'};
constexpr const char* kContext = "privedge-checkpoint-v1";
constexpr size_t kKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr uint32_t kMaxWrapped = 4096;

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open checkpoint '", path, "'");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0 || size > (std::streamoff{1} << 34))
    return ResourceExhausted("checkpoint '", path, "' is too large (", size, " bytes)");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) return IoError("cannot read checkpoint '", path, "'");
  return bytes;
}

// Plaintext checkpoint bytes are wiped before they are released.
struct WipedString {
  std::string s;
  ~WipedString() { sodium_memzero(s.data(), s.size()); }
};

}  // namespace

bool IsSealedCheckpoint(std::string_view bytes) {
  return bytes.size() >= sizeof(kSealMagic) &&
         std::memcmp(bytes.data(), kSealMagic, sizeof(kSealMagic)) == 0;
}

Result<std::string> SealCheckpoint(std::string_view plaintext, Keystore& keystore) {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  PE_ASSIGN_OR_RETURN(SecureBuffer key, SecureBuffer::Allocate(kKeyBytes));
  randombytes_buf(key.data(), key.size());
  PE_ASSIGN_OR_RETURN(std::vector<uint8_t> wrapped, keystore.Wrap(key.span(), kContext));
  if (wrapped.size() > kMaxWrapped)
    return Internal("the keystore's wrapped key has ", wrapped.size(), " bytes, more than ",
                    kMaxWrapped);
  std::string out(kSealMagic, sizeof(kSealMagic));
  const uint32_t n = static_cast<uint32_t>(wrapped.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(reinterpret_cast<const char*>(wrapped.data()), wrapped.size());
  unsigned char nonce[kNonceBytes];
  randombytes_buf(nonce, sizeof(nonce));
  out.append(reinterpret_cast<const char*>(nonce), sizeof(nonce));
  const size_t header = out.size();
  out.resize(header + plaintext.size() + kTagBytes);
  unsigned long long written = 0;
  auto* u = reinterpret_cast<unsigned char*>(out.data());
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      u + header, &written, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), u, header, nullptr, nonce, key.data());
  out.resize(header + written);
  return out;
}

Result<SecureBuffer> OpenSealedCheckpoint(std::string_view sealed, Keystore& keystore) {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  if (!IsSealedCheckpoint(sealed))
    return InvalidArgument("not a sealed privedge checkpoint (bad magic)");
  size_t pos = sizeof(kSealMagic);
  if (sealed.size() - pos < 4)
    return InvalidArgument("sealed checkpoint truncated in the wrapped key length");
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= uint32_t{static_cast<uint8_t>(sealed[pos + i])} << (8 * i);
  pos += 4;
  if (n == 0 || n > kMaxWrapped)
    return InvalidArgument("sealed checkpoint: wrapped key length ", n, " not in 1..", kMaxWrapped);
  if (sealed.size() - pos < n + kNonceBytes + kTagBytes)
    return InvalidArgument("sealed checkpoint truncated: ", sealed.size(),
                           " bytes, the header needs ", pos + n + kNonceBytes + kTagBytes);
  const auto* u = reinterpret_cast<const unsigned char*>(sealed.data());
  PE_ASSIGN_OR_RETURN(SecureBuffer key, keystore.Unwrap({u + pos, n}, kContext));
  if (key.size() != kKeyBytes)
    return InvalidArgument("sealed checkpoint: unwrapped key has ", key.size(), " bytes, expected ",
                           kKeyBytes);
  pos += n;
  const unsigned char* nonce = u + pos;
  pos += kNonceBytes;
  const size_t plain_size = sealed.size() - pos - kTagBytes;
  PE_ASSIGN_OR_RETURN(SecureBuffer plain, SecureBuffer::Allocate(plain_size));
  unsigned long long got = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &got, nullptr, u + pos,
                                                 sealed.size() - pos, u, pos, nonce,
                                                 key.data()) != 0)
    return Unauthenticated("sealed checkpoint failed authentication (altered or truncated)");
  return plain;
}

Status TrainingSession::SaveCheckpointFile(const std::string& path, Keystore* keystore) const {
  WipedString plain{SaveCheckpoint()};
  std::string bytes;
  if (keystore) {
    PE_ASSIGN_OR_RETURN(bytes, SealCheckpoint(plain.s, *keystore));
  } else {
    bytes = plain.s;
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return IoError("cannot write checkpoint '", tmp, "'");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return IoError("cannot write checkpoint '", tmp, "'");
    }
  }
  if (!keystore) sodium_memzero(bytes.data(), bytes.size());
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return IoError("cannot rename '", tmp, "' to '", path, "'");
  }
  return Status::OK();
}

Status TrainingSession::LoadCheckpointFile(const std::string& path, Keystore* keystore) {
  PE_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  WipedString file{std::move(bytes)};
  if (!IsSealedCheckpoint(file.s)) {
    if (keystore)
      return InvalidArgument("checkpoint '", path,
                             "' is not sealed, but an encrypted checkpoint was asked for");
    return LoadCheckpoint(file.s).WithContext(path);
  }
  if (!keystore)
    return InvalidArgument("checkpoint '", path,
                           "' is sealed: it needs the device keystore to open");
  auto plain = OpenSealedCheckpoint(file.s, *keystore);
  if (!plain.ok()) return plain.status().WithContext(path);
  return LoadCheckpoint(
             std::string_view(reinterpret_cast<const char*>(plain->data()), plain->size()))
      .WithContext(path);
}

}  // namespace privedge
