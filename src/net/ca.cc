#include "net/ca.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "net/file_util.h"
#include "net/openssl_util.h"

namespace privedge::net {
namespace {

constexpr int64_t kCaDays = 3650;

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return IoError("cannot create directory '", path, "': ", std::strerror(errno));
  return Status::OK();
}


Result<ossl::Key> NewKey() {
  PE_ASSIGN_OR_RETURN(SecureBuffer seed, NewKeySeed());
  return ossl::KeyFromSeed(seed.data(), seed.size());
}

Result<SecureBuffer> KeyPem(EVP_PKEY* key) {
  ossl::Bio bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Internal("cannot encode a private key: ", ossl::LastError());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  PE_ASSIGN_OR_RETURN(SecureBuffer pem, SecureBuffer::Allocate(static_cast<size_t>(n)));
  std::memcpy(pem.data(), data, pem.size());
  return pem;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr)
    return Internal("cannot make extension ", OBJ_nid2sn(nid), "=", value, ": ", ossl::LastError());
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return Internal("cannot add extension: ", ossl::LastError());
  return Status::OK();
}

// A certificate for `subject_key` named CN=`common_name`, issued by `issuer` (nullptr: itself)
// and signed by `issuer_key`, valid from five minutes ago (clock skew) for `days` days.
Result<ossl::Cert> NewCert(const std::string& common_name, EVP_PKEY* subject_key, X509* issuer,
                           EVP_PKEY* issuer_key, int64_t days,
                           const std::vector<std::pair<int, std::string>>& extensions) {
  ossl::Cert cert(X509_new());
  unsigned char serial[16];
  if (!cert || RAND_bytes(serial, sizeof serial) != 1)
    return Internal("cannot start a certificate: ", ossl::LastError());
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, ossl::Deleter<BN_free>> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!bn || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), 0, nullptr) ==
          nullptr ||
      X509_set_pubkey(cert.get(), subject_key) != 1 ||
      X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) != 1)
    return Internal("cannot fill a certificate: ", ossl::LastError());
  X509* iss = issuer ? issuer : cert.get();
  for (const auto& [nid, value] : extensions)
    PE_RETURN_IF_ERROR(AddExt(cert.get(), iss, nid, value));
  PE_RETURN_IF_ERROR(AddExt(cert.get(), iss, NID_subject_key_identifier, "hash"));
  PE_RETURN_IF_ERROR(AddExt(cert.get(), iss, NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(cert.get(), issuer_key, nullptr) <= 0)
    return Internal("cannot sign a certificate: ", ossl::LastError());
  return cert;
}

bool ValidHostName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':'))
      return false;
  return true;
}

bool IsIpAddress(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

struct CertificateAuthority::Impl {
  ossl::Key key;
  ossl::Cert cert;
};

CertificateAuthority::CertificateAuthority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;
CertificateAuthority::~CertificateAuthority() = default;

Result<CertificateAuthority> CertificateAuthority::LoadOrCreate(const std::string& state_dir) {
  PE_RETURN_IF_ERROR(MakeDir(state_dir));
  const std::string dir = state_dir + "/tls";
  PE_RETURN_IF_ERROR(MakeDir(dir));
  PE_RETURN_IF_ERROR(MakeDir(dir + "/devices"));
  const std::string key_path = dir + "/ca.key", cert_path = dir + "/ca.crt";
  auto impl = std::make_unique<Impl>();
  if (access(key_path.c_str(), F_OK) != 0) {
    PE_ASSIGN_OR_RETURN(impl->key, NewKey());
    PE_ASSIGN_OR_RETURN(impl->cert, NewCert("privedge federated CA", impl->key.get(), nullptr,
                                            impl->key.get(), kCaDays,
                                            {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                             {NID_key_usage, "critical,keyCertSign,cRLSign"}}));
    PE_ASSIGN_OR_RETURN(std::string pem, ossl::CertPem(impl->cert.get()));
    PE_ASSIGN_OR_RETURN(SecureBuffer key_pem, KeyPem(impl->key.get()));
    PE_RETURN_IF_ERROR(WriteFile(cert_path, pem.data(), pem.size(), 0644, false));
    // The key last: a directory with ca.key has a matching ca.crt. O_EXCL: a concurrent
    // creator that lost the race loads the winner's pair below.
    Status wrote = WriteFile(key_path, key_pem.data(), key_pem.size(), 0600, true);
    if (wrote.ok()) {
      CertificateAuthority ca(std::move(impl));
      ca.dir_ = dir;
      ca.cert_pem_ = std::move(pem);
      return ca;
    }
    if (access(key_path.c_str(), F_OK) != 0) return wrote;
    impl = std::make_unique<Impl>();
  }
  PE_ASSIGN_OR_RETURN(SecureBuffer key_pem, [&]() -> Result<SecureBuffer> {
    PE_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(key_path, kMaxPemBytes));
    PE_ASSIGN_OR_RETURN(SecureBuffer b, SecureBuffer::Allocate(text.size()));
    std::memcpy(b.data(), text.data(), text.size());
    std::fill(text.begin(), text.end(), '\0');
    return b;
  }());
  ossl::Bio bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  impl->key.reset(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!impl->key || EVP_PKEY_get_id(impl->key.get()) != EVP_PKEY_ED25519)
    return InvalidArgument("'", key_path, "': expected an Ed25519 private key in PEM");
  PE_ASSIGN_OR_RETURN(std::string pem, ReadSmallFile(cert_path, kMaxPemBytes));
  PE_ASSIGN_OR_RETURN(impl->cert, ossl::ParseCert(pem, cert_path));
  if (X509_check_private_key(impl->cert.get(), impl->key.get()) != 1)
    return InvalidArgument("'", cert_path, "' does not match the key in '", key_path, "'");
  CertificateAuthority ca(std::move(impl));
  ca.dir_ = dir;
  ca.cert_pem_ = std::move(pem);
  return ca;
}

Result<ServerCertificate> CertificateAuthority::IssueServerCert(
    const std::vector<std::string>& names, int64_t days) {
  std::string san = "IP:127.0.0.1,DNS:localhost";
  for (const std::string& n : names) {
    if (!ValidHostName(n))
      return InvalidArgument("TLS name '", n, "': expected a host name or IP address");
    san += (IsIpAddress(n) ? ",IP:" : ",DNS:") + n;
  }
  PE_ASSIGN_OR_RETURN(ossl::Key key, NewKey());
  PE_ASSIGN_OR_RETURN(ossl::Cert cert, NewCert(names.empty() ? "localhost" : names[0], key.get(),
                                               impl_->cert.get(), impl_->key.get(), days,
                                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                                {NID_key_usage, "critical,digitalSignature"},
                                                {NID_ext_key_usage, "serverAuth"},
                                                {NID_subject_alt_name, san}}));
  ServerCertificate out;
  PE_ASSIGN_OR_RETURN(out.cert_pem, ossl::CertPem(cert.get()));
  PE_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  PE_RETURN_IF_ERROR(
      WriteFile(dir_ + "/server.key", out.key_pem.data(), out.key_pem.size(), 0600, false));
  PE_RETURN_IF_ERROR(
      WriteFile(dir_ + "/server.crt", out.cert_pem.data(), out.cert_pem.size(), 0644, false));
  return out;
}

bool CertificateAuthority::HasDeviceCert(const std::string& device_id) const {
  return access((dir_ + "/devices/" + device_id + ".crt").c_str(), F_OK) == 0;
}

Result<std::string> CertificateAuthority::IssueDeviceCert(const CsrInfo& csr,
                                                          const std::string& device_id,
                                                          int64_t days) {
  // The caller checked the id's characters ([A-Za-z0-9_.:-]): safe in a path and a SAN.
  PE_ASSIGN_OR_RETURN(ossl::Key key, [&]() -> Result<ossl::Key> {
    ossl::Key k(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(csr.public_key.data()),
        csr.public_key.size()));
    if (!k) return InvalidArgument("certificate request: bad Ed25519 key");
    return k;
  }());
  PE_ASSIGN_OR_RETURN(ossl::Cert cert,
                      NewCert(device_id, key.get(), impl_->cert.get(), impl_->key.get(), days,
                              {{NID_basic_constraints, "critical,CA:FALSE"},
                               {NID_key_usage, "critical,digitalSignature"},
                               {NID_ext_key_usage, "clientAuth"},
                               {NID_subject_alt_name, "URI:urn:privedge:device:" + device_id}}));
  PE_ASSIGN_OR_RETURN(std::string pem, ossl::CertPem(cert.get()));
  const std::string record = dir_ + "/devices/" + device_id + ".crt";
  Status wrote = WriteFile(record, pem.data(), pem.size(), 0644, true);
  if (!wrote.ok() && HasDeviceCert(device_id))
    return PermissionDenied("device '", device_id, "' is already enrolled (remove '", record,
                            "' to enroll it again)");
  PE_RETURN_IF_ERROR(wrote);
  return pem;
}

}  // namespace privedge::net
