// Signed model versions: the federated server signs every global model version it hands out
// with its Ed25519 model-signing key (<state>/model_signing.key); devices verify the signature
// with the public key they pinned at enrollment before they train on the model.
//
//   Signature sig = net::SignModel(key, "task", 3, digest_hex);
//   PE_RETURN_IF_ERROR(net::VerifyModel(pinned, "task", 3, digest_hex, sig_bytes));
//
// The signed message binds task id, version and content digest (SHA-256 of the parameters,
// hex), so a signature can be neither moved to another task or version nor to other weights:
//   "privedge.v1.model" 0x00 | u32 LE len(task_id) | task_id | i64 LE version | digest
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/signing.h"
#include "privedge/status.h"

namespace privedge::net {

Signature SignModel(const SigningKey& key, const std::string& task_id, int64_t version,
                    const std::string& digest);
// Unauthenticated when `signature` (64 bytes expected) is not `key`'s signature of the model.
Status VerifyModel(const PublicKey& key, const std::string& task_id, int64_t version,
                   const std::string& digest, std::string_view signature);

// Loads the server's model-signing key from <state_dir>/model_signing.key, creating the key
// pair (and model_signing.pub) on first use.
Result<SigningKey> LoadOrCreateModelSigningKey(const std::string& state_dir);

}  // namespace privedge::net
