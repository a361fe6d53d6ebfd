// FederatedServer: the fl coordinator and its SQLite store behind the gRPC service
// (proto/privedge/v1/federated.proto).
//
//   net::ServerOptions opts;
//   opts.listen = "127.0.0.1:0";
//   opts.state_dir = "/var/lib/privedge";   // server.db, tokens, the CA, the signing key
//   opts.tls_names = {"fl.example.org"};    // names in the server certificate
//   PE_ASSIGN_OR_RETURN(auto server, net::FederatedServer::Start(task, opts));
//   server->WaitUntilDone();                // the task finished or failed
//
// Start resumes the task from the state directory when it is there (a killed server continues
// its round with every acknowledged update) and creates it with a zero model otherwise. A timer
// thread feeds the coordinator its time events; RPCs and the timer share one lock, so the
// coordinator (which is single-threaded) sees one event at a time. Times are wall-clock
// milliseconds, so deadlines survive a restart.
//
// Devices enroll with a one-time token (IssueEnrollmentToken, `privedge server enroll-token`):
// the token's SHA-256 is a file under <state>/tokens/, consumed (unlinked) by the first Enroll
// that presents it.
//
// Transport security (the default; `insecure` gives plaintext gRPC, only by explicit choice):
// mutual TLS 1.3 on one port. The server runs a small CA (net/ca.h, files in <state>/tls/) and
// presents a certificate it issues itself at every start. TLS 1.2 and below are refused for the
// whole process (net/tls.h explains why and how: gRPC 1.51 has no minimum-version setting).
// One port, not two: the TLS layer asks every client for a certificate but does not require one
// (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY), and each RPC checks the peer itself:
//   - Enroll needs no certificate. The device sends a CSR with the token; the server checks
//     the CSR's signature and CN (= device id), refuses an id that already has a certificate,
//     consumes the token, and returns a device certificate (valid device_cert_days), the CA
//     certificate and the model-signing public key.
//   - Every other RPC needs the peer certificate presented in the handshake (whose private key
//     the TLS handshake proved the peer holds) to verify against the CA (OpenSSL
//     X509_verify_cert: issuer, validity, clientAuth usage); the device id is its CN, and a
//     request naming another device is refused (PermissionDenied). No certificate, or one from
//     another CA: Unauthenticated.
// Checking in the RPC rather than in the handshake gives the device an error it can act on and
// lets every refusal be counted: Counters() adds "auth_refused.no_client_cert",
// "auth_refused.untrusted_cert", "auth_refused.device_mismatch", "enroll.accepted" and
// "enroll_refused.{token,csr,already_enrolled}" (since this start) to the coordinator's counters.
//
// Every model version handed out is signed (net/model_signature.h) with the Ed25519 key in
// <state>/model_signing.key (created on first start); the signature travels in
// CheckInResponse.model_signature and ModelChunk.model_signature.
// With the task's secure_aggregation on, devices must enroll with an Ed25519 signing key
// (kept under <state>/device_keys/) and the SecureAggregation service (secagg_service.h) runs
// the rounds' SecAgg stages; a restart abandons the attempt whose session was under way.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crypto/signing.h"
#include "fl/coordinator.h"
#include "net/ca.h"
#include "privedge/federated.h"
#include "privedge/status.h"

namespace grpc {
class Server;
}

namespace privedge::net {

class DeviceKeyRegistry;
class SecAggService;

struct ServerOptions {
  std::string listen = "127.0.0.1:7443";
  std::string state_dir;  // required: holds server.db, tokens/, tls/, model_signing.key
  bool insecure = false;  // plaintext gRPC instead of mutual TLS 1.3
  std::vector<std::string> tls_names;  // server certificate SANs besides 127.0.0.1, localhost
  int64_t device_cert_days = 30;
  int64_t server_cert_days = 365;
  int64_t timer_period_ms = 100;
  int64_t max_message_bytes = 64 << 20;  // largest request accepted (an update's delta)
  int64_t model_chunk_floats = 256 * 1024;
};

// Creates one enrollment token for the server whose state is in `state_dir` (creating the
// directory if needed) and returns it (64 hex digits). Works while the server runs.
Result<std::string> IssueEnrollmentToken(const std::string& state_dir);

class FederatedServer {
 public:
  static Result<std::unique_ptr<FederatedServer>> Start(const fl::TaskConfig& task,
                                                        const ServerOptions& options);
  ~FederatedServer();

  // The port actually bound (useful with port 0).
  int port() const { return port_; }
  // Blocks until the task finished or failed; then the server keeps answering until Shutdown.
  void WaitUntilDone();
  bool WaitUntilDoneFor(int64_t timeout_ms);
  void Shutdown();

  // Snapshots under the lock.
  std::map<std::string, int64_t> Counters();
  std::vector<fl::RoundMetrics> Metrics();
  fl::TaskPhase Phase();

 private:
  class Service;
  FederatedServer() = default;
  void TimerLoop(int64_t period_ms);
  void NotifyIfDone();  // with mu_ held

  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::string state_dir_;
  std::unique_ptr<fl::RoundStore> store_;
  std::unique_ptr<fl::Coordinator> coord_;
  std::unique_ptr<CertificateAuthority> ca_;  // null when insecure
  std::unique_ptr<SigningKey> model_key_;
  std::map<std::string, int64_t> transport_counters_;  // under mu_
  std::unique_ptr<Service> service_;
  std::unique_ptr<DeviceKeyRegistry> device_keys_;
  std::unique_ptr<SecAggService> secagg_service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread timer_;
  std::atomic<bool> stop_{false};
  int port_ = 0;
  ServerOptions options_;

  friend class Service;
};

// Wall-clock milliseconds: the coordinator's clock in the server.
int64_t NowMs();

}  // namespace privedge::net
