// Shamir secret sharing of 32-byte secrets over the prime field GF(p), p = 2^61 - 1.
//
//   PE_ASSIGN_OR_RETURN(auto shares, secagg::ShamirSplit(secret, /*threshold=*/t, xs));
//   PE_ASSIGN_OR_RETURN(SecureBuffer again, secagg::ShamirReconstruct(any_t_shares, t));
//
// Why this field: a 32-byte secret is cut into 5 chunks of 7 bytes (56 bits, the last one 4
// bytes), each below p, and each chunk is shared with its own random polynomial of degree
// t-1. Every chunk is perfectly hidden by t-1 shares, so the secret is too; arithmetic is
// 64x64->128-bit multiplication with a shift-and-add reduction, far faster than a 256-bit
// field through BIGNUM. A share is (x, five field elements): 44 bytes on the wire.
//
// Reconstruction from t-1 or fewer shares is refused; from t shares of another polynomial set
// it returns garbage, and usually (each chunk must land below 2^56) an Unauthenticated error.
// Thread-safety: reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge::secagg {

inline constexpr uint64_t kFieldPrime = (uint64_t{1} << 61) - 1;
inline constexpr size_t kSecretBytes = 32;
inline constexpr size_t kShareChunks = 5;
inline constexpr size_t kChunkBytes = 7;

struct ShamirShare {
  uint32_t x = 0;                          // evaluation point, 1..2^32-1 (never 0)
  std::array<uint64_t, kShareChunks> y{};  // one field element per chunk
};

// Field helpers (exposed for tests).
uint64_t FieldMul(uint64_t a, uint64_t b);
uint64_t FieldAdd(uint64_t a, uint64_t b);
uint64_t FieldSub(uint64_t a, uint64_t b);
uint64_t FieldInverse(uint64_t a);  // precondition: a != 0 mod p

// Splits `secret` (32 bytes) into one share per evaluation point in `xs` (distinct, nonzero),
// any `threshold` of which reconstruct it. Errors: threshold outside 1..xs.size(), repeated or
// zero x, wrong secret size (InvalidArgument).
Result<std::vector<ShamirShare>> ShamirSplit(std::span<const uint8_t> secret, uint32_t threshold,
                                             std::span<const uint32_t> xs);

// Reconstructs the secret from the first `threshold` of `shares` by Lagrange interpolation at
// 0. Errors: fewer than `threshold` shares, repeated or zero x (InvalidArgument); a result that
// is not a valid encoding, i.e. inconsistent shares (Unauthenticated).
Result<SecureBuffer> ShamirReconstruct(std::span<const ShamirShare> shares, uint32_t threshold);

}  // namespace privedge::secagg
