// Mutual TLS 1.3 on the federated service, over loopback with real gRPC: enrollment with a
// CSR and a one-time token, refusal of devices without a certificate, with a certificate from
// another CA or naming another device, the TLS 1.3 floor, and signed model versions.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "fl/sim/linear_model.h"
#include "fl/validation.h"
#include "net/ca.h"
#include "net/client.h"
#include "net/device_identity.h"
#include "net/model_signature.h"
#include "net/server.h"
#include "net/tls.h"
#include "privedge/v1/federated.grpc.pb.h"
#include "testing/memory_keystore.h"
#include "testing/temp_dir.h"
#include "testing/tiny_fl_data.h"

namespace privedge::net {
namespace {

using privedge::testing::MemoryKeystore;
using privedge::testing::TempDir;
using privedge::testing::TinyData;
using privedge::testing::UpdateFor;

fl::TaskConfig Task(int64_t num_params, int64_t rounds, int64_t per_round) {
  fl::TaskConfig t;
  t.task_id = "mtlstest";
  t.num_params = num_params;
  t.rounds = rounds;
  t.clients_per_round = per_round;
  t.min_clients = per_round;
  t.over_selection = 1.0;
  t.round_deadline_ms = 60000;
  t.training.batch_size = 4;
  return t;
}

std::string Addr(int port) { return "127.0.0.1:" + std::to_string(port); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A stub over TLS pinning `ca_pem`; with a key and certificate it presents them.
std::unique_ptr<v1::Federated::Stub> TlsStub(int port, const std::string& ca_pem,
                                             const SecureBuffer* seed = nullptr,
                                             const std::string& cert_pem = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_pem;
  if (seed) {
    SecureBuffer key = PrivateKeyPem(seed->span()).value();
    ssl.pem_private_key.assign(reinterpret_cast<const char*>(key.data()), key.size());
    ssl.pem_cert_chain = cert_pem;
  }
  auto channel = grpc::CreateChannel(Addr(port), grpc::SslCredentials(ssl));
  return v1::Federated::NewStub(channel);
}

struct Enrolled {
  SecureBuffer seed;
  std::string cert_pem;
  std::string model_key;
};

// Enroll as the wire sees it: a CSR for `csr_id` (default: `id`) with `token`.
// `signing_key`: the secure aggregation key to register (raw Ed25519 public key), if any.
grpc::Status EnrollRaw(v1::Federated::Stub& stub, const std::string& token, const std::string& id,
                       Enrolled* out = nullptr, const std::string& csr_id = "",
                       const std::string& signing_key = "") {
  SecureBuffer seed = NewKeySeed().value();
  v1::EnrollRequest req;
  req.set_protocol_version(1);
  req.set_token(token);
  req.set_device_id(id);
  req.set_csr_pem(MakeCsr(seed.span(), csr_id.empty() ? id : csr_id).value());
  if (signing_key == "own") {
    req.set_signing_public_key(PublicKeyOfSeed(seed.span()).value());
  } else if (!signing_key.empty()) {
    req.set_signing_public_key(signing_key);
  }
  v1::EnrollResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status s = stub.Enroll(&ctx, req, &resp);
  if (s.ok() && out) {
    out->seed = std::move(seed);
    out->cert_pem = resp.device_cert_pem();
    out->model_key = resp.model_signing_key();
  }
  return s;
}

grpc::Status CheckIn(v1::Federated::Stub& stub, const std::string& id, v1::CheckInResponse* resp) {
  v1::CheckInRequest req;
  req.set_protocol_version(1);
  req.set_device_id(id);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub.CheckIn(&ctx, req, resp);
}

grpc::Status Submit(v1::Federated::Stub& stub, const v1::UpdateRequest& u,
                    v1::UpdateResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub.SubmitUpdate(&ctx, u, resp);
}

std::unique_ptr<FederatedServer> StartTls(const std::string& state, const fl::TaskConfig& task) {
  ServerOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.state_dir = state;
  opts.timer_period_ms = 20;
  auto server = FederatedServer::Start(task, opts);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(MtlsTest, EnrolledClientsTrainOverMutualTls) {
  TempDir dir;
  fl::sim::Dataset data = TinyData(120, 1);
  auto server = StartTls(dir.path() + "/state", Task(fl::sim::LinearModelParams(data), 2, 3));
  ASSERT_TRUE(server);
  const std::string ca_pem = ReadFile(dir.path() + "/state/tls/ca.crt");
  ASSERT_NE(ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  // The CA and server keys are private to the server's user.
  for (const char* key : {"/state/tls/ca.key", "/state/tls/server.key"})
    EXPECT_EQ(std::filesystem::status(dir.path() + key).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)
        << key;

  constexpr int kClients = 3;
  std::vector<MemoryKeystore> keystores(kClients);
  std::vector<Result<ClientReport>> reports(kClients, Internal("not run"));
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    const std::string token = IssueEnrollmentToken(dir.path() + "/state").value();
    threads.emplace_back([&, c, token] {
      std::vector<int64_t> idx;
      for (int64_t i = c * 40; i < (c + 1) * 40; ++i) idx.push_back(i);
      fl::sim::LinearModelTrainer trainer(data, idx, 100 + c);
      ClientOptions co;
      co.server = Addr(server->port());
      co.device_id = "dev-" + std::to_string(c);
      co.ca_cert_pem = ca_pem;
      co.identity_dir = dir.path() + "/id" + std::to_string(c);
      co.keystore = &keystores[c];
      co.max_poll_ms = 50;
      co.max_run_ms = 30000;
      Status enrolled = FederatedClient(co, trainer).Enroll(token);
      if (!enrolled.ok()) {
        reports[c] = enrolled;
        return;
      }
      // A fresh client: everything it needs comes from the identity directory.
      co.ca_cert_pem.clear();
      co.device_id.clear();
      FederatedClient client(co, trainer);
      reports[c] = client.Run();
      if (client.device_id() != "dev-" + std::to_string(c)) reports[c] = Internal("wrong id");
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(server->Phase(), fl::TaskPhase::kFinished);
  for (int c = 0; c < kClients; ++c) {
    ASSERT_TRUE(reports[c].ok()) << reports[c].status().ToString();
    EXPECT_EQ(reports[c]->updates_accepted, 2) << "device " << c;
    EXPECT_EQ(reports[c]->models_refused, 0);
  }
  auto counters = server->Counters();
  EXPECT_EQ(counters["accepted"], 6);
  EXPECT_EQ(counters["enroll.accepted"], 3);

  // The device key is sealed: the file holds neither the PEM nor the raw seed, and another
  // device's keystore cannot open it.
  const std::string sealed = ReadFile(dir.path() + "/id0/device.key.sealed");
  EXPECT_EQ(sealed.find("PRIVATE KEY"), std::string::npos);
  DeviceIdentity id0 = LoadDeviceIdentity(dir.path() + "/id0", keystores[0]).value();
  EXPECT_EQ(id0.device_id, "dev-0");
  EXPECT_EQ(sealed.find(std::string(reinterpret_cast<const char*>(id0.key_seed.data()), 32)),
            std::string::npos);
  Result<DeviceIdentity> stolen = LoadDeviceIdentity(dir.path() + "/id0", keystores[1]);
  EXPECT_FALSE(stolen.ok());
  // The server kept a record of each certificate it issued.
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/state/tls/devices/dev-2.crt"));
}

TEST(MtlsTest, RefusesUnenrolledForeignSpoofedReplayedAndNan) {
  TempDir dir;
  const std::string state = dir.path() + "/state";
  auto server = StartTls(state, Task(20, 1, 2));
  ASSERT_TRUE(server);
  const int port = server->port();
  const std::string ca_pem = ReadFile(state + "/tls/ca.crt");
  auto anonymous = TlsStub(port, ca_pem);

  // Enrollment: tokens are one use each; the CSR must name the device; one certificate per id.
  const std::string token_a = IssueEnrollmentToken(state).value();
  const std::string token_b = IssueEnrollmentToken(state).value();
  Enrolled a, b;
  ASSERT_TRUE(EnrollRaw(*anonymous, token_a, "dev-a", &a).ok());
  EXPECT_EQ(EnrollRaw(*anonymous, token_a, "dev-x").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(EnrollRaw(*anonymous, token_b, "dev-b", nullptr, "dev-a").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(EnrollRaw(*anonymous, token_b, "dev-a").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(EnrollRaw(*anonymous, token_b, "dev-b", &b).ok());  // token_b was not consumed
  ASSERT_EQ(a.model_key.size(), 32u);

  // No client certificate: every RPC but Enroll is refused.
  v1::CheckInResponse resp;
  EXPECT_EQ(CheckIn(*anonymous, "dev-a", &resp).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A certificate from another CA, even for an enrolled id, is refused.
  CertificateAuthority foreign = CertificateAuthority::LoadOrCreate(dir.path() + "/evil").value();
  SecureBuffer evil_seed = NewKeySeed().value();
  CsrInfo evil_csr = ParseCsr(MakeCsr(evil_seed.span(), "dev-a").value()).value();
  const std::string evil_cert = foreign.IssueDeviceCert(evil_csr, "dev-a", 1).value();
  auto evil = TlsStub(port, ca_pem, &evil_seed, evil_cert);
  grpc::Status evil_status = CheckIn(*evil, "dev-a", &resp);
  EXPECT_EQ(evil_status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(evil_status.error_message().find("issuer"), std::string::npos)
      << evil_status.error_message();

  // dev-a's certificate with dev-b's name in the request: refused at check-in and submit.
  auto stub_a = TlsStub(port, ca_pem, &a.seed, a.cert_pem);
  auto stub_b = TlsStub(port, ca_pem, &b.seed, b.cert_pem);
  EXPECT_EQ(CheckIn(*stub_a, "dev-b", &resp).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::CheckInResponse ra;
  ASSERT_TRUE(CheckIn(*stub_a, "dev-a", &ra).ok());
  ASSERT_TRUE(ra.assigned()) << ra.reason();
  PublicKey pinned;
  std::memcpy(pinned.data(), a.model_key.data(), 32);
  EXPECT_TRUE(
      VerifyModel(pinned, ra.task_id(), ra.base_version(), ra.model_digest(), ra.model_signature())
          .ok());
  v1::UpdateRequest spoofed = UpdateFor(ra, 5, 0.1f);
  spoofed.set_device_id("dev-b");
  v1::UpdateResponse ur;
  grpc::Status spoof_status = Submit(*stub_a, spoofed, &ur);
  EXPECT_EQ(spoof_status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(spoof_status.error_message().find("unknown_device"), std::string::npos);

  // Over mTLS the coordinator's checks still apply: a replay, then a NaN.
  v1::UpdateRequest update = UpdateFor(ra, 12345, 0.1f);
  ASSERT_TRUE(Submit(*stub_a, update, &ur).ok());
  EXPECT_TRUE(ur.accepted()) << ur.reason() << ": " << ur.detail();
  ASSERT_TRUE(Submit(*stub_a, update, &ur).ok());
  EXPECT_FALSE(ur.accepted());
  EXPECT_EQ(ur.reason(), "replay");
  v1::CheckInResponse rb;
  ASSERT_TRUE(CheckIn(*stub_b, "dev-b", &rb).ok());
  ASSERT_TRUE(rb.assigned()) << rb.reason();
  v1::UpdateRequest nan_update = UpdateFor(rb, 777, 0.1f);
  nan_update.set_delta(3, std::nanf(""));
  ASSERT_TRUE(Submit(*stub_b, nan_update, &ur).ok());
  EXPECT_FALSE(ur.accepted());
  EXPECT_EQ(ur.reason(), "non_finite");

  auto counters = server->Counters();
  EXPECT_EQ(counters["enroll.accepted"], 2);
  EXPECT_EQ(counters["enroll_refused.token"], 1);
  EXPECT_EQ(counters["enroll_refused.csr"], 1);
  EXPECT_EQ(counters["enroll_refused.already_enrolled"], 1);
  EXPECT_EQ(counters["auth_refused.no_client_cert"], 1);
  EXPECT_EQ(counters["auth_refused.untrusted_cert"], 1);
  EXPECT_EQ(counters["auth_refused.device_mismatch"], 2);
  EXPECT_EQ(counters["rejected.replay"], 1);
  EXPECT_EQ(counters["rejected.non_finite"], 1);
  EXPECT_EQ(counters["accepted"], 1);
}

// The secure aggregation signing key a device registers must be its certificate's key, so its
// SecAgg signatures are bound to the identity mutual TLS authenticates.
TEST(MtlsTest, SigningKeyMustBeTheCertificateKey) {
  TempDir dir;
  const std::string state = dir.path() + "/state";
  auto server = StartTls(state, Task(20, 1, 2));
  ASSERT_TRUE(server);
  auto anonymous = TlsStub(server->port(), ReadFile(state + "/tls/ca.crt"));
  const std::string token = IssueEnrollmentToken(state).value();
  SecureBuffer other = NewKeySeed().value();
  grpc::Status s =
      EnrollRaw(*anonymous, token, "dev-k", nullptr, "", PublicKeyOfSeed(other.span()).value());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("not the key of the certificate request"), std::string::npos)
      << s.error_message();
  EXPECT_EQ(server->Counters()["enroll_refused.csr"], 1);
  // The token was not spent: the same device enrolls with its own key.
  EXPECT_TRUE(EnrollRaw(*anonymous, token, "dev-k", nullptr, "", "own").ok());
  EXPECT_EQ(server->Counters()["enroll.accepted"], 1);
}

TEST(MtlsTest, RestartedServerKeepsItsCaAndDevices) {
  TempDir dir;
  const std::string state = dir.path() + "/state";
  auto server = StartTls(state, Task(20, 1, 1));
  ASSERT_TRUE(server);
  const std::string ca_pem = ReadFile(state + "/tls/ca.crt");
  const std::string token = IssueEnrollmentToken(state).value();
  Enrolled a;
  ASSERT_TRUE(EnrollRaw(*TlsStub(server->port(), ca_pem), token, "dev-a", &a).ok());
  server.reset();

  // Same CA and signing key after a restart: the device's certificate and pinned key still
  // hold; the server certificate is new.
  const std::string first_server_cert = ReadFile(state + "/tls/server.crt");
  server = StartTls(state, Task(20, 1, 1));
  ASSERT_TRUE(server);
  EXPECT_EQ(ReadFile(state + "/tls/ca.crt"), ca_pem);
  EXPECT_NE(ReadFile(state + "/tls/server.crt"), first_server_cert);
  auto stub = TlsStub(server->port(), ca_pem, &a.seed, a.cert_pem);
  v1::CheckInResponse r;
  ASSERT_TRUE(CheckIn(*stub, "dev-a", &r).ok());
  ASSERT_TRUE(r.assigned()) << r.reason();
  PublicKey pinned;
  std::memcpy(pinned.data(), a.model_key.data(), 32);
  EXPECT_TRUE(
      VerifyModel(pinned, r.task_id(), r.base_version(), r.model_digest(), r.model_signature())
          .ok());
}

TEST(MtlsTest, ModelSignatureBindsTaskVersionAndDigest) {
  ASSERT_GE(sodium_init(), 0);
  uint8_t pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  SigningKey key = SigningKeyFromSecret(sk).value();
  const std::string digest(64, 'a');
  const Signature sig = SignModel(key, "task", 3, digest);
  const std::string bytes(sig.begin(), sig.end());
  EXPECT_TRUE(VerifyModel(key.public_key(), "task", 3, digest, bytes).ok());
  EXPECT_FALSE(VerifyModel(key.public_key(), "task2", 3, digest, bytes).ok());
  EXPECT_FALSE(VerifyModel(key.public_key(), "task", 4, digest, bytes).ok());
  EXPECT_FALSE(VerifyModel(key.public_key(), "task", 3, std::string(64, 'b'), bytes).ok());
  EXPECT_FALSE(VerifyModel(key.public_key(), "task", 3, digest, bytes.substr(1)).ok());
  uint8_t other_pk[32], other_sk[64];
  crypto_sign_keypair(other_pk, other_sk);
  PublicKey other;
  std::memcpy(other.data(), other_pk, 32);
  EXPECT_EQ(VerifyModel(other, "task", 3, digest, bytes).code(), StatusCode::kUnauthenticated);
}

// A raw TLS handshake from this process, with the process-wide TLS 1.3 floor lifted for this
// one context: returns the negotiated version, or 0 when the server refused.
int HandshakeVersion(int port, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>("\x02h2"), 3);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int version = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) version = SSL_version(ssl);
    SSL_free(ssl);
  }
  ERR_clear_error();
  close(fd);
  SSL_CTX_free(ctx);
  return version;
}

TEST(MtlsTest, ServerRefusesTls12) {
  TempDir dir;
  auto server = StartTls(dir.path() + "/state", Task(20, 1, 2));
  ASSERT_TRUE(server);
  EXPECT_EQ(HandshakeVersion(server->port(), TLS1_3_VERSION), TLS1_3_VERSION);
  EXPECT_EQ(HandshakeVersion(server->port(), TLS1_2_VERSION), 0);
}

// A server that hands out one model with a chosen signature, and counts updates.
class OneModelService final : public v1::Federated::Service {
 public:
  OneModelService(std::vector<float> params, std::string signature)
      : params_(std::move(params)), signature_(std::move(signature)) {}
  grpc::Status CheckIn(grpc::ServerContext*, const v1::CheckInRequest* req,
                       v1::CheckInResponse* resp) override {
    if (submitted_ > 0) {
      resp->set_task_done(true);
      return grpc::Status::OK;
    }
    resp->set_assigned(true);
    resp->set_task_id("signed");
    resp->set_round(1);
    resp->set_attempt(1);
    resp->set_device_id(req->device_id());
    resp->set_base_version(4);
    resp->set_model_digest(fl::ModelDigest(params_));
    resp->set_num_params(static_cast<int64_t>(params_.size()));
    resp->mutable_training()->set_local_epochs(1);
    resp->mutable_training()->set_batch_size(4);
    resp->mutable_training()->set_learning_rate(0.1);
    resp->set_model_signature(signature_);
    return grpc::Status::OK;
  }
  grpc::Status GetModel(grpc::ServerContext*, const v1::GetModelRequest*,
                        grpc::ServerWriter<v1::ModelChunk>* writer) override {
    ++downloads_;
    v1::ModelChunk c;
    c.set_version(4);
    c.set_digest(fl::ModelDigest(params_));
    c.set_num_params(static_cast<int64_t>(params_.size()));
    c.set_offset(0);
    c.mutable_values()->Add(params_.begin(), params_.end());
    c.set_model_signature(signature_);
    writer->Write(c);
    return grpc::Status::OK;
  }
  grpc::Status SubmitUpdate(grpc::ServerContext*, const v1::UpdateRequest*,
                            v1::UpdateResponse* resp) override {
    ++submitted_;
    resp->set_accepted(true);
    resp->set_reason("none");
    return grpc::Status::OK;
  }
  std::atomic<int> submitted_{0};
  std::atomic<int> downloads_{0};

 private:
  std::vector<float> params_;
  std::string signature_;
};

TEST(MtlsTest, ClientRefusesModelWithBadSignature) {
  ASSERT_GE(sodium_init(), 0);
  uint8_t pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  SigningKey key = SigningKeyFromSecret(sk).value();
  fl::sim::Dataset data = TinyData(16, 3);
  const std::vector<float> params(static_cast<size_t>(fl::sim::LinearModelParams(data)), 0.0f);
  const Signature good = SignModel(key, "signed", 4, fl::ModelDigest(params));
  Signature tampered = good;
  tampered[10] ^= 1;

  for (bool tamper : {true, false}) {
    const Signature& sig = tamper ? tampered : good;
    OneModelService service(params, std::string(sig.begin(), sig.end()));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    ASSERT_TRUE(server && port > 0);
    fl::sim::LinearModelTrainer trainer(data, {0, 1, 2, 3}, 1);
    ClientOptions co;
    co.server = Addr(port);
    co.device_id = "dev";
    co.insecure = true;
    co.model_key = key.public_key();
    co.max_poll_ms = 50;
    co.max_run_ms = tamper ? 500 : 10000;
    Result<ClientReport> report = FederatedClient(co, trainer).Run();
    server->Shutdown();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    if (tamper) {
      EXPECT_GT(report->models_refused, 0);
      EXPECT_EQ(service.downloads_, 0);  // refused before downloading
      EXPECT_EQ(service.submitted_, 0);
      bool logged = false;
      for (const std::string& line : report->log)
        logged |= line.find("signature does not verify") != std::string::npos;
      EXPECT_TRUE(logged);
    } else {
      EXPECT_EQ(report->models_refused, 0);
      EXPECT_EQ(service.submitted_, 1);
      EXPECT_TRUE(report->task_done);
    }
  }
}

}  // namespace
}  // namespace privedge::net
