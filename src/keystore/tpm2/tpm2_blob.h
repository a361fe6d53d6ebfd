// The wrapped-key blob of the TPM keystore and the sealed object it carries.
//
//   offset  size  field
//   0       8     magic "PETPM2WK"
//   8       1     version (1)
//   9       16    key id of the primary key (generation) the object was sealed under
//   25      var   TPM2B_PUBLIC of the sealed object (TPM marshaling, tss2-mu)
//   ...     var   TPM2B_PRIVATE of the sealed object (encrypted and integrity-protected by
//                 the TPM under the primary key); nothing may follow
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "privedge/status.h"

namespace privedge::keystore::tpm2 {

constexpr size_t kKeyIdBytes = 16;

struct WrappedKey {
  std::array<uint8_t, kKeyIdBytes> key_id{};
  TPM2B_PUBLIC public_area{};
  TPM2B_PRIVATE private_area{};
};

std::vector<uint8_t> EncodeWrappedKey(const WrappedKey& key);

// Parses a blob; every size is checked against the bytes present. Errors: wrong magic,
// unknown version, truncated or trailing bytes, unmarshalable TPM structures
// (InvalidArgument).
Result<WrappedKey> DecodeWrappedKey(std::span<const uint8_t> blob);

// The public area of every sealed data key: a keyed-hash data object (no sign, no decrypt)
// that never leaves this TPM and this parent, authorized by its authValue (the context hash,
// see tpm2_keystore.cc), exempt from dictionary-attack lockout.
TPM2B_PUBLIC SealedObjectTemplate();

// Checks that a blob's public area is one SealedObjectTemplate() produced (the TPM fills in
// only `unique`). Errors: anything else (Unauthenticated: the blob was altered).
Status CheckSealedObjectPublic(const TPMT_PUBLIC& public_area);

}  // namespace privedge::keystore::tpm2
