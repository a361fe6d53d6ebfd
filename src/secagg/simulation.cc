#include "secagg/simulation.h"

#include <sodium.h>
#include <time.h>

#include <deque>

namespace privedge::secagg {

namespace {

// CPU time of the calling thread: the machine may be shared, and wall time would count other
// processes' work as ours.
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
};

double Since(double start) { return Clock::now() - start; }

class Round {
 public:
  Round(const SimulationOptions& o, std::unique_ptr<SecAggServer> server,
        std::vector<std::unique_ptr<SecAggClient>> clients)
      : o_(o), server_(std::move(server)), clients_(std::move(clients)) {
    const size_t n = clients_.size();
    report_.client_aborts.resize(n);
    report_.client_seconds.assign(n, 0);
    report_.client_bytes_sent.assign(n, 0);
    report_.client_bytes_received.assign(n, 0);
  }

  Result<SimulationReport> Run() {
    for (uint32_t u = 0; u < clients_.size(); ++u) {
      if (Drops(u, 0)) continue;
      const auto start = Clock::now();
      auto hello = clients_[u]->Start();
      report_.client_seconds[u] += Since(start);
      if (!hello.ok()) return hello.status();
      SendToServer(u, std::move(*hello));
    }
    for (int stage = 0; stage < 4 && Running(); ++stage) {
      // Whatever the last answers did not close, the deadline does.
      if (static_cast<int>(server_->state()) == stage) {
        const auto start = Clock::now();
        auto out = server_->OnTimeout(static_cast<Stage>(stage));
        report_.server_seconds += Since(start);
        Queue(std::move(out));
      }
      DeliverToClients(stage + 1);
    }
    DeliverToClients(4);  // abort notices
    report_.completed = server_->state() == SecAggServer::State::kDone;
    if (server_->state() == SecAggServer::State::kAborted) {
      report_.server_abort = server_->abort_reason();
    }
    if (report_.completed) {
      report_.sum = server_->sum();
      report_.contributors = server_->contributors();
    }
    for (uint32_t u = 0; u < clients_.size(); ++u) {
      report_.client_aborts[u] = clients_[u]->abort_reason();
    }
    return std::move(report_);
  }

 private:
  bool Running() const {
    const auto s = server_->state();
    return s != SecAggServer::State::kDone && s != SecAggServer::State::kAborted;
  }
  bool Drops(uint32_t u, int stage) const {
    return !o_.drop_at.empty() && o_.drop_at[u] != kNeverDrops && o_.drop_at[u] <= stage;
  }

  void Queue(std::vector<Message> out) {
    for (Message& m : out) {
      if (o_.server_to_client) o_.server_to_client(m);
      const auto start = Clock::now();
      pending_.push_back(Serialize(m));
      report_.server_seconds += Since(start);
    }
  }

  void SendToServer(uint32_t u, Message m) {
    if (o_.client_to_server) o_.client_to_server(m);
    auto start = Clock::now();
    std::vector<uint8_t> bytes = Serialize(m);
    report_.client_seconds[u] += Since(start);
    report_.client_bytes_sent[u] += bytes.size();
    start = Clock::now();
    auto parsed = Parse(bytes);
    if (parsed.ok()) {
      auto out = server_->Handle(*parsed);
      report_.server_seconds += Since(start);
      if (out.ok()) Queue(std::move(*out));
    } else {
      report_.server_seconds += Since(start);
    }
  }

  // Delivers the queued server messages; clients answer unless they drop at `next_stage`.
  void DeliverToClients(int next_stage) {
    std::deque<std::vector<uint8_t>> batch;
    batch.swap(pending_);
    for (std::vector<uint8_t>& bytes : batch) {
      auto start = Clock::now();
      auto parsed = Parse(bytes);
      double seconds = Since(start);
      if (!parsed.ok()) continue;
      const uint32_t u = Endpoint(*parsed);
      if (u >= clients_.size()) continue;
      report_.client_bytes_received[u] += bytes.size();
      std::vector<uint8_t>().swap(bytes);
      const bool is_abort = std::holds_alternative<AbortNotice>(*parsed);
      if (Drops(u, next_stage) && !is_abort) continue;
      if (std::holds_alternative<ForwardedShares>(*parsed) && o_.input) {
        std::vector<uint64_t> input = o_.input(u);  // making the input is not client work
        start = Clock::now();
        Status set = clients_[u]->SetInput(std::move(input));
        seconds += Since(start);
        if (!set.ok()) continue;
      }
      start = Clock::now();
      auto replies = clients_[u]->Handle(*parsed);
      report_.client_seconds[u] += seconds + Since(start);
      if (!replies.ok()) continue;
      for (Message& reply : *replies) SendToServer(u, std::move(reply));
    }
  }

  const SimulationOptions& o_;
  std::unique_ptr<SecAggServer> server_;
  std::vector<std::unique_ptr<SecAggClient>> clients_;
  std::deque<std::vector<uint8_t>> pending_;
  SimulationReport report_;
};

}  // namespace

Result<std::vector<SimulatedDevice>> EnrollSimulatedDevices(uint32_t n,
                                                            InMemoryDeviceRegistry& registry) {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  std::vector<SimulatedDevice> devices;
  for (uint32_t u = 0; u < n; ++u) {
    PE_ASSIGN_OR_RETURN(SecureBuffer sk, SecureBuffer::Allocate(crypto_sign_SECRETKEYBYTES));
    PublicKey pk{};
    crypto_sign_keypair(pk.data(), sk.data());
    SimulatedDevice d;
    d.device_id = "device-" + std::to_string(u);
    d.signer = Ed25519Signer(std::make_shared<const SecureBuffer>(std::move(sk)));
    registry.Enroll(d.device_id, pk);
    devices.push_back(std::move(d));
  }
  return devices;
}

Result<SimulationReport> SimulateRound(const SimulationOptions& o) {
  PE_RETURN_IF_ERROR(ValidateConfig(o.config));
  const uint32_t n = o.config.num_clients;
  if (!o.drop_at.empty() && o.drop_at.size() != n) {
    return InvalidArgument("drop_at: expected ", n, " entries, got ", o.drop_at.size());
  }
  InMemoryDeviceRegistry registry;
  PE_ASSIGN_OR_RETURN(auto devices, EnrollSimulatedDevices(n, registry));
  PE_ASSIGN_OR_RETURN(auto server, SecAggServer::Create(o.config, &registry));
  std::vector<std::unique_ptr<SecAggClient>> clients;
  for (uint32_t u = 0; u < n; ++u) {
    PE_ASSIGN_OR_RETURN(auto c, SecAggClient::Create(o.config, u, devices[u].device_id,
                                                     devices[u].signer, &registry));
    clients.push_back(std::move(c));
  }
  Round round(o, std::move(server), std::move(clients));
  return round.Run();
}

}  // namespace privedge::secagg
