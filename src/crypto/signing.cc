#include "crypto/signing.h"

#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace privedge {
namespace {

constexpr std::string_view kSecretTag = "privedge-ed25519-secret-v1";
constexpr std::string_view kPublicTag = "privedge-ed25519-public-v1";

static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_BYTES == 64 &&
              crypto_sign_SECRETKEYBYTES == 64);

Status InitSodium() {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  return Status::OK();
}

// Reads a small key file (at most 4 KiB) into a SecureBuffer.
Result<SecureBuffer> ReadSmallFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("cannot open key file '", path, "': ", strerror(errno));
  PE_ASSIGN_OR_RETURN(SecureBuffer buf, SecureBuffer::Allocate(4097));
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return IoError("cannot read key file '", path, "': ", strerror(err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got > 4096) return InvalidArgument("key file '", path, "' is larger than 4096 bytes");
  PE_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(got));
  if (got) memcpy(out.data(), buf.data(), got);
  return out;
}

// Decodes "<tag> <hex>\n?" into `out` (exactly out.size() bytes).
Status ParseKeyLine(std::string_view text, std::string_view tag, std::span<uint8_t> out,
                    const std::string& where) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  const size_t want = out.size() * 2;
  if (text.size() != tag.size() + 1 + want || text.substr(0, tag.size()) != tag ||
      text[tag.size()] != ' ')
    return InvalidArgument(where, ": expected one line '", tag, " <", want, " hex digits>'");
  size_t bin_len = 0;
  const std::string_view hex = text.substr(tag.size() + 1);
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &bin_len, nullptr) !=
          0 ||
      bin_len != out.size())
    return InvalidArgument(where, ": the key is not ", want, " hex digits");
  return Status::OK();
}

Status WriteNewFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return IoError("cannot create '", path, "': ", strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      unlink(path.c_str());
      return IoError("cannot write '", path, "': ", strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = fsync(fd) == 0;
  if (close(fd) != 0 || !synced) return IoError("cannot write '", path, "'");
  return Status::OK();
}

}  // namespace

std::string ToHex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

Signature SigningKey::Sign(std::span<const uint8_t> message) const {
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

Result<SigningKey> SigningKeyFromSecret(std::span<const uint8_t> secret) {
  PE_RETURN_IF_ERROR(InitSodium());
  if (secret.size() != crypto_sign_SECRETKEYBYTES)
    return InvalidArgument("Ed25519 secret key: expected 64 bytes, got ", secret.size());
  SigningKey key;
  PE_ASSIGN_OR_RETURN(key.secret_, SecureBuffer::Allocate(secret.size()));
  memcpy(key.secret_.data(), secret.data(), secret.size());
  crypto_sign_ed25519_sk_to_pk(key.public_key_.data(), key.secret_.data());
  return key;
}

Status GenerateSigningKey(const std::string& secret_path, const std::string& public_path) {
  PE_RETURN_IF_ERROR(InitSodium());
  if (access(secret_path.c_str(), F_OK) == 0 || access(public_path.c_str(), F_OK) == 0)
    return InvalidArgument("refusing to overwrite '", secret_path, "' or '", public_path, "'");
  PublicKey pk{};
  PE_ASSIGN_OR_RETURN(SecureBuffer sk, SecureBuffer::Allocate(crypto_sign_SECRETKEYBYTES));
  crypto_sign_keypair(pk.data(), sk.data());
  // The secret line is built in a SecureBuffer too: it holds the key in hex.
  const size_t line_size = kSecretTag.size() + 1 + sk.size() * 2 + 1;
  PE_ASSIGN_OR_RETURN(SecureBuffer line, SecureBuffer::Allocate(line_size + 1));
  memcpy(line.data(), kSecretTag.data(), kSecretTag.size());
  line.data()[kSecretTag.size()] = ' ';
  sodium_bin2hex(reinterpret_cast<char*>(line.data() + kSecretTag.size() + 1), sk.size() * 2 + 1,
                 sk.data(), sk.size());
  line.data()[line_size - 1] = '\n';
  PE_RETURN_IF_ERROR(WriteNewFile(
      secret_path, std::string(reinterpret_cast<const char*>(line.data()), line_size), 0600));
  return WriteNewFile(public_path, std::string(kPublicTag) + " " + ToHex(pk) + "\n", 0644);
}

Result<SigningKey> LoadSigningKey(const std::string& path) {
  PE_ASSIGN_OR_RETURN(SecureBuffer text, ReadSmallFile(path));
  PE_ASSIGN_OR_RETURN(SecureBuffer secret, SecureBuffer::Allocate(crypto_sign_SECRETKEYBYTES));
  PE_RETURN_IF_ERROR(
      ParseKeyLine(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
                   kSecretTag, secret.span(), "secret key file '" + path + "'"));
  return SigningKeyFromSecret(secret.span());
}

Result<PublicKey> LoadPublicKey(const std::string& path_or_hex) {
  PublicKey pk{};
  if (path_or_hex.size() == 64 && access(path_or_hex.c_str(), F_OK) != 0) {
    size_t len = 0;
    if (sodium_hex2bin(pk.data(), pk.size(), path_or_hex.data(), path_or_hex.size(), nullptr, &len,
                       nullptr) == 0 &&
        len == pk.size())
      return pk;
  }
  PE_ASSIGN_OR_RETURN(SecureBuffer text, ReadSmallFile(path_or_hex));
  PE_RETURN_IF_ERROR(
      ParseKeyLine(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
                   kPublicTag, pk, "public key file '" + path_or_hex + "'"));
  return pk;
}

Status Verify(const PublicKey& pub, std::span<const uint8_t> message, const Signature& sig) {
  PE_RETURN_IF_ERROR(InitSodium());
  if (crypto_sign_verify_detached(sig.data(), message.data(), message.size(), pub.data()) != 0)
    return Unauthenticated("Ed25519 signature does not verify with public key ", ToHex(pub));
  return Status::OK();
}

}  // namespace privedge
