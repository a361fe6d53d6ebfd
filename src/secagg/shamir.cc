#include "secagg/shamir.h"

#include <sodium.h>

#include <unordered_set>

namespace privedge::secagg {

namespace {

uint64_t Reduce(unsigned __int128 v) {
  // v < 2^122: fold the high part twice (2^61 = 1 mod p).
  uint64_t lo = static_cast<uint64_t>(v) & kFieldPrime;
  uint64_t hi = static_cast<uint64_t>(v >> 61);
  uint64_t r = lo + (hi & kFieldPrime) + (hi >> 61);
  r = (r & kFieldPrime) + (r >> 61);
  return r >= kFieldPrime ? r - kFieldPrime : r;
}

// A uniform element of GF(p) from the OS CSPRNG (rejection sampling on 61 bits).
uint64_t RandomFieldElement() {
  for (;;) {
    uint64_t v;
    randombytes_buf(&v, sizeof v);
    v &= kFieldPrime;
    if (v < kFieldPrime) return v;
  }
}

uint64_t ChunkOf(std::span<const uint8_t> secret, size_t chunk) {
  uint64_t v = 0;
  for (size_t i = 0; i < kChunkBytes; ++i) {
    const size_t at = chunk * kChunkBytes + i;
    if (at < secret.size()) v |= uint64_t{secret[at]} << (8 * i);
  }
  return v;
}

Status CheckPoints(std::span<const uint32_t> xs) {
  std::unordered_set<uint32_t> seen;
  for (uint32_t x : xs) {
    if (x == 0) return InvalidArgument("Shamir evaluation point 0 would reveal the secret");
    if (!seen.insert(x).second) return InvalidArgument("Shamir evaluation point ", x, " repeated");
  }
  return Status::OK();
}

}  // namespace

uint64_t FieldMul(uint64_t a, uint64_t b) { return Reduce(static_cast<unsigned __int128>(a) * b); }
uint64_t FieldAdd(uint64_t a, uint64_t b) {
  const uint64_t r = a + b;
  return r >= kFieldPrime ? r - kFieldPrime : r;
}
uint64_t FieldSub(uint64_t a, uint64_t b) { return a >= b ? a - b : a + kFieldPrime - b; }

uint64_t FieldInverse(uint64_t a) {
  // Fermat: a^(p-2).
  uint64_t result = 1, base = a, e = kFieldPrime - 2;
  while (e) {
    if (e & 1) result = FieldMul(result, base);
    base = FieldMul(base, base);
    e >>= 1;
  }
  return result;
}

Result<std::vector<ShamirShare>> ShamirSplit(std::span<const uint8_t> secret, uint32_t threshold,
                                             std::span<const uint32_t> xs) {
  if (secret.size() != kSecretBytes) {
    return InvalidArgument("Shamir secret: expected ", kSecretBytes, " bytes, got ", secret.size());
  }
  if (threshold < 1 || threshold > xs.size()) {
    return InvalidArgument("Shamir threshold ", threshold, " outside 1..", xs.size());
  }
  PE_RETURN_IF_ERROR(CheckPoints(xs));
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  std::vector<ShamirShare> shares(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) shares[i].x = xs[i];
  std::vector<uint64_t> coeffs(threshold);
  for (size_t c = 0; c < kShareChunks; ++c) {
    coeffs[0] = ChunkOf(secret, c);
    for (uint32_t j = 1; j < threshold; ++j) coeffs[j] = RandomFieldElement();
    for (ShamirShare& share : shares) {
      // Horner's rule.
      uint64_t y = 0;
      for (uint32_t j = threshold; j-- > 0;) y = FieldAdd(FieldMul(y, share.x), coeffs[j]);
      share.y[c] = y;
    }
  }
  sodium_memzero(coeffs.data(), coeffs.size() * sizeof(uint64_t));
  return shares;
}

Result<SecureBuffer> ShamirReconstruct(std::span<const ShamirShare> shares, uint32_t threshold) {
  if (threshold < 1) return InvalidArgument("Shamir threshold must be at least 1");
  if (shares.size() < threshold) {
    return InvalidArgument("Shamir reconstruction needs ", threshold, " shares, got ",
                           shares.size());
  }
  shares = shares.first(threshold);
  std::vector<uint32_t> xs;
  for (const ShamirShare& s : shares) xs.push_back(s.x);
  PE_RETURN_IF_ERROR(CheckPoints(xs));
  // Lagrange coefficients at 0: l_i = prod_{j != i} x_j / (x_j - x_i).
  std::vector<uint64_t> lambda(threshold);
  for (uint32_t i = 0; i < threshold; ++i) {
    uint64_t num = 1, den = 1;
    for (uint32_t j = 0; j < threshold; ++j) {
      if (j == i) continue;
      num = FieldMul(num, xs[j]);
      den = FieldMul(den, FieldSub(xs[j], xs[i]));
    }
    lambda[i] = FieldMul(num, FieldInverse(den));
  }
  PE_ASSIGN_OR_RETURN(SecureBuffer secret, SecureBuffer::Allocate(kSecretBytes));
  for (size_t c = 0; c < kShareChunks; ++c) {
    uint64_t v = 0;
    for (uint32_t i = 0; i < threshold; ++i) v = FieldAdd(v, FieldMul(lambda[i], shares[i].y[c]));
    const size_t bytes = std::min(kChunkBytes, kSecretBytes - c * kChunkBytes);
    if (v >> (8 * bytes) != 0) {
      return Unauthenticated("Shamir reconstruction gave an out-of-range chunk ", c,
                             ": the shares are inconsistent or of different secrets");
    }
    for (size_t i = 0; i < bytes; ++i) {
      secret.data()[c * kChunkBytes + i] = static_cast<uint8_t>(v >> (8 * i));
    }
  }
  return secret;
}

}  // namespace privedge::secagg
