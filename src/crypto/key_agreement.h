// X25519 key agreement with HKDF-SHA256 key derivation.
//
//   PE_ASSIGN_OR_RETURN(auto mine, crypto::GenerateX25519KeyPair());
//   PE_ASSIGN_OR_RETURN(SecureBuffer key,
//                       crypto::DeriveSharedKey(mine.secret_key.span(), peer_pk, salt, info, 32));
//
// Both sides of a pair derive the same key from (their secret, the other's public key), the
// same salt and the same info. X25519 is libsodium's crypto_scalarmult; HKDF-SHA256 (RFC 5869)
// is OpenSSL 3's EVP_KDF "HKDF" (libsodium 1.0.18 has no HKDF).
//
// Errors: wrong key sizes (InvalidArgument), a peer public key of low order whose shared
// secret is all zeros (Unauthenticated), an OpenSSL failure (Internal).
// Thread-safety: all functions are reentrant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge::crypto {

inline constexpr size_t kX25519KeyBytes = 32;
using X25519PublicKey = std::array<uint8_t, kX25519KeyBytes>;

struct X25519KeyPair {
  X25519PublicKey public_key{};
  SecureBuffer secret_key;  // 32 bytes
};

// A fresh key pair from the OS CSPRNG.
Result<X25519KeyPair> GenerateX25519KeyPair();

// The public key that belongs to a 32-byte secret key.
Result<X25519PublicKey> X25519PublicKeyOf(std::span<const uint8_t> secret_key);

// HKDF-SHA256 (extract then expand) of `ikm` into `out` (1..8160 bytes).
Status HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                  std::span<const uint8_t> info, std::span<uint8_t> out);

// HKDF-SHA256(ikm = X25519(secret_key, peer_public_key), salt, info) into `out`. The raw
// shared point never leaves this call unwiped.
Status DeriveSharedKeyInto(std::span<const uint8_t> secret_key,
                           std::span<const uint8_t> peer_public_key, std::span<const uint8_t> salt,
                           std::span<const uint8_t> info, std::span<uint8_t> out);

// As DeriveSharedKeyInto, returning `out_bytes` bytes in a SecureBuffer.
Result<SecureBuffer> DeriveSharedKey(std::span<const uint8_t> secret_key,
                                     std::span<const uint8_t> peer_public_key,
                                     std::span<const uint8_t> salt, std::span<const uint8_t> info,
                                     size_t out_bytes);

}  // namespace privedge::crypto
