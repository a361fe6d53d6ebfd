// SecureRandom: the ChaCha20 keystream from libsodium, keyed by the OS or by a seed.
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "privedge/privacy.h"

namespace privedge::privacy {

static_assert(SecureRandom::kSeedBytes == crypto_stream_chacha20_KEYBYTES);

namespace {

// sodium_init is idempotent and thread-safe. It fails only when the OS offers no randomness at
// all, where no secure noise is possible: stop rather than continue with predictable bits.
void InitSodium() {
  if (sodium_init() < 0) {
    std::fputs("privedge: libsodium could not initialize (no OS randomness)\n", stderr);
    std::abort();
  }
}

}  // namespace

SecureRandom::SecureRandom() {
  InitSodium();
  randombytes_buf(key_.data(), key_.size());
}

SecureRandom::SecureRandom(const std::array<uint8_t, kSeedBytes>& seed) : key_(seed) {
  InitSodium();
}

SecureRandom::~SecureRandom() {
  sodium_memzero(key_.data(), key_.size());
  sodium_memzero(buffer_.data(), buffer_.size());
}

// Each refill is the keystream under a fresh 64-bit nonce (a counter), so no block repeats.
void SecureRandom::Refill() {
  uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
  for (size_t i = 0; i < sizeof nonce; ++i) nonce[i] = static_cast<uint8_t>(nonce_ >> (8 * i));
  ++nonce_;
  crypto_stream_chacha20(buffer_.data(), buffer_.size(), nonce, key_.data());
  used_ = 0;
}

void SecureRandom::Fill(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    if (used_ == buffer_.size()) Refill();
    const size_t n = std::min(out.size() - done, buffer_.size() - used_);
    std::memcpy(out.data() + done, buffer_.data() + used_, n);
    // Bits handed out are erased from the buffer so they cannot be read back later.
    sodium_memzero(buffer_.data() + used_, n);
    used_ += n;
    done += n;
  }
}

uint64_t SecureRandom::NextUint64() {
  uint8_t bytes[8];
  Fill(bytes);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{bytes[i]} << (8 * i);
  return v;
}

uint64_t SecureRandom::UniformBelow(uint64_t bound) {
  if (bound <= 1) return 0;
  // Draw from the smallest power-of-two range covering bound and reject the excess: each
  // draw succeeds with probability > 1/2.
  const int bits = 64 - __builtin_clzll(bound - 1);
  const uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  for (;;) {
    const uint64_t v = NextUint64() & mask;
    if (v < bound) return v;
  }
}

double SecureRandom::UniformDouble() { return static_cast<double>(NextUint64() >> 11) * 0x1.0p-53; }

}  // namespace privedge::privacy
