// CertificateAuthority: the federated server's own small CA, which issues the server's TLS
// certificate and one certificate per enrolled device. Its files live in <state>/tls/:
//
//   ca.key      (0600) the CA's Ed25519 key, PKCS#8 PEM; never leaves the server
//   ca.crt      the self-signed CA certificate: handed to devices out of band, which pin it
//   server.key  (0600), server.crt: reissued at every start for the names the server answers to
//   devices/<id>.crt  every device certificate issued (one per device id: a second enrollment
//                     of the same id is refused until an administrator removes the file)
//
//   PE_ASSIGN_OR_RETURN(net::CertificateAuthority ca,
//   net::CertificateAuthority::LoadOrCreate(dir)); PE_ASSIGN_OR_RETURN(net::ServerCertificate sc,
//   ca.IssueServerCert({"fl.example.org"}, 365)); PE_ASSIGN_OR_RETURN(net::CsrInfo csr,
//   net::ParseCsr(csr_pem)); PE_ASSIGN_OR_RETURN(std::string device_cert, ca.IssueDeviceCert(csr,
//   "phone-17", 30));
//
// Certificates: the CA has basicConstraints CA:TRUE, pathlen 0; a server certificate has
// extendedKeyUsage serverAuth and SANs 127.0.0.1, localhost and the given names; a device
// certificate has CN = device id, SAN URI urn:privedge:device:<id>, extendedKeyUsage
// clientAuth. Serial numbers are 128 random bits. All keys are Ed25519 (see net/tls.h).
//
// Thread-safety: a CertificateAuthority may be shared; IssueDeviceCert is safe to call
// concurrently (the record file is created with O_EXCL).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "net/tls.h"
#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge::net {

struct ServerCertificate {
  SecureBuffer key_pem;
  std::string cert_pem;
};

class CertificateAuthority {
 public:
  // Loads the CA of `state_dir`, creating the directory, the key and the certificate on first
  // use. Errors name the file: unreadable, malformed, key and certificate not matching.
  static Result<CertificateAuthority> LoadOrCreate(const std::string& state_dir);

  const std::string& cert_pem() const { return cert_pem_; }
  std::string cert_path() const { return dir_ + "/ca.crt"; }

  // A fresh server key and certificate valid `days` days, also written to server.key/.crt.
  // `names` are host names or IP addresses ([A-Za-z0-9.:-]); InvalidArgument otherwise.
  Result<ServerCertificate> IssueServerCert(const std::vector<std::string>& names, int64_t days);

  // A device certificate for the key of `csr`, valid `days` days. AlreadyExists-style refusal
  // (PermissionDenied) when `device_id` already has one.
  Result<std::string> IssueDeviceCert(const CsrInfo& csr, const std::string& device_id,
                                      int64_t days);
  bool HasDeviceCert(const std::string& device_id) const;

  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;
  ~CertificateAuthority();

 private:
  struct Impl;
  explicit CertificateAuthority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string dir_;
  std::string cert_pem_;
};

}  // namespace privedge::net
