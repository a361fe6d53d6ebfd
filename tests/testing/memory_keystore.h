// MemoryKeystore: a Keystore whose device key lives only in this process, for tests of code
// that needs some keystore (containers, the secure store) without touching disk or a TPM.
// Two instances are two different "devices". Wrapping is XChaCha20-Poly1305 (libsodium) with
// the key id and the context as associated data.
#pragma once

#include <sodium.h>

#include <cstring>
#include <string>

#include "privedge/keystore.h"

namespace privedge::testing {

class MemoryKeystore : public Keystore {
 public:
  MemoryKeystore() {
    if (sodium_init() < 0) std::abort();
    key_ = std::move(SecureBuffer::Allocate(crypto_aead_xchacha20poly1305_ietf_KEYBYTES).value());
    crypto_aead_xchacha20poly1305_ietf_keygen(key_.data());
    unsigned char id[8];
    crypto_generichash(id, sizeof id, key_.data(), key_.size(), nullptr, 0);
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : id) {
      key_id_ += hex[c >> 4];
      key_id_ += hex[c & 15];
    }
  }
  std::string backend() const override { return "memory"; }
  std::string key_id() const override { return key_id_; }

  Result<std::vector<uint8_t>> Wrap(std::span<const uint8_t> key,
                                    std::string_view context) override {
    if (key.size() > 64) return InvalidArgument("memory keystore: key of ", key.size(), " bytes");
    const std::string ad = key_id_ + '\0' + std::string(context);
    std::vector<uint8_t> blob(16 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + key.size() +
                              crypto_aead_xchacha20poly1305_ietf_ABYTES);
    std::memcpy(blob.data(), key_id_.data(), 16);
    uint8_t* nonce = blob.data() + 16;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, nullptr, key.data(), key.size(),
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce, key_.data());
    return blob;
  }

  Result<SecureBuffer> Unwrap(std::span<const uint8_t> wrapped,
                              std::string_view context) override {
    constexpr size_t kOverhead = 16 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                 crypto_aead_xchacha20poly1305_ietf_ABYTES;
    if (wrapped.size() < kOverhead || wrapped.size() > kOverhead + 64) {
      return InvalidArgument("memory keystore: wrapped key of ", wrapped.size(), " bytes");
    }
    const std::string blob_id(reinterpret_cast<const char*>(wrapped.data()), 16);
    if (blob_id != key_id_) {
      return PermissionDenied("key was wrapped for device key ", blob_id,
                              ", this device's key is ", key_id_);
    }
    const std::string ad = key_id_ + '\0' + std::string(context);
    PE_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(wrapped.size() - kOverhead));
    const uint8_t* nonce = wrapped.data() + 16;
    const uint8_t* ct = nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out.data(), nullptr, nullptr, ct, wrapped.data() + wrapped.size() - ct,
            reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce,
            key_.data()) != 0) {
      return Unauthenticated("memory keystore: wrapped key altered or wrong context");
    }
    return out;
  }

 private:
  SecureBuffer key_;
  std::string key_id_;
};

}  // namespace privedge::testing
