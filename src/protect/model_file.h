// The model container file (.pmc): a fixed 4096-byte header and a body (model/container.h),
// stored plain (mapped read-only and used in place) or encrypted with XChaCha20-Poly1305 in
// fixed-size chunks under a random model key wrapped by the device keystore, and optionally
// signed by a publisher with Ed25519. docs/container.md has the byte layout and the threat
// model; this header is the API.
//
//   PE_ASSIGN_OR_RETURN(SecureBuffer body, SerializeModel(model));
//   ContainerWriteOptions w;  w.keystore = ks.get();           // null: plain
//   PE_RETURN_IF_ERROR(WriteContainerFile("m.pmc", body.span(), w));
//   ContainerOpenOptions o;   o.keystore = ks.get();
//   PE_ASSIGN_OR_RETURN(OpenedContainer c, OpenContainerFile("m.pmc", o));
//   PE_ASSIGN_OR_RETURN(Model m, ParseModel(c.body, c.owner));
//
// Checks at open, in order: header structure (every field, reserved bytes zero, sizes against
// the file size); the header signature when the container is signed; with
// `require_signed_by`, the signer and the content digest of the whole body; for encrypted
// containers, every chunk's tag, with the header digest, the chunk index and a last-chunk flag
// as associated data (so a flipped bit, a truncation, reordered chunks or a header taken from
// another container all fail with Unauthenticated before any byte is used).
//
// Thread-safety: the functions are independent; an OpenedContainer is read-only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "crypto/signing.h"
#include "privedge/keystore.h"
#include "privedge/secure_buffer.h"

namespace privedge {

inline constexpr uint32_t kContainerFormatVersion = 1;
inline constexpr size_t kContainerHeaderSize = 4096;  // also the body offset (page aligned)
// Context string the model key is wrapped under by the keystore.
inline constexpr const char* kModelKeyContext = "privedge-model-v1";

struct ContainerHeader {
  uint32_t format_version = kContainerFormatVersion;
  uint32_t body_version = 0;
  bool encrypted = false;
  bool is_signed = false;
  uint64_t body_offset = kContainerHeaderSize;
  uint64_t body_size = 0;   // bytes stored (ciphertext and tags when encrypted)
  uint64_t plain_size = 0;  // bytes of the plain body
  uint32_t chunk_size = 0;  // plain bytes per encrypted chunk (the last may be shorter); 0 if plain
  std::array<uint8_t, 32> content_digest{};  // BLAKE2b-256 of the stored body
  std::array<uint8_t, 24> nonce_base{};
  std::string key_id;                // keystore key the model key is wrapped for
  std::vector<uint8_t> wrapped_key;  // Keystore::Wrap(model key, kModelKeyContext)
  PublicKey signer{};
  Signature signature{};
  // Encrypted only: keyed BLAKE2b (model key) of the header minus this and the signature
  // fields, so the content digest, which the chunks cannot bind, is authenticated too.
  std::array<uint8_t, 32> header_mac{};

  uint64_t chunk_count() const;
};

// True when the file starts with the container magic (detection is by content, not name).
bool IsContainerFile(const std::string& path);

// Reads and checks the header of `path` (structure only; no key, no signature check).
Result<ContainerHeader> ReadContainerHeader(const std::string& path);

struct ContainerWriteOptions {
  Keystore* keystore = nullptr;             // non-null: encrypt for this keystore's device
  const SigningKey* signing_key = nullptr;  // non-null: sign
  uint32_t chunk_size = 1u << 20;           // plain bytes per encrypted chunk, 256 B to 64 MiB
  uint32_t body_version = 1;                // kContainerBodyVersion (model/container.h)
};

// Writes a container holding `body` to `path` atomically (a temporary file in the same folder,
// then rename). When encrypting, only ciphertext is ever written.
Status WriteContainerFile(const std::string& path, std::span<const uint8_t> body,
                          const ContainerWriteOptions& options);

struct ContainerOpenOptions {
  Keystore* keystore = nullptr;  // needed for encrypted containers
  // When set, the container must be signed by this key and its content digest must match.
  const PublicKey* require_signed_by = nullptr;
  // Decrypted bodies live in locked memory (mlock); if RLIMIT_MEMLOCK refuses, opening fails
  // unless this allows unlocked (still non-dumpable, wiped) memory.
  bool allow_unlocked_memory = false;
  int decrypt_threads = 2;
};

struct OpenedContainer {
  ContainerHeader header;
  std::span<const uint8_t> body;  // the plain body, 64-byte aligned
  std::shared_ptr<void> owner;    // keeps `body` alive: the file mapping or the SecureBuffer
};

// Opens `path` as described at the top. Errors: malformed header (InvalidModel), bad or
// missing signature (Unauthenticated), altered encrypted data (Unauthenticated), model
// encrypted for another device (PermissionDenied naming both key ids), no keystore given for
// an encrypted container (InvalidArgument), unlocked memory refused (PermissionDenied).
Result<OpenedContainer> OpenContainerFile(const std::string& path,
                                          const ContainerOpenOptions& options);

// OpenContainerFile as Session::Load and TrainingSession use it: `require_signed_by` is a
// public key file or 64 hex digits (empty: no requirement); with no `keystore`, an encrypted
// container opens the device's default keystore (OpenKeystore with default options).
Result<OpenedContainer> OpenContainerWithPolicy(const std::string& path,
                                                std::shared_ptr<Keystore> keystore,
                                                const std::string& require_signed_by,
                                                bool allow_unlocked_memory);

// Signs the container at `path` in place (atomically; an encrypted one stays ciphertext).
// Refuses a container whose body does not match its content digest.
Status SignContainerFile(const std::string& path, const SigningKey& key);

// Checks that `path` is signed by `expected` (or, when null, by whatever key it names) with a
// body matching its digest. Returns the signer.
Result<PublicKey> VerifyContainerFile(const std::string& path, const PublicKey* expected);

}  // namespace privedge
