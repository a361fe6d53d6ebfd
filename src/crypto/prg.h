// A cryptographic pseudo-random generator for secure-aggregation masks: AES-256-CTR (OpenSSL,
// AES-NI when the CPU has it) keyed by a full 256-bit seed, counter starting at zero.
//
//   std::vector<uint64_t> acc(d);
//   PE_RETURN_IF_ERROR(crypto::AddPrgMask(seed, /*bits=*/32, /*subtract=*/false, acc));
//
// Each seed must key one stream only (callers derive a fresh seed per round and per pair), so
// the fixed zero IV never repeats a keystream under the same key.
//
// Errors: a seed that is not 32 bytes or bits outside 1..64 (InvalidArgument); an OpenSSL
// failure (Internal). Thread-safety: reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "privedge/status.h"

namespace privedge::crypto {

inline constexpr size_t kPrgSeedBytes = 32;

// Fills `out` with the keystream of `seed`.
Status PrgBytes(std::span<const uint8_t> seed, std::span<uint8_t> out);

// Adds (subtract = false) or subtracts the mask vector m = PRG(seed) to `acc` element-wise,
// where m[i] is the i-th little-endian word of the keystream: 4 bytes when bits <= 32, else 8.
// Arithmetic wraps mod 2^64, so acc[i] stays congruent mod 2^bits to acc[i] +/- (m[i] mod
// 2^bits) (2^bits divides 2^64); callers reduce mod 2^bits when they are done.
Status AddPrgMask(std::span<const uint8_t> seed, uint32_t bits, bool subtract,
                  std::span<uint64_t> acc);

}  // namespace privedge::crypto
