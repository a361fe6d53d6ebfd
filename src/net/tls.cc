#include "net/tls.h"

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <ctime>
#include <mutex>

#include "net/openssl_util.h"

namespace privedge::net {
namespace ossl {

std::string LastError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Result<Cert> ParseCert(const std::string& pem, const std::string& what) {
  if (pem.empty() || pem.size() > kMaxPemBytes)
    return InvalidArgument(what, ": expected a PEM certificate of 1-", kMaxPemBytes, " bytes, got ",
                           pem.size());
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return InvalidArgument(what, ": not a PEM certificate (", LastError(), ")");
  return cert;
}

Result<std::string> CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    return Internal("cannot encode a certificate: ", LastError());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string CommonName(const X509_NAME* name) {
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

Result<Key> KeyFromSeed(const uint8_t* seed, size_t size) {
  if (size != 32) return InvalidArgument("an Ed25519 private key is 32 bytes, got ", size);
  Key key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, size));
  if (!key) return Internal("cannot make an Ed25519 key: ", LastError());
  return key;
}

std::string RawPublicKey(const EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) return "";
  std::string out(32, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != 32)
    return "";
  return out;
}

}  // namespace ossl

Status RequireTls13ForProcess() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    // Load the default configuration now: loaded later, it would replace this one.
    if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, nullptr) != 1) {
      result = Internal("OpenSSL failed to initialize: ", ossl::LastError());
      return;
    }
    static const char kConfig[] =
        "openssl_conf = privedge_init\n"
        "[privedge_init]\nssl_conf = privedge_ssl\n"
        "[privedge_ssl]\nsystem_default = privedge_tls13\n"
        "[privedge_tls13]\n"
        "MinProtocol = TLSv1.3\n"
        "Protocol = -SSLv3, -TLSv1, -TLSv1.1, -TLSv1.2\n"
        "CipherString = DEFAULT:@SECLEVEL=2\n";
    CONF* conf = NCONF_new(nullptr);
    ossl::Bio bio(BIO_new_mem_buf(kConfig, -1));
    long bad_line = 0;
    if (conf == nullptr || !bio || NCONF_load_bio(conf, bio.get(), &bad_line) != 1 ||
        CONF_modules_load(conf, nullptr, 0) <= 0)
      result = Internal("cannot apply the TLS 1.3 policy to OpenSSL: ", ossl::LastError());
    NCONF_free(conf);
  });
  return result;
}

Result<SecureBuffer> NewKeySeed() {
  PE_ASSIGN_OR_RETURN(SecureBuffer seed, SecureBuffer::Allocate(32));
  if (RAND_priv_bytes(seed.data(), static_cast<int>(seed.size())) != 1)
    return Internal("no random bytes for a key: ", ossl::LastError());
  return seed;
}

Result<SecureBuffer> PrivateKeyPem(std::span<const uint8_t> seed) {
  PE_ASSIGN_OR_RETURN(ossl::Key key, ossl::KeyFromSeed(seed.data(), seed.size()));
  // secmem: the BIO's buffer is wiped when freed.
  ossl::Bio bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return Internal("cannot encode a private key: ", ossl::LastError());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  PE_ASSIGN_OR_RETURN(SecureBuffer pem, SecureBuffer::Allocate(static_cast<size_t>(n)));
  std::memcpy(pem.data(), data, pem.size());
  return pem;
}

Result<std::string> PublicKeyOfSeed(std::span<const uint8_t> seed) {
  PE_ASSIGN_OR_RETURN(ossl::Key key, ossl::KeyFromSeed(seed.data(), seed.size()));
  return ossl::RawPublicKey(key.get());
}

Result<std::string> MakeCsr(std::span<const uint8_t> seed, const std::string& common_name) {
  PE_ASSIGN_OR_RETURN(ossl::Key key, ossl::KeyFromSeed(seed.data(), seed.size()));
  ossl::Req req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_NAME_add_entry_by_NID(
          X509_REQ_get_subject_name(req.get()), NID_commonName, MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), nullptr) <= 0)
    return Internal("cannot make a certificate request: ", ossl::LastError());
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1)
    return Internal("cannot encode a certificate request: ", ossl::LastError());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<CsrInfo> ParseCsr(const std::string& pem) {
  if (pem.empty() || pem.size() > kMaxPemBytes)
    return InvalidArgument("certificate request: expected 1-", kMaxPemBytes, " bytes of PEM, got ",
                           pem.size());
  ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ossl::Req req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req)
    return InvalidArgument("certificate request: not a PEM PKCS#10 request (", ossl::LastError(),
                           ")");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  CsrInfo info;
  info.public_key = ossl::RawPublicKey(key);
  if (info.public_key.empty())
    return InvalidArgument("certificate request: expected an Ed25519 key");
  if (X509_REQ_verify(req.get(), key) != 1)
    return InvalidArgument("certificate request: its signature does not verify");
  info.common_name = ossl::CommonName(X509_REQ_get_subject_name(req.get()));
  return info;
}

Result<CertInfo> CheckCert(const std::string& cert_pem, const std::string& ca_pem, CertUse use) {
  PE_ASSIGN_OR_RETURN(ossl::Cert leaf, ossl::ParseCert(cert_pem, "certificate"));
  PE_ASSIGN_OR_RETURN(ossl::Cert ca, ossl::ParseCert(ca_pem, "CA certificate"));
  if (X509_check_ca(leaf.get()) != 0)
    return Unauthenticated("certificate is a CA certificate, expected a device or server one");
  std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, ossl::Deleter<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr) != 1 ||
      X509_STORE_CTX_set_purpose(ctx.get(), use == CertUse::kClient ? X509_PURPOSE_SSL_CLIENT
                                                                    : X509_PURPOSE_SSL_SERVER) != 1)
    return Internal("cannot set up certificate verification: ", ossl::LastError());
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return Unauthenticated("certificate '", ossl::CommonName(X509_get_subject_name(leaf.get())),
                           "' not accepted: ", X509_verify_cert_error_string(err));
  }
  // Issued by the CA itself, no intermediates.
  if (sk_X509_num(X509_STORE_CTX_get0_chain(ctx.get())) != 2)
    return Unauthenticated("certificate not issued directly by the CA");
  CertInfo info;
  info.common_name = ossl::CommonName(X509_get_subject_name(leaf.get()));
  info.public_key = ossl::RawPublicKey(X509_get0_pubkey(leaf.get()));
  if (info.public_key.empty()) return Unauthenticated("certificate key is not Ed25519");
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(leaf.get())) == 1)
    info.not_after_unix = static_cast<int64_t>(std::time(nullptr)) + days * int64_t{86400} + secs;
  return info;
}

}  // namespace privedge::net
