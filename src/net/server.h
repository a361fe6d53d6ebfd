// FederatedServer: the fl coordinator and its SQLite store behind the gRPC service
// (proto/privedge/v1/federated.proto).
//
//   net::ServerOptions opts;
//   opts.listen = "127.0.0.1:0";
//   opts.state_dir = "/var/lib/privedge";   // server.db and the enrollment tokens
//   opts.insecure = true;                   // plaintext gRPC: only by explicit choice
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

#include "fl/coordinator.h"
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
  std::string state_dir;  // required: holds server.db and tokens/
  bool insecure = false;  // must be true: TLS is not implemented in this build
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
