// FederatedClient: a device taking part in a federated task over gRPC. It drives the sans-I/O
// fl::DeviceRunner (which owns training, nonces and the retry backoff) and moves its messages
// over the wire; the trainer is injected (any fl::LocalTrainer).
//
//   net::ClientOptions opts;
//   opts.server = "127.0.0.1:7443";
//   opts.device_id = "phone-17";
//   opts.insecure = true;
//   net::FederatedClient client(opts, trainer);
//   PE_RETURN_IF_ERROR(client.Enroll(token));   // once, with a token from the server's admin
//   PE_ASSIGN_OR_RETURN(net::ClientReport report, client.Run());
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
#include <string>
#include <vector>

#include "fl/device_runner.h"
#include "privedge/federated.h"
#include "privedge/secure_buffer.h"
#include "privedge/status.h"

namespace privedge::net {

struct ClientOptions {
  std::string server;
  std::string device_id;
  bool insecure = false;        // must be true: TLS is not implemented in this build
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
  std::shared_ptr<const SecureBuffer> signing_key;
};

struct ClientReport {
  int64_t updates_accepted = 0;
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

 private:
  struct Wire;
  Status FetchModel(const std::string& task_id, int64_t version, int64_t num_params,
                    std::vector<float>& out);
  ClientOptions options_;
  fl::LocalTrainer& trainer_;
  std::unique_ptr<Wire> wire_;
};

}  // namespace privedge::net
