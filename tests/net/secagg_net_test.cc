// Secure aggregation over gRPC on loopback: real server, real client threads exchanging the
// SecAgg stage messages (secagg.proto); enrollment with signing keys; a device signing with a
// key other than the one it enrolled is shut out of the session while the round completes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sodium.h>

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

std::shared_ptr<const SecureBuffer> NewIdentity() {
  EXPECT_GE(sodium_init(), 0);
  auto sk = SecureBuffer::Allocate(crypto_sign_SECRETKEYBYTES);
  EXPECT_TRUE(sk.ok());
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, sk->data());
  return std::make_shared<const SecureBuffer>(std::move(*sk));
}

class SecAggNetTest : public ::testing::Test {
 protected:
  void StartServer(int64_t rounds, int64_t per_round) {
    data_ = TinyData(200);
    task_.task_id = "secnet";
    task_.num_params = fl::sim::LinearModelParams(data_);
    task_.rounds = rounds;
    task_.clients_per_round = per_round;
    task_.min_clients = 3;
    task_.over_selection = 1.0;
    task_.round_deadline_ms = 20000;
    task_.training.batch_size = 4;
    task_.secure_aggregation.mode = "secaggplus";
    task_.secure_aggregation.stage_timeout_ms = 1500;
    ServerOptions opts;
    opts.listen = "127.0.0.1:0";
    opts.state_dir = dir_.path();
    opts.insecure = true;
    opts.timer_period_ms = 20;
    auto server = FederatedServer::Start(task_, opts);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  // Enrolls with `enrolled` and signs with `signing` (the same key for an honest device).
  std::thread Client(int c, std::shared_ptr<const SecureBuffer> enrolled,
                     std::shared_ptr<const SecureBuffer> signing, Result<ClientReport>& report) {
    Result<std::string> token = IssueEnrollmentToken(dir_.path());
    EXPECT_TRUE(token.ok());
    return std::thread([this, c, enrolled, signing, &report, token = *token] {
      std::vector<int64_t> idx;
      for (int64_t i = c * 40; i < (c + 1) * 40; ++i) idx.push_back(i);
      fl::sim::LinearModelTrainer trainer(data_, idx, 100 + c);
      ClientOptions co;
      co.server = "127.0.0.1:" + std::to_string(server_->port());
      co.device_id = "dev-" + std::to_string(c);
      co.insecure = true;
      co.max_poll_ms = 50;
      co.max_run_ms = 30000;
      co.signing_key = enrolled;
      FederatedClient enrolling(co, trainer);
      Status st = enrolling.Enroll(token);
      if (!st.ok()) {
        report = st;
        return;
      }
      co.signing_key = signing;
      report = FederatedClient(co, trainer).Run();
    });
  }

  TempDir dir_;
  fl::sim::Dataset data_;
  fl::TaskConfig task_;
  std::unique_ptr<FederatedServer> server_;
};

TEST_F(SecAggNetTest, RoundsCompleteOverLoopbackAndTheStoreHoldsNoUpdate) {
  StartServer(2, 4);
  constexpr int kClients = 4;
  std::vector<Result<ClientReport>> reports(kClients, Internal("not run"));
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    auto id = NewIdentity();
    threads.push_back(Client(c, id, id, reports[c]));
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(server_->Phase(), fl::TaskPhase::kFinished);
  for (int c = 0; c < kClients; ++c) {
    ASSERT_TRUE(reports[c].ok()) << reports[c].status().ToString();
    EXPECT_EQ(reports[c]->updates_accepted, 2) << "device " << c;
  }
  const auto metrics = server_->Metrics();
  ASSERT_EQ(metrics.size(), 2u);
  for (const auto& m : metrics) EXPECT_EQ(m.participants, 4);
  auto counters = server_->Counters();
  EXPECT_EQ(counters["secagg.completed"], 2);
  EXPECT_EQ(counters["accepted"], 0);
  server_.reset();

  auto store = store::SqliteRoundStore::Open(dir_.path() + "/server.db");
  ASSERT_TRUE(store.ok());
  auto snap = (*store)->LoadTask("secnet");
  ASSERT_TRUE(snap.ok() && snap->has_value());
  EXPECT_TRUE((*snap)->updates.empty());
  EXPECT_EQ((*snap)->model.version, 2);
  double norm = 0;
  for (float v : (*snap)->model.params) norm += double{v} * v;
  EXPECT_GT(norm, 0);  // the devices' updates moved the model
}

TEST_F(SecAggNetTest, EnrollmentNeedsAKeyAndAForgedSignatureIsShutOut) {
  StartServer(1, 4);
  // Without a signing key: refused, and the token stays usable.
  Result<std::string> token = IssueEnrollmentToken(dir_.path());
  ASSERT_TRUE(token.ok());
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Federated::NewStub(channel);
  v1::EnrollRequest req;
  req.set_protocol_version(1);
  req.set_token(*token);
  req.set_device_id("keyless");
  v1::EnrollResponse resp;
  grpc::ClientContext ctx;
  grpc::Status s = stub->Enroll(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("signing_public_key"), std::string::npos) << s.error_message();
  req.set_signing_public_key(std::string(32, '\x07'));
  grpc::ClientContext ctx2;
  EXPECT_TRUE(stub->Enroll(&ctx2, req, &resp).ok());

  // Device 3 signs with a key it never enrolled: the server refuses its advertisement and the
  // other three finish the round (4 devices: complete graph, threshold 2).
  std::vector<Result<ClientReport>> reports(4, Internal("not run"));
  std::vector<std::thread> threads;
  for (int c = 0; c < 4; ++c) {
    auto id = NewIdentity();
    threads.push_back(Client(c, id, c == 3 ? NewIdentity() : id, reports[c]));
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(server_->Phase(), fl::TaskPhase::kFinished);
  const auto metrics = server_->Metrics();
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(metrics[0].participants, 3);
  ASSERT_TRUE(reports[3].ok()) << reports[3].status().ToString();
  EXPECT_EQ(reports[3]->updates_accepted, 0);
  bool logged = false;
  for (const std::string& line : reports[3]->log)
    logged = logged || line.find("secure aggregation did not complete") != std::string::npos;
  EXPECT_TRUE(logged);
  EXPECT_GE(server_->Counters()["secagg.messages_refused"], 1);
}

}  // namespace
}  // namespace privedge::net
