// Owning pointers and small helpers for the OpenSSL objects of src/net (private to net).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "privedge/status.h"

namespace privedge::net::ossl {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;

// OpenSSL's most recent error queue entry as text ("no error" when empty); clears the queue.
std::string LastError();

// Parses one PEM certificate of at most kMaxPemBytes; `what` names it in errors.
Result<Cert> ParseCert(const std::string& pem, const std::string& what);
// The PEM text of a certificate.
Result<std::string> CertPem(X509* cert);
// The subject's common name (UTF-8); empty when there is none.
std::string CommonName(const X509_NAME* name);
// The Ed25519 key of a seed, and the raw public key of an Ed25519 key (32 bytes; empty when
// `key` is not Ed25519).
Result<Key> KeyFromSeed(const uint8_t* seed, size_t size);
std::string RawPublicKey(const EVP_PKEY* key);

}  // namespace privedge::net::ossl
