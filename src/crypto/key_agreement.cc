#include "crypto/key_agreement.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

#include <memory>

namespace privedge::crypto {

namespace {

Status InitSodium() {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  return Status::OK();
}

Status CheckKey(std::span<const uint8_t> key, const char* what) {
  if (key.size() != kX25519KeyBytes) {
    return InvalidArgument("X25519 ", what, ": expected ", kX25519KeyBytes, " bytes, got ",
                           key.size());
  }
  return Status::OK();
}

struct KdfDeleter {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

// Fetching the HKDF implementation is the slow part of a derivation; do it once.
EVP_KDF* HkdfAlgorithm() {
  static std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  return kdf.get();
}

}  // namespace

Result<X25519KeyPair> GenerateX25519KeyPair() {
  PE_RETURN_IF_ERROR(InitSodium());
  X25519KeyPair pair;
  PE_ASSIGN_OR_RETURN(pair.secret_key, SecureBuffer::Allocate(kX25519KeyBytes));
  randombytes_buf(pair.secret_key.data(), kX25519KeyBytes);
  if (crypto_scalarmult_base(pair.public_key.data(), pair.secret_key.data()) != 0) {
    return Internal("X25519 public key derivation failed");
  }
  return pair;
}

Result<X25519PublicKey> X25519PublicKeyOf(std::span<const uint8_t> secret_key) {
  PE_RETURN_IF_ERROR(CheckKey(secret_key, "secret key"));
  PE_RETURN_IF_ERROR(InitSodium());
  X25519PublicKey pk{};
  if (crypto_scalarmult_base(pk.data(), secret_key.data()) != 0) {
    return Internal("X25519 public key derivation failed");
  }
  return pk;
}

Status HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                  std::span<const uint8_t> info, std::span<uint8_t> out) {
  if (out.empty() || out.size() > 255 * 32) {
    return InvalidArgument("HKDF-SHA256 output: expected 1..8160 bytes, got ", out.size());
  }
  EVP_KDF* kdf = HkdfAlgorithm();
  if (kdf == nullptr) return Internal("OpenSSL has no HKDF implementation");
  std::unique_ptr<EVP_KDF_CTX, KdfDeleter> ctx(EVP_KDF_CTX_new(kdf));
  if (!ctx) return Internal("EVP_KDF_CTX_new failed");
  // OpenSSL takes non-const pointers but does not write through them.
  static const uint8_t kEmpty = 0;
  auto ptr = [](std::span<const uint8_t> s) {
    return const_cast<uint8_t*>(s.empty() ? &kEmpty : s.data());
  };
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ptr(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, ptr(salt), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ptr(info), info.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return Internal("HKDF-SHA256 derivation failed");
  }
  return Status::OK();
}

Status DeriveSharedKeyInto(std::span<const uint8_t> secret_key,
                           std::span<const uint8_t> peer_public_key, std::span<const uint8_t> salt,
                           std::span<const uint8_t> info, std::span<uint8_t> out) {
  PE_RETURN_IF_ERROR(CheckKey(secret_key, "secret key"));
  PE_RETURN_IF_ERROR(CheckKey(peer_public_key, "peer public key"));
  PE_RETURN_IF_ERROR(InitSodium());
  uint8_t shared[crypto_scalarmult_BYTES];
  if (crypto_scalarmult(shared, secret_key.data(), peer_public_key.data()) != 0) {
    sodium_memzero(shared, sizeof shared);
    return Unauthenticated("X25519 peer public key is of low order (shared secret is zero)");
  }
  Status status = HkdfSha256(shared, salt, info, out);
  sodium_memzero(shared, sizeof shared);
  return status;
}

Result<SecureBuffer> DeriveSharedKey(std::span<const uint8_t> secret_key,
                                     std::span<const uint8_t> peer_public_key,
                                     std::span<const uint8_t> salt, std::span<const uint8_t> info,
                                     size_t out_bytes) {
  PE_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(out_bytes));
  PE_RETURN_IF_ERROR(DeriveSharedKeyInto(secret_key, peer_public_key, salt, info, out.span()));
  return out;
}

}  // namespace privedge::crypto
