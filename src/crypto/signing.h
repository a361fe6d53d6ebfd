// Publisher signatures: Ed25519 (libsodium crypto_sign_detached / crypto_sign_verify_detached)
// and the key files `privedge keys publisher` writes.
//
//   PE_RETURN_IF_ERROR(GenerateSigningKey("acme.key", "acme.pub"));
//   PE_ASSIGN_OR_RETURN(SigningKey key, LoadSigningKey("acme.key"));
//   Signature sig = key.Sign(message);
//   PE_ASSIGN_OR_RETURN(PublicKey pub, LoadPublicKey("acme.pub"));   // or the 64-hex key
//   PE_RETURN_IF_ERROR(Verify(pub, message, sig));
//
// Key files are one line each:
//   secret (mode 0600): "privedge-ed25519-secret-v1 <128 hex>"  (libsodium's 64-byte secret key)
//   public:             "privedge-ed25519-public-v1 <64 hex>"
// A trailing newline is allowed; anything else is an error naming the file.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

// Lowercase hex of `bytes`.
std::string ToHex(std::span<const uint8_t> bytes);

class SigningKey {
 public:
  const PublicKey& public_key() const { return public_key_; }
  Signature Sign(std::span<const uint8_t> message) const;

 private:
  friend Result<SigningKey> LoadSigningKey(const std::string& path);
  friend Result<SigningKey> SigningKeyFromSecret(std::span<const uint8_t> secret);
  SecureBuffer secret_;  // libsodium's 64-byte secret key (seed || public key)
  PublicKey public_key_{};
};

// Makes a new key pair and writes the two files (the secret one created with mode 0600,
// refusing to overwrite either file). Errors name the path.
Status GenerateSigningKey(const std::string& secret_path, const std::string& public_path);

Result<SigningKey> LoadSigningKey(const std::string& path);
// A signing key from libsodium's 64-byte secret key (tests, in-memory keys).
Result<SigningKey> SigningKeyFromSecret(std::span<const uint8_t> secret);

// `path_or_hex` is a public key file or the bare 64-hex key.
Result<PublicKey> LoadPublicKey(const std::string& path_or_hex);

// OK when `sig` is `pub`'s signature of `message`; Unauthenticated otherwise.
Status Verify(const PublicKey& pub, std::span<const uint8_t> message, const Signature& sig);

}  // namespace privedge
