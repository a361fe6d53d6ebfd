// Helpers for the dataset tests: temporary files, IDX and gzip encoders, a byte mutator.
#pragma once

#include "testing/temp_dir.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace privedge::testing {

// An IDX file: magic 00 00 `type` rank, big-endian dims, then `payload` (already big-endian).
std::string IdxBytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& payload);
// uint8 elements as an IDX payload is just the bytes.
std::string IdxUint8(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& values);

// gzip-compressed `bytes` (one member).
std::string Gzip(const std::string& bytes);

std::span<const uint8_t> Bytes(const std::string& s);

// Deterministic random mutations of `seed_bytes` (flips, truncations, insertions), for
// never-crash checks of the parsers.
std::vector<std::string> Mutations(const std::string& seed_bytes, int count, uint64_t seed);

}  // namespace privedge::testing
