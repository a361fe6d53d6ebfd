// Keystore: the device-bound keys that protect models and local data at rest.
//
// A Keystore never hands out its device key. It wraps (encrypts and authenticates) short data
// keys, such as the key of one encrypted model or of one secure-store silo, so that only the
// same keystore on the same device can unwrap them. A wrapped key copied to another device
// fails to unwrap there with PermissionDenied naming both key ids.
//
//   privedge::KeystoreOptions options;            // backend "auto": TPM 2.0 if present
//   PE_ASSIGN_OR_RETURN(auto ks, privedge::OpenKeystore(options));
//   PE_ASSIGN_OR_RETURN(auto blob, ks->Wrap(model_key.span(), "privedge-model"));
//   PE_ASSIGN_OR_RETURN(privedge::SecureBuffer key, ks->Unwrap(blob, "privedge-model"));
//
// Backends: "tpm2" (a key sealed to the device's TPM 2.0 through tss2-esys; the TCTI string
// selects the TPM, e.g. "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321") and
// "software" (a random device key in a 0600 file in a per-user directory, optionally wrapped
// by a passphrase with Argon2id).
//
// Thread-safety: one Keystore may be shared; its calls serialize internally.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge {

class Keystore {
 public:
  virtual ~Keystore() = default;
  // "tpm2" or "software".
  virtual std::string backend() const = 0;
  // Identifier of the current device key: hex of a hash of its public identity, stable
  // across restarts, different on every device and after `rotate`.
  virtual std::string key_id() const = 0;
  // Wraps `key` (at most 64 bytes) for this device. `context` is bound into the wrapping:
  // unwrapping under another context fails. The blob records the key id it was made for.
  virtual Result<std::vector<uint8_t>> Wrap(std::span<const uint8_t> key,
                                            std::string_view context) = 0;
  // Unwraps a blob made by Wrap on this device (with the current or a retired key).
  // Errors: blob made for another device or key (PermissionDenied, naming both key ids),
  // altered blob or wrong context (Unauthenticated), malformed blob (InvalidArgument).
  virtual Result<SecureBuffer> Unwrap(std::span<const uint8_t> wrapped,
                                      std::string_view context) = 0;
};

struct KeystoreOptions {
  // "auto" (tpm2 when a TPM answers on `tpm_tcti`, else software), "tpm2" or "software".
  std::string backend = "auto";
  // Directory of the keystore's files; empty means $PRIVEDGE_HOME/keys, else
  // $XDG_DATA_HOME/privedge/keys, else ~/.local/share/privedge/keys.
  std::string dir;
  // Software backend: when non-empty, the device key file is wrapped by this passphrase
  // (Argon2id); opening then requires it.
  std::string passphrase;
  // TPM 2.0 backend: the TCTI configuration; empty means $PRIVEDGE_TPM_TCTI, else
  // "device:/dev/tpmrm0".
  std::string tpm_tcti;
  // Create the device key when none exists yet (what `privedge keys init` does).
  bool create_if_missing = false;
};

// Opens (or with create_if_missing, initializes) the device keystore.
Result<std::unique_ptr<Keystore>> OpenKeystore(const KeystoreOptions& options = {});

}  // namespace privedge
