// The gRPC transport over loopback: real server, real clients (threads, and a server child
// process that is SIGKILLed and restarted).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <random>
#include <thread>

#include "fl/sim/linear_model.h"
#include "net/client.h"
#include "net/server.h"
#include "privedge/v1/federated.grpc.pb.h"
#include "store/sqlite_round_store.h"
#include "testing/temp_dir.h"
#include "testing/tiny_fl_data.h"

namespace privedge::net {
namespace {

using privedge::testing::TempDir;
using privedge::testing::TinyData;
using privedge::testing::UpdateFor;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

fl::TaskConfig Task(int64_t num_params, int64_t rounds, int64_t per_round, int64_t deadline_ms) {
  fl::TaskConfig t;
  t.task_id = "nettest";
  t.num_params = num_params;
  t.rounds = rounds;
  t.clients_per_round = per_round;
  t.min_clients = per_round;
  t.over_selection = 1.0;
  t.round_deadline_ms = deadline_ms;
  t.training.batch_size = 4;
  return t;
}

std::unique_ptr<v1::Federated::Stub> Stub(int port) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return v1::Federated::NewStub(channel);
}

grpc::Status EnrollRaw(v1::Federated::Stub& stub, const std::string& token, const std::string& id) {
  v1::EnrollRequest req;
  req.set_protocol_version(1);
  req.set_token(token);
  req.set_device_id(id);
  v1::EnrollResponse resp;
  grpc::ClientContext ctx;
  return stub.Enroll(&ctx, req, &resp);
}

v1::CheckInResponse CheckInRaw(v1::Federated::Stub& stub, const std::string& id) {
  v1::CheckInRequest req;
  req.set_protocol_version(1);
  req.set_device_id(id);
  v1::CheckInResponse resp;
  grpc::ClientContext ctx;
  EXPECT_TRUE(stub.CheckIn(&ctx, req, &resp).ok());
  return resp;
}

v1::UpdateResponse SubmitRaw(v1::Federated::Stub& stub, const v1::UpdateRequest& u,
                             grpc::Status* status = nullptr) {
  v1::UpdateResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = stub.SubmitUpdate(&ctx, u, &resp);
  if (status) *status = s;
  else EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

TEST(NetTest, ClientsCompleteRoundsOverLoopback) {
  TempDir dir;
  fl::sim::Dataset data = TinyData(120, 1);
  const int64_t n = fl::sim::LinearModelParams(data);
  ServerOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.state_dir = dir.path();
  opts.insecure = true;
  opts.timer_period_ms = 20;
  opts.model_chunk_floats = 50;  // several chunks per download
  auto server = FederatedServer::Start(Task(n, 3, 3, 10000), opts);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int port = (*server)->port();

  constexpr int kClients = 3;
  std::vector<Result<ClientReport>> reports(kClients, Internal("not run"));
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    Result<std::string> token = IssueEnrollmentToken(dir.path());
    ASSERT_TRUE(token.ok());
    threads.emplace_back([&, c, token = *token] {
      std::vector<int64_t> idx;
      for (int64_t i = c * 40; i < (c + 1) * 40; ++i) idx.push_back(i);
      fl::sim::LinearModelTrainer trainer(data, idx, 100 + c);
      ClientOptions co;
      co.server = "127.0.0.1:" + std::to_string(port);
      co.device_id = "dev-" + std::to_string(c);
      co.insecure = true;
      co.max_poll_ms = 50;
      co.max_run_ms = 30000;
      FederatedClient client(co, trainer);
      Status enrolled = client.Enroll(token);
      if (!enrolled.ok()) {
        reports[c] = enrolled;
        return;
      }
      reports[c] = client.Run();
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ((*server)->Phase(), fl::TaskPhase::kFinished);
  for (int c = 0; c < kClients; ++c) {
    ASSERT_TRUE(reports[c].ok()) << reports[c].status().ToString();
    EXPECT_TRUE(reports[c]->task_done);
    EXPECT_EQ(reports[c]->updates_accepted, 3) << "device " << c;
  }
  const auto metrics = (*server)->Metrics();
  ASSERT_EQ(metrics.size(), 3u);
  for (const auto& m : metrics) EXPECT_EQ(m.participants, 3);
  EXPECT_LT(metrics[2].train_loss, metrics[0].train_loss);
  EXPECT_EQ((*server)->Counters()["accepted"], 9);
}

TEST(NetTest, RejectsUnknownDeviceReplayAndNanWithReasons) {
  TempDir dir;
  ServerOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.state_dir = dir.path();
  opts.insecure = true;
  auto server = FederatedServer::Start(Task(20, 1, 2, 60000), opts);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto stub = Stub((*server)->port());

  // Tokens: one use each; made-up ones are refused.
  Result<std::string> token_a = IssueEnrollmentToken(dir.path());
  Result<std::string> token_b = IssueEnrollmentToken(dir.path());
  ASSERT_TRUE(token_a.ok() && token_b.ok());
  EXPECT_TRUE(EnrollRaw(*stub, *token_a, "dev-a").ok());
  EXPECT_EQ(EnrollRaw(*stub, *token_a, "dev-x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(EnrollRaw(*stub, std::string(64, 'a'), "dev-x").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(EnrollRaw(*stub, *token_b, "dev-b").ok());

  // An unknown device: refused at check-in and at submit, both counted.
  v1::CheckInResponse ghost = CheckInRaw(*stub, "ghost");
  EXPECT_FALSE(ghost.assigned());
  EXPECT_EQ(ghost.reason(), "unknown device");
  v1::CheckInResponse a = CheckInRaw(*stub, "dev-a");
  ASSERT_TRUE(a.assigned()) << a.reason();
  v1::UpdateRequest forged = UpdateFor(a, 99, 0.1f);
  forged.set_device_id("ghost");
  v1::UpdateResponse r = SubmitRaw(*stub, forged);
  EXPECT_FALSE(r.accepted());
  EXPECT_EQ(r.reason(), "unknown_device");

  // A valid update, then the same bytes again: a replay.
  v1::UpdateRequest update = UpdateFor(a, 12345, 0.1f);
  r = SubmitRaw(*stub, update);
  EXPECT_TRUE(r.accepted()) << r.reason() << ": " << r.detail();
  r = SubmitRaw(*stub, update);
  EXPECT_FALSE(r.accepted());
  EXPECT_EQ(r.reason(), "replay");

  // A NaN in the delta.
  v1::CheckInResponse b = CheckInRaw(*stub, "dev-b");
  ASSERT_TRUE(b.assigned()) << b.reason();
  v1::UpdateRequest nan_update = UpdateFor(b, 777, 0.1f);
  nan_update.set_delta(3, std::nanf(""));
  r = SubmitRaw(*stub, nan_update);
  EXPECT_FALSE(r.accepted());
  EXPECT_EQ(r.reason(), "non_finite");
  EXPECT_NE(r.detail(), "");

  // A wrong protocol version is refused before the coordinator sees it.
  v1::UpdateRequest v2 = UpdateFor(b, 778, 0.1f);
  v2.set_protocol_version(2);
  grpc::Status status;
  SubmitRaw(*stub, v2, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  auto counters = (*server)->Counters();
  EXPECT_EQ(counters["checkin_refused.unknown_device"], 1);
  EXPECT_EQ(counters["rejected.unknown_device"], 1);
  EXPECT_EQ(counters["rejected.replay"], 1);
  EXPECT_EQ(counters["rejected.non_finite"], 1);
  EXPECT_EQ(counters["accepted"], 1);

  // The device adapter reports an unknown device as an error instead of polling forever.
  fl::sim::Dataset data = TinyData(8, 2);
  fl::sim::LinearModelTrainer trainer(data, {0, 1, 2, 3}, 1);
  ClientOptions co;
  co.server = "127.0.0.1:" + std::to_string((*server)->port());
  co.device_id = "ghost";
  co.insecure = true;
  co.max_run_ms = 10000;
  Result<ClientReport> ghost_run = FederatedClient(co, trainer).Run();
  ASSERT_FALSE(ghost_run.ok());
  EXPECT_EQ(ghost_run.status().code(), StatusCode::kPermissionDenied);
}

// `privedge server` as a child process, SIGKILLed mid-round and restarted from its state dir.
class ServerProcess {
 public:
  ServerProcess(const std::string& config, const std::string& state, int port,
                const std::string& log) {
    pid_ = fork();
    if (pid_ == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) dup2(fd, 1);
      const std::string bin = std::string(PRIVEDGE_BINARY_DIR) + "/privedge";
      const std::string listen = "127.0.0.1:" + std::to_string(port);
      execl(bin.c_str(), bin.c_str(), "server", "--config", config.c_str(), "--state",
            state.c_str(), "--listen", listen.c_str(), "--insecure", "--linger-ms", "200",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  void Kill() {
    kill(pid_, SIGKILL);
    Wait();
  }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  pid_t pid() const { return pid_; }
  ~ServerProcess() {
    if (pid_ > 0) Kill();
  }

 private:
  pid_t pid_ = -1;
};

TEST(NetTest, KilledServerResumesRoundWithAcceptedUpdates) {
  TempDir dir;
  const std::string state = dir.path() + "/state";
  const std::string config = dir.path() + "/task.conf";
  std::ofstream(config) << fl::SerializeTaskConfig(Task(30, 1, 3, 60000));
  std::vector<std::string> tokens;
  for (int i = 0; i < 3; ++i) tokens.push_back(*IssueEnrollmentToken(state));
  const int port = FreePort();
  const std::string log = dir.path() + "/server.log";

  v1::UpdateRequest update_a;
  {
    ServerProcess server(config, state, port, log);
    auto stub = Stub(port);
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(EnrollRaw(*stub, tokens[i], "dev-" + std::to_string(i)).ok());
    v1::CheckInResponse a = CheckInRaw(*stub, "dev-0");
    v1::CheckInResponse b = CheckInRaw(*stub, "dev-1");
    ASSERT_TRUE(a.assigned() && b.assigned());
    update_a = UpdateFor(a, 1001, 0.3f);
    EXPECT_TRUE(SubmitRaw(*stub, update_a).accepted());
    EXPECT_TRUE(SubmitRaw(*stub, UpdateFor(b, 1002, 0.6f)).accepted());
    server.Kill();  // mid-round: 2 of 3 updates in
  }
  ServerProcess server(config, state, port, log);
  auto stub = Stub(port);
  // The accepted nonce survived: resending dev-0's update is a replay.
  v1::UpdateResponse replay = SubmitRaw(*stub, update_a);
  EXPECT_FALSE(replay.accepted());
  EXPECT_EQ(replay.reason(), "replay");
  v1::CheckInResponse c = CheckInRaw(*stub, "dev-2");
  ASSERT_TRUE(c.assigned()) << c.reason();
  EXPECT_EQ(c.round(), 1);
  EXPECT_TRUE(SubmitRaw(*stub, UpdateFor(c, 1003, 0.9f)).accepted());
  // The third update closes the round and the task; the server exits by itself.
  const int status = server.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  auto store = store::SqliteRoundStore::Open(state + "/server.db");
  ASSERT_TRUE(store.ok());
  auto snap = (*store)->LoadTask("nettest");
  ASSERT_TRUE(snap.ok() && snap->has_value());
  const fl::TaskSnapshot& s = **snap;
  EXPECT_TRUE(s.finished);
  ASSERT_EQ(s.metrics.size(), 1u);
  EXPECT_EQ(s.metrics[0].participants, 3);
  // FedAvg of 0.3, 0.6 and 0.9 (equal weights) from a zero model: every update counted once.
  ASSERT_EQ(s.model.version, 1);
  for (float v : s.model.params) EXPECT_NEAR(v, 0.6f, 1e-6);
}

TEST(NetTest, ServerAndClientCommandsRefuseBadFlagsAndConfig) {
  TempDir dir;
  const std::string bin = std::string(PRIVEDGE_BINARY_DIR) + "/privedge";
  const std::string good = dir.Write("good.conf", fl::SerializeTaskConfig(Task(30, 1, 3, 60000)));
  const std::string bad = dir.Write("bad.conf", "num_params = -4\n");
  auto run = [&](const std::string& args) {
    const int status = std::system((bin + " " + args + " >/dev/null 2>" + dir.path() +
                                    "/err.txt").c_str());
    std::ifstream in(dir.path() + "/err.txt");
    std::string err((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return std::make_pair(WEXITSTATUS(status), err);
  };
  // TLS is the default: plaintext needs --insecure, which excludes the TLS options.
  auto [code, err] = run("server --config " + good + " --state " + dir.path() +
                         "/s --insecure --tls-name fl.example.org");
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("--insecure"), std::string::npos) << err;
  std::tie(code, err) = run("client --server 127.0.0.1:1 --data x --labels y");
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("--identity"), std::string::npos) << err;
  std::tie(code, err) = run("client --server 127.0.0.1:1 --data x --labels y --identity " +
                            dir.path() + "/id --token abc");
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("--ca"), std::string::npos) << err;
  std::tie(code, err) =
      run("server --config " + bad + " --state " + dir.path() + "/s --insecure");
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("num_params"), std::string::npos) << err;
  std::tie(code, err) = run("client --server 127.0.0.1:1 --data x --labels y --insecure");
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("'x'"), std::string::npos) << err;
}

}  // namespace
}  // namespace privedge::net
