// The TPM 2.0 backend of privedge::Keystore (private to src/; the public entry point is
// OpenKeystore in include/privedge/keystore.h). Design, blob format and threat model:
// docs/keystore.md.
//
//   KeystoreOptions o;
//   o.dir = keys_dir;                               // holds the file "tpm2-keys"
//   o.tpm_tcti = "swtpm:host=127.0.0.1,port=2321";  // empty: $PRIVEDGE_TPM_TCTI, else
//   o.create_if_missing = true;                     //        "device:/dev/tpmrm0"
//   PE_ASSIGN_OR_RETURN(auto ks, OpenTpm2Keystore(o));
//   PE_ASSIGN_OR_RETURN(std::string new_id, RotateTpm2Key(o));  // `privedge keys rotate`
//
// The device key is a primary storage key (ECC P-256) of the TPM's owner hierarchy, derived
// again by the TPM from its owner seed on every open; nothing secret is stored on disk. Each
// data key is sealed in a TPM keyed-hash object under that primary, its authValue bound to the
// context. The owner hierarchy must have an empty authorization (the default).
//
// Thread-safety: a keystore's calls serialize on an internal mutex. Several processes may use
// the same TPM and directory; RotateTpm2Key locks the directory while it updates the file.
#pragma once

#include <memory>
#include <string>

#include "privedge/keystore.h"

namespace privedge::keystore {

// Opens the TPM keystore in options.dir over options.tpm_tcti: re-derives the current
// generation's primary key and checks that it matches the recorded key id. With
// options.create_if_missing and no keystore in the directory, creates the directory (0700)
// and the first generation.
// Errors: options.dir empty (InvalidArgument); no keystore and !create_if_missing (NotFound,
// saying to run `privedge keys init`); TPM not reachable (IoError naming the TCTI); the TPM
// derives another key than the recorded one, i.e. it was cleared or is another TPM
// (PermissionDenied naming both key ids); malformed keystore file (InvalidArgument); other
// TPM failures (one line naming the TSS call and the decoded return code).
Result<std::unique_ptr<Keystore>> OpenTpm2Keystore(const KeystoreOptions& options);

// Starts a new key generation in the keystore in options.dir and returns its key id. Wraps
// made afterwards use it; blobs made under retired generations still unwrap (keystores open
// in other processes pick the new generation up when they first meet one of its blobs, but
// keep wrapping under the generation they opened with until reopened).
// Errors: as OpenTpm2Keystore (create_if_missing is ignored: the keystore must exist).
Result<std::string> RotateTpm2Key(const KeystoreOptions& options);

// OK when a TPM 2.0 answers on the TCTI options.tpm_tcti resolves to (for backend "auto").
// Errors: no TPM there (IoError naming the TCTI and the TSS error).
Status ProbeTpm2(const KeystoreOptions& options);

}  // namespace privedge::keystore
