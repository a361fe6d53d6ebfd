// The software keystore: for devices without a TPM. The device key is 32 random bytes in a
// 0600 file in a 0700 directory, optionally wrapped by a passphrase (Argon2id). Rotation adds a
// new generation; blobs wrapped under older generations still unwrap.
#pragma once

#include <memory>
#include <string>

#include "privedge/keystore.h"

namespace privedge::keystore {

// The directory KeystoreOptions::dir resolves to (see include/privedge/keystore.h).
std::string ResolveKeystoreDir(const KeystoreOptions& options);

Result<std::unique_ptr<Keystore>> OpenSoftwareKeystore(const KeystoreOptions& options);

// Creates a new device key generation in the resolved directory and makes it current.
// Returns the new key id. Requires an existing keystore (and its passphrase, if it has one).
Result<std::string> RotateSoftwareKey(const KeystoreOptions& options);

}  // namespace privedge::keystore
