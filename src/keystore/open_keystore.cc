#include "keystore/software_keystore.h"
#include "privedge/keystore.h"

namespace privedge {

Result<std::unique_ptr<Keystore>> OpenKeystore(const KeystoreOptions& options) {
  if (options.backend == "software" || options.backend == "auto") {
    return keystore::OpenSoftwareKeystore(options);
  }
  if (options.backend == "tpm2") {
    return NotImplemented("keystore backend 'tpm2' is not built into this privedge");
  }
  return InvalidArgument("keystore backend '", options.backend,
                         "': expected auto, tpm2 or software");
}

}  // namespace privedge
