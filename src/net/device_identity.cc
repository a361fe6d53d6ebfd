#include "net/device_identity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "net/file_util.h"
#include "net/tls.h"

namespace privedge::net {
namespace {

constexpr const char* kKeyContext = "privedge-fl-device-key";

}  // namespace

bool HasDeviceIdentity(const std::string& dir) {
  return access((dir + "/device.key.sealed").c_str(), F_OK) == 0;
}

Status SaveDeviceIdentity(const std::string& dir, Keystore& keystore, const DeviceIdentity& id) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return IoError("cannot create directory '", dir, "': ", std::strerror(errno));
  if (HasDeviceIdentity(dir)) return InvalidArgument("'", dir, "' already holds a device identity");
  PE_ASSIGN_OR_RETURN(std::vector<uint8_t> sealed, keystore.Wrap(id.key_seed.span(), kKeyContext));
  const std::string pub = "privedge-ed25519-public-v1 " + ToHex(id.model_key) + "\n";
  for (const char* name : {"/device.crt", "/ca.crt", "/model_signing.pub"})
    unlink((dir + name).c_str());
  PE_RETURN_IF_ERROR(
      WriteFile(dir + "/device.crt", id.cert_pem.data(), id.cert_pem.size(), 0644, true));
  PE_RETURN_IF_ERROR(
      WriteFile(dir + "/ca.crt", id.ca_cert_pem.data(), id.ca_cert_pem.size(), 0644, true));
  PE_RETURN_IF_ERROR(WriteFile(dir + "/model_signing.pub", pub.data(), pub.size(), 0644, true));
  // The sealed key last: its presence marks a complete identity.
  return WriteFile(dir + "/device.key.sealed", sealed.data(), sealed.size(), 0600, true);
}

Result<DeviceIdentity> LoadDeviceIdentity(const std::string& dir, Keystore& keystore) {
  if (!HasDeviceIdentity(dir))
    return NotFound("no device identity in '", dir, "' (enroll the device first)");
  DeviceIdentity id;
  PE_ASSIGN_OR_RETURN(std::string sealed, ReadSmallFile(dir + "/device.key.sealed", 4096));
  PE_ASSIGN_OR_RETURN(
      id.key_seed, keystore.Unwrap({reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size()},
                                   kKeyContext));
  PE_ASSIGN_OR_RETURN(id.cert_pem, ReadSmallFile(dir + "/device.crt", kMaxPemBytes));
  PE_ASSIGN_OR_RETURN(id.ca_cert_pem, ReadSmallFile(dir + "/ca.crt", kMaxPemBytes));
  PE_ASSIGN_OR_RETURN(id.model_key, LoadPublicKey(dir + "/model_signing.pub"));
  Result<CertInfo> cert = CheckCert(id.cert_pem, id.ca_cert_pem, CertUse::kClient);
  if (!cert.ok())
    return Unauthenticated("'", dir, "/device.crt': ", cert.status().message(),
                           " (enroll the device again)");
  PE_ASSIGN_OR_RETURN(std::string pub, PublicKeyOfSeed(id.key_seed.span()));
  if (pub != cert->public_key)
    return InvalidArgument("'", dir, "/device.crt' is not the certificate of the sealed key");
  id.device_id = cert->common_name;
  return id;
}

}  // namespace privedge::net
