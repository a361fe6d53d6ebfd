#include <unistd.h>

#include <cstdlib>

#include "keystore/software_keystore.h"
#include "keystore/tpm2/tpm2_keystore.h"
#include "privedge/keystore.h"

namespace privedge {
namespace {

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

bool HasSoftwareKey(const std::string& dir) {
  // Generation 1 is never deleted by rotation, so its file marks a software keystore.
  return Exists(dir + "/device-key.1");
}

// "auto": an existing keystore keeps its backend; a new one uses the TPM when one answers.
Result<std::string> ChooseBackend(const KeystoreOptions& options) {
  const std::string dir = options.dir;
  if (Exists(dir + "/tpm2-keys")) return std::string("tpm2");
  if (HasSoftwareKey(dir)) return std::string("software");
  const char* env = std::getenv("PRIVEDGE_TPM_TCTI");
  const bool default_device = options.tpm_tcti.empty() && (env == nullptr || *env == '\0');
  if (default_device && !Exists("/dev/tpmrm0")) return std::string("software");
  return std::string(keystore::ProbeTpm2(options).ok() ? "tpm2" : "software");
}

}  // namespace

Result<std::unique_ptr<Keystore>> OpenKeystore(const KeystoreOptions& in) {
  KeystoreOptions options = in;
  options.dir = keystore::ResolveKeystoreDir(in);
  std::string backend = options.backend;
  if (backend == "auto") {
    PE_ASSIGN_OR_RETURN(backend, ChooseBackend(options));
  }
  if (backend == "software") return keystore::OpenSoftwareKeystore(options);
  if (backend == "tpm2") return keystore::OpenTpm2Keystore(options);
  return InvalidArgument("keystore backend '", options.backend,
                         "': expected auto, tpm2 or software");
}

}  // namespace privedge
