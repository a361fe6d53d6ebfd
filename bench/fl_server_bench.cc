// Federated server throughput (bench/RESULTS.md, "Federated server throughput"):
//   coordinator  device check-in + update round trips per second through fl::Coordinator
//                (FedAvg, in-memory store): the server's cost per simulated device
//   aggregate    updates/s and MB/s for a large model (default 1M parameters) through the
//                coordinator + FedAvg, in-memory store and SQLite store
//   grpc         the same updates through FederatedServer over loopback gRPC: CheckIn +
//                SubmitUpdate per device, mutual TLS 1.3 and plaintext side by side
// Every figure is the median of --repeats runs.
//
//   build/fl_server_bench [--params N] [--devices K] [--rounds R] [--repeats N]
#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "fl/coordinator.h"
#include "fl/round_store.h"
#include "net/server.h"
#include "net/tls.h"
#include "privedge/v1/federated.grpc.pb.h"
#include "store/sqlite_round_store.h"

namespace pe = privedge;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

template <typename T>
T Check(pe::Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "fl_server_bench: %s: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

void Check(const pe::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "fl_server_bench: %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

std::string DeviceName(int64_t d) {
  std::string name = "d";
  name += std::to_string(d);
  return name;
}

pe::fl::TaskConfig Task(int64_t params, int64_t devices, int64_t rounds) {
  pe::fl::TaskConfig t;
  t.task_id = "bench";
  t.num_params = params;
  t.rounds = rounds;
  t.clients_per_round = devices;
  t.min_clients = devices;
  t.over_selection = 1.0;
  t.round_deadline_ms = 3600000;
  t.strategy.name = "fedavg";
  return t;
}

std::vector<float> Delta(int64_t n, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(-0.01f, 0.01f);
  std::vector<float> d(static_cast<size_t>(n));
  for (float& x : d) x = u(rng);
  return d;
}

// Rounds of `devices` check-ins and updates straight through the coordinator; returns the
// seconds spent (aggregation included: the last update of a round closes it).
double CoordinatorRun(pe::fl::RoundStore& store, int64_t params, int64_t devices, int64_t rounds,
                      const std::vector<float>& delta) {
  int64_t now = 1000;
  auto coord = Check(pe::fl::Coordinator::Create(Task(params, devices, rounds),
                                                 std::vector<float>(params, 0.0f), store, now),
                     "create");
  for (int64_t d = 0; d < devices; ++d) Check(coord->EnrollDevice(DeviceName(d)), "enroll");
  uint64_t nonce = 1;
  const auto start = Clock::now();
  for (int64_t r = 0; r < rounds; ++r) {
    for (int64_t d = 0; d < devices; ++d) {
      auto a = Check(coord->CheckIn(DeviceName(d), ++now), "check-in");
      if (!a.assigned) std::exit((std::fprintf(stderr, "not assigned: %s\n", a.reason.c_str()), 1));
      pe::fl::UpdateMessage u{a.assignment.task_id,
                              a.assignment.round,
                              a.assignment.device_id,
                              a.assignment.base_version,
                              nonce++,
                              delta,
                              100,
                              0.5};
      auto s = Check(coord->Submit(u, ++now), "submit");
      if (!s.accepted) std::exit((std::fprintf(stderr, "rejected: %s\n", s.detail.c_str()), 1));
    }
  }
  const double secs = Seconds(start);
  if (coord->phase() != pe::fl::TaskPhase::kFinished) std::exit(1);
  return secs;
}

struct Device {
  std::string id;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pe::v1::Federated::Stub> stub;
};

std::shared_ptr<grpc::Channel> ChannelFor(int port, const std::string& ca, const std::string& key,
                                          const std::string& cert) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca;
    ssl.pem_private_key = key;
    ssl.pem_cert_chain = cert;
    creds = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), creds, args);
}

// A FederatedServer (SQLite store) and `devices` enrolled devices, each on its own channel;
// returns the seconds the rounds of CheckIn + SubmitUpdate took.
double GrpcRun(bool tls, int64_t params, int64_t devices, int64_t rounds,
               const std::vector<float>& delta) {
  char tmpl[] = "/tmp/fl-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  pe::net::ServerOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.state_dir = dir;
  opts.insecure = !tls;
  opts.timer_period_ms = 1000;
  auto server =
      Check(pe::net::FederatedServer::Start(Task(params, devices, rounds), opts), "start");
  const std::string ca = tls ? [&] {
    FILE* f = std::fopen((dir + "/tls/ca.crt").c_str(), "r");
    std::string s(16384, '\0');
    s.resize(std::fread(s.data(), 1, s.size(), f));
    std::fclose(f);
    return s;
  }() : std::string();
  auto anonymous = pe::v1::Federated::NewStub(ChannelFor(server->port(), ca, "", ""));
  std::vector<Device> fleet;
  for (int64_t d = 0; d < devices; ++d) {
    Device dev{DeviceName(d), nullptr, nullptr};
    pe::SecureBuffer seed = Check(pe::net::NewKeySeed(), "key");
    pe::v1::EnrollRequest req;
    req.set_protocol_version(1);
    req.set_token(Check(pe::net::IssueEnrollmentToken(dir), "token"));
    req.set_device_id(dev.id);
    if (tls) req.set_csr_pem(Check(pe::net::MakeCsr(seed.span(), dev.id), "csr"));
    pe::v1::EnrollResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = anonymous->Enroll(&ctx, req, &resp);
    if (!s.ok()) std::exit((std::fprintf(stderr, "enroll: %s\n", s.error_message().c_str()), 1));
    pe::SecureBuffer key = Check(pe::net::PrivateKeyPem(seed.span()), "key pem");
    dev.channel = ChannelFor(
        server->port(), ca, tls ? std::string(reinterpret_cast<char*>(key.data()), key.size()) : "",
        resp.device_cert_pem());
    dev.stub = pe::v1::Federated::NewStub(dev.channel);
    fleet.push_back(std::move(dev));
  }
  // Connected (TLS handshakes done) before the clock starts: they are not the update path.
  for (Device& dev : fleet)
    if (!dev.channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)))
      std::exit((std::fprintf(stderr, "cannot connect\n"), 1));
  uint64_t nonce = 1;
  pe::v1::UpdateRequest u;
  u.set_protocol_version(1);
  u.mutable_delta()->Add(delta.begin(), delta.end());
  u.set_num_examples(100);
  u.set_train_loss(0.5);
  const auto start = Clock::now();
  for (int64_t r = 0; r < rounds; ++r) {
    for (Device& dev : fleet) {
      pe::v1::CheckInRequest req;
      req.set_protocol_version(1);
      req.set_device_id(dev.id);
      pe::v1::CheckInResponse a;
      grpc::ClientContext ctx;
      grpc::Status s = dev.stub->CheckIn(&ctx, req, &a);
      if (!s.ok() || !a.assigned())
        std::exit((std::fprintf(stderr, "check-in: %s %s\n", s.error_message().c_str(),
                                a.reason().c_str()),
                   1));
      u.set_task_id(a.task_id());
      u.set_round(a.round());
      u.set_device_id(dev.id);
      u.set_base_version(a.base_version());
      u.set_nonce(nonce++);
      pe::v1::UpdateResponse ur;
      grpc::ClientContext uctx;
      s = dev.stub->SubmitUpdate(&uctx, u, &ur);
      if (!s.ok() || !ur.accepted())
        std::exit((
            std::fprintf(stderr, "submit: %s %s\n", s.error_message().c_str(), ur.detail().c_str()),
            1));
    }
  }
  const double secs = Seconds(start);
  fleet.clear();
  server->Shutdown();
  std::filesystem::remove_all(dir);
  return secs;
}

int64_t IntArg(int argc, char** argv, const char* name, int64_t def) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atoll(argv[i + 1]);
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);  // as in src/cli/main.cc
  const int64_t params = IntArg(argc, argv, "--params", 1000000);
  const int64_t devices = IntArg(argc, argv, "--devices", 10);
  const int64_t rounds = IntArg(argc, argv, "--rounds", 3);
  const int64_t repeats = IntArg(argc, argv, "--repeats", 5);
  if (params < 1 || devices < 1 || rounds < 1 || repeats < 1) {
    std::fprintf(stderr,
                 "usage: fl_server_bench [--params N] [--devices K] [--rounds R] "
                 "[--repeats N] (all >= 1)\n");
    return 1;
  }
  std::printf(
      "fl_server_bench: %lld params (%.1f MB per update), %lld devices x %lld rounds, "
      "median of %lld runs\n",
      static_cast<long long>(params), params * 4 / 1e6, static_cast<long long>(devices),
      static_cast<long long>(rounds), static_cast<long long>(repeats));
  std::printf("%-40s %12s %10s\n", "path", "updates/s", "MB/s");
  const double updates = static_cast<double>(devices * rounds);
  const double mb = updates * params * 4 / 1e6;
  auto report = [&](const char* name, std::vector<double> secs, double n, double bytes) {
    const double m = Median(secs);
    std::printf("%-40s %12.1f %10.1f\n", name, n / m, bytes / m);
    std::fflush(stdout);
  };

  // The coordinator's cost per simulated device: a small model (the linear Fashion-MNIST
  // model, 7850 parameters), 1000 devices per round.
  {
    const int64_t small = 7850, fleet = 1000, small_rounds = 3;
    const std::vector<float> delta = Delta(small, 1);
    std::vector<double> secs;
    for (int64_t i = 0; i < repeats; ++i) {
      pe::fl::MemoryRoundStore store;
      secs.push_back(CoordinatorRun(store, small, fleet, small_rounds, delta));
    }
    report("coordinator, 7850 params, 1000 devices", secs, double(fleet * small_rounds),
           fleet * small_rounds * small * 4 / 1e6);
  }
  const std::vector<float> delta = Delta(params, 2);
  std::vector<double> mem, sql, tls, plain;
  for (int64_t i = 0; i < repeats; ++i) {
    pe::fl::MemoryRoundStore store;
    mem.push_back(CoordinatorRun(store, params, devices, rounds, delta));
    char tmpl[] = "/tmp/fl-bench-XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    {
      auto db = Check(pe::store::SqliteRoundStore::Open(dir + "/server.db"), "sqlite");
      sql.push_back(CoordinatorRun(*db, params, devices, rounds, delta));
    }
    std::filesystem::remove_all(dir);
    tls.push_back(GrpcRun(true, params, devices, rounds, delta));
    plain.push_back(GrpcRun(false, params, devices, rounds, delta));
  }
  report("coordinator+FedAvg, memory store", mem, updates, mb);
  report("coordinator+FedAvg, SQLite store", sql, updates, mb);
  report("gRPC SubmitUpdate, mTLS 1.3 (SQLite)", tls, updates, mb);
  report("gRPC SubmitUpdate, plaintext (SQLite)", plain, updates, mb);
  return 0;
}
