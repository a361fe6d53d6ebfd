// FederatedClient: a device taking part in a federated task over gRPC. It drives the sans-I/O
// fl::DeviceRunner (which owns training, nonces and the retry backoff) and moves its messages
// over the wire; the trainer is injected (any fl::LocalTrainer).
//
//   net::ClientOptions opts;
//   opts.server = "127.0.0.1:7443";
//   opts.device_id = "phone-17";
//   opts.ca_cert_pem = <the server's ca.crt, given out of band with the token>;
//   opts.identity_dir = "/data/privedge/fl";    // net/device_identity.h
//   opts.keystore = keystore.get();              // seals the device's TLS key
//   net::FederatedClient client(opts, trainer);
//   PE_RETURN_IF_ERROR(client.Enroll(token));   // once, with a token from the server's admin
//   PE_ASSIGN_OR_RETURN(net::ClientReport report, client.Run());
//
// TLS (the default; `insecure` gives plaintext gRPC): Enroll makes a fresh Ed25519 key, sends
// a CSR over a TLS 1.3 channel that authenticates the server against the pinned CA only, checks
// the certificate it gets back (issued by the pinned CA, for this device id and key) and saves
// the identity, the key sealed by the Keystore. Run loads the identity (enrolling is needed
// once per identity directory) and makes every RPC over mutual TLS 1.3 with it.
//
// Models: the client refuses a model whose signature (CheckInResponse.model_signature) does
// not verify with the pinned model-signing key (from the identity, or options.model_key), and
// model chunks that do not repeat that signature and digest; it counts the refusal, logs it and
// checks in again after a poll interval. Insecure clients without options.model_key do not
// check signatures.
//
// Run loops until the server says the task is over (finished or failed), the server refuses the
// device as unknown (an error), or options.max_run_ms passes. An unreachable server is retried
// with the runner's backoff. Rejections of this device's updates come back with their reason
// and land in the report's log.
//
// When the task runs secure aggregation, an assigned device joins the round's SecAgg session
// (secagg_client.h) instead of sending its update; that needs options.signing_key.
//
// Thread-safety: one FederatedClient per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/signing.h"
#include "fl/device_runner.h"
#include "privedge/keystore.h"
#include "privedge/federated.h"
#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge::net {

struct ClientOptions {
  std::string server;
  std::string device_id;
  bool insecure = false;        // plaintext gRPC instead of mutual TLS 1.3
  // TLS: the CA certificate to pin at enrollment (PEM), where the identity lives, and the
  // keystore that seals its key. After enrollment only identity_dir and keystore are needed.
  std::string ca_cert_pem;
  std::string identity_dir;
  Keystore* keystore = nullptr;  // not owned; outlives the client
  std::string tls_server_name;  // name checked in the server certificate (default: the host)
  std::optional<PublicKey> model_key;  // pinned model-signing key (TLS: from the identity)
  int64_t rpc_timeout_ms = 10000;
  int64_t max_poll_ms = 1000;   // cap on the wait between check-ins the server asks for
  int64_t max_run_ms = 0;       // 0: no limit
  int64_t max_model_params = 64 << 20;  // refuse larger models
  fl::DevicePolicy policy;
  fl::DeviceConditions conditions;
  fl::BackoffConfig backoff;
  uint64_t seed = 0;  // 0: fresh random bits (nonces must not repeat across runs)
  // The device identity for secure aggregation: an Ed25519 secret key (libsodium's 64 bytes).
  // Enroll sends its public half; the device signs its SecAgg keys with it (secagg_client.h).
  // Over TLS this is always the identity's own key (the certificate's), set by the client.
  std::shared_ptr<const SecureBuffer> signing_key;
};

struct ClientReport {
  int64_t updates_accepted = 0;
  int64_t models_refused = 0;  // bad or missing model signatures
  bool task_done = false;
  std::vector<std::string> log;  // the runner's notable events
};

class FederatedClient {
 public:
  FederatedClient(ClientOptions options, fl::LocalTrainer& trainer);
  ~FederatedClient();

  // Presents a one-time enrollment token; PermissionDenied when the server refuses it.
  Status Enroll(const std::string& token);
  Result<ClientReport> Run();
  // The device id (with TLS, from the identity once Run has loaded it).
  const std::string& device_id() const { return options_.device_id; }

 private:
  struct Wire;
  Status Connect(bool with_identity);
  Status FetchModel(const std::string& task_id, int64_t version, int64_t num_params,
                    const std::string& digest, const std::string& signature,
                    std::vector<float>& out);
  ClientOptions options_;
  fl::LocalTrainer& trainer_;
  std::unique_ptr<Wire> wire_;
};

}  // namespace privedge::net
