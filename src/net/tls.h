// TLS building blocks of the federated transport (OpenSSL 3 EVP/X509): Ed25519 keys,
// certificate requests, certificate checks, and the process-wide TLS 1.3 floor.
//
//   PE_RETURN_IF_ERROR(net::RequireTls13ForProcess());       // before any TLS credentials
//   PE_ASSIGN_OR_RETURN(SecureBuffer seed, net::NewKeySeed());
//   PE_ASSIGN_OR_RETURN(std::string csr, net::MakeCsr(seed.span(), "phone-17"));
//   PE_ASSIGN_OR_RETURN(net::CertInfo info, net::CheckCert(cert_pem, ca_pem,
//   net::CertUse::kClient));
//
// Keys are Ed25519 everywhere (CA, server, devices): gRPC 1.51 on OpenSSL 3 negotiates them in
// TLS 1.3 (sigalg ed25519), and a private key is its 32-byte seed, small enough for a Keystore
// to wrap. Private key bytes stay in SecureBuffers; gRPC keeps its own copy of a channel's key.
//
// Why a process-wide setting: gRPC 1.51 has no public call for the minimum TLS version (its
// SSL_CTX is always built with TLS 1.2 as the floor). OpenSSL applies the "system_default"
// section of its configuration to every SSL_CTX it creates; RequireTls13ForProcess replaces that
// section, in memory, with one that disables TLS 1.2 and below (Protocol = -TLSv1.2, which an
// explicit SSL_CTX_set_min_proto_version does not re-enable). Every TLS context created
// afterwards in the process, gRPC's included, speaks TLS 1.3 only.
//
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge::net {

// Largest PEM object (certificate, request) accepted from a file or the network.
constexpr size_t kMaxPemBytes = 16 * 1024;

// Idempotent. Errors: OpenSSL refuses the configuration (Internal).
Status RequireTls13ForProcess();

// A fresh Ed25519 private key (its 32-byte seed).
Result<SecureBuffer> NewKeySeed();
// The PKCS#8 PEM of the key with this seed (what gRPC's credentials take).
Result<SecureBuffer> PrivateKeyPem(std::span<const uint8_t> seed);
// The raw 32-byte Ed25519 public key of a seed.
Result<std::string> PublicKeyOfSeed(std::span<const uint8_t> seed);

// A PKCS#10 request with subject CN=`common_name`, signed by the seed's key.
Result<std::string> MakeCsr(std::span<const uint8_t> seed, const std::string& common_name);

struct CsrInfo {
  std::string common_name;
  std::string public_key;  // raw Ed25519, 32 bytes
};
// Parses a request and checks its self-signature. Errors (InvalidArgument): not a PEM request,
// larger than kMaxPemBytes, not Ed25519, bad signature.
Result<CsrInfo> ParseCsr(const std::string& pem);

enum class CertUse { kServer, kClient };
struct CertInfo {
  std::string common_name;
  std::string public_key;  // raw Ed25519, 32 bytes
  int64_t not_after_unix = 0;
};
// Checks that `cert_pem` is a leaf (not a CA) issued directly by `ca_pem`, valid now and for
// `use` (extended key usage). Errors: Unauthenticated with OpenSSL's reason ("unable to get
// local issuer certificate" for a foreign CA, "certificate has expired", ...); InvalidArgument
// for PEM that does not parse.
Result<CertInfo> CheckCert(const std::string& cert_pem, const std::string& ca_pem, CertUse use);

}  // namespace privedge::net
