#include "crypto/prg.h"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

namespace privedge::crypto {

namespace {

constexpr size_t kChunkBytes = 16 * 1024;

struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

EVP_CIPHER* Aes256Ctr() {
  static std::unique_ptr<EVP_CIPHER, CipherDeleter> cipher(
      EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr));
  return cipher.get();
}

// Streams the keystream of `seed` in chunks to `sink(bytes, size)`.
template <class Sink>
Status Stream(std::span<const uint8_t> seed, size_t total, Sink&& sink) {
  if (seed.size() != kPrgSeedBytes) {
    return InvalidArgument("PRG seed: expected ", kPrgSeedBytes, " bytes, got ", seed.size());
  }
  EVP_CIPHER* cipher = Aes256Ctr();
  if (cipher == nullptr) return Internal("OpenSSL has no AES-256-CTR");
  std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter> ctx(EVP_CIPHER_CTX_new());
  const uint8_t iv[16] = {};
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), cipher, seed.data(), iv, nullptr) != 1) {
    return Internal("AES-256-CTR initialisation failed");
  }
  alignas(64) static const uint8_t kZeros[kChunkBytes] = {};
  alignas(64) uint8_t chunk[kChunkBytes];
  for (size_t done = 0; done < total;) {
    const size_t n = std::min(kChunkBytes, total - done);
    int out_len = 0;
    if (EVP_EncryptUpdate(ctx.get(), chunk, &out_len, kZeros, static_cast<int>(n)) != 1 ||
        static_cast<size_t>(out_len) != n) {
      return Internal("AES-256-CTR keystream failed");
    }
    sink(chunk, n);
    done += n;
  }
  OPENSSL_cleanse(chunk, sizeof chunk);
  return Status::OK();
}

template <class Word>
void Accumulate(const uint8_t* bytes, size_t n, bool subtract, uint64_t* acc) {
  const size_t words = n / sizeof(Word);
  if (subtract) {
    for (size_t i = 0; i < words; ++i) {
      Word w;
      std::memcpy(&w, bytes + i * sizeof(Word), sizeof(Word));
      acc[i] -= w;
    }
  } else {
    for (size_t i = 0; i < words; ++i) {
      Word w;
      std::memcpy(&w, bytes + i * sizeof(Word), sizeof(Word));
      acc[i] += w;
    }
  }
}

}  // namespace

Status PrgBytes(std::span<const uint8_t> seed, std::span<uint8_t> out) {
  size_t offset = 0;
  return Stream(seed, out.size(), [&](const uint8_t* bytes, size_t n) {
    std::memcpy(out.data() + offset, bytes, n);
    offset += n;
  });
}

Status AddPrgMask(std::span<const uint8_t> seed, uint32_t bits, bool subtract,
                  std::span<uint64_t> acc) {
  if (bits < 1 || bits > 64) return InvalidArgument("mask bits: expected 1..64, got ", bits);
  static_assert(std::endian::native == std::endian::little, "masks are little-endian words");
  const size_t word = bits <= 32 ? 4 : 8;
  uint64_t* out = acc.data();
  return Stream(seed, acc.size() * word, [&](const uint8_t* bytes, size_t n) {
    if (word == 4) {
      Accumulate<uint32_t>(bytes, n, subtract, out);
    } else {
      Accumulate<uint64_t>(bytes, n, subtract, out);
    }
    out += n / word;
  });
}

}  // namespace privedge::crypto
