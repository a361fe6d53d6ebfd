#include "net/server.h"

#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>

#include "net/ca.h"
#include "net/model_signature.h"
#include "net/tls.h"
#include "net/secagg_service.h"
#include "privedge/v1/federated.grpc.pb.h"
#include "store/sqlite_round_store.h"

namespace privedge::net {
namespace {

constexpr uint32_t kProtocolVersion = 1;

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' ||
          c == '-'))
      return false;
  return true;
}

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

std::string TokenFile(const std::string& state_dir, const std::string& token) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return state_dir + "/tokens/" + Hex(h, sizeof h);
}

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
    return IoError("cannot create directory '", path, "': ", std::strerror(errno));
  return Status::OK();
}

grpc::Status Bad(const std::string& msg) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
}

grpc::Status FromStatus(const Status& s) {
  return grpc::Status(grpc::StatusCode::INTERNAL, s.ToString());
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::string> IssueEnrollmentToken(const std::string& state_dir) {
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  PE_RETURN_IF_ERROR(MakeDir(state_dir));
  PE_RETURN_IF_ERROR(MakeDir(state_dir + "/tokens"));
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  const std::string token = Hex(raw, sizeof raw);
  const std::string path = TokenFile(state_dir, token);
  std::ofstream out(path, std::ios::trunc);
  out << "unused\n";
  if (!out) return IoError("cannot write token file '", path, "'");
  return token;
}

class FederatedServer::Service final : public v1::Federated::Service {
 public:
  explicit Service(FederatedServer& s) : s_(s) {}

  grpc::Status Enroll(grpc::ServerContext*, const v1::EnrollRequest* req,
                      v1::EnrollResponse* resp) override {
    if (req->protocol_version() != kProtocolVersion) return BadVersion(req->protocol_version());
    if (!ValidId(req->device_id()))
      return Bad("device id must be 1-128 characters of [A-Za-z0-9_.:-]");
    if (req->token().size() != 64) {
      Count("enroll_refused.token");
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "malformed enrollment token");
    }
    std::optional<CsrInfo> csr;
    if (s_.ca_) {
      Result<CsrInfo> parsed = ParseCsr(req->csr_pem());
      if (parsed.ok() && parsed->common_name != req->device_id())
        parsed = InvalidArgument("certificate request is for '", parsed->common_name,
                                 "', the enrollment for '", req->device_id(), "'");
      if (!parsed.ok()) {
        Count("enroll_refused.csr");
        return Bad(parsed.status().message());
      }
      if (s_.ca_->HasDeviceCert(req->device_id())) {
        Count("enroll_refused.already_enrolled");
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                            "device '" + req->device_id() + "' is already enrolled");
      }
      csr = std::move(*parsed);
    }
    const std::string& key = req->signing_public_key();
    if (key.empty() ? fl::SecureAggregationOn(s_.coord_->config()) : key.size() != 32)
      return Bad("this task needs a 32-byte Ed25519 signing_public_key (secure aggregation), got " +
                 std::to_string(key.size()) + " bytes");
    if (csr && !key.empty() && key != csr->public_key) {
      Count("enroll_refused.csr");
      return Bad("signing_public_key is not the key of the certificate request");
    }
    // unlink is atomic: exactly one Enroll consumes a token.
    if (unlink(TokenFile(s_.state_dir_, req->token()).c_str()) != 0) {
      Count("enroll_refused.token");
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "enrollment token unknown or already used");
    }
    if (csr) {
      Result<std::string> cert =
          s_.ca_->IssueDeviceCert(*csr, req->device_id(), s_.options_.device_cert_days);
      if (!cert.ok() && cert.status().code() == StatusCode::kPermissionDenied) {
        Count("enroll_refused.already_enrolled");  // a concurrent enrollment of the same id
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, cert.status().message());
      }
      if (!cert.ok()) return FromStatus(cert.status());
      resp->set_device_cert_pem(*cert);
      resp->set_ca_cert_pem(s_.ca_->cert_pem());
    }
    const PublicKey& pub = s_.model_key_->public_key();
    resp->set_model_signing_key(std::string(pub.begin(), pub.end()));
    std::lock_guard<std::mutex> lock(s_.mu_);
    Status st = s_.coord_->EnrollDevice(req->device_id());
    if (st.ok() && !key.empty())
      st = s_.device_keys_->Register(req->device_id(),
                                     {reinterpret_cast<const uint8_t*>(key.data()), key.size()});
    if (!st.ok()) return FromStatus(st);
    ++s_.transport_counters_["enroll.accepted"];
    resp->set_device_id(req->device_id());
    resp->set_task_id(s_.coord_->config().task_id);
    return grpc::Status::OK;
  }

  grpc::Status CheckIn(grpc::ServerContext* ctx, const v1::CheckInRequest* req,
                       v1::CheckInResponse* resp) override {
    if (req->protocol_version() != kProtocolVersion) return BadVersion(req->protocol_version());
    if (grpc::Status auth = Authorize(ctx, req->device_id()); !auth.ok()) return auth;
    std::lock_guard<std::mutex> lock(s_.mu_);
    Result<fl::CheckInResponse> r = s_.coord_->CheckIn(req->device_id(), NowMs());
    s_.NotifyIfDone();
    if (!r.ok()) return FromStatus(r.status());
    resp->set_assigned(r->assigned);
    resp->set_reason(r->reason);
    resp->set_retry_after_ms(r->retry_after_ms);
    resp->set_task_done(s_.coord_->phase() != fl::TaskPhase::kRunning);
    if (r->assigned) {
      const fl::Assignment& a = r->assignment;
      resp->set_task_id(a.task_id);
      resp->set_round(a.round);
      resp->set_attempt(a.attempt);
      resp->set_device_id(a.device_id);
      resp->set_base_version(a.base_version);
      resp->set_model_digest(a.model_digest);
      const Signature sig = SignModel(*s_.model_key_, a.task_id, a.base_version, a.model_digest);
      resp->set_model_signature(std::string(sig.begin(), sig.end()));
      resp->set_num_params(s_.coord_->config().num_params);
      v1::TrainingConfig* t = resp->mutable_training();
      t->set_local_epochs(a.training.local_epochs);
      t->set_batch_size(a.training.batch_size);
      t->set_learning_rate(a.training.learning_rate);
      t->set_proximal_mu(a.training.proximal_mu);
      resp->set_secure_aggregation(a.secure_aggregation);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetModel(grpc::ServerContext* ctx, const v1::GetModelRequest* req,
                        grpc::ServerWriter<v1::ModelChunk>* writer) override {
    if (req->protocol_version() != kProtocolVersion) return BadVersion(req->protocol_version());
    if (grpc::Status auth = Authorize(ctx, req->device_id()); !auth.ok()) return auth;
    fl::StoredModel model;
    {
      std::lock_guard<std::mutex> lock(s_.mu_);
      if (req->task_id() != s_.coord_->config().task_id)
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "no task '" + req->task_id() + "'");
      if (req->version() == s_.coord_->model().version) {
        model = s_.coord_->model();
      } else {
        Result<fl::StoredModel> m = s_.store_->LoadModel(req->task_id(), req->version());
        if (!m.ok())
          return grpc::Status(grpc::StatusCode::NOT_FOUND, m.status().ToString());
        model = std::move(*m);
      }
    }
    const int64_t n = static_cast<int64_t>(model.params.size());
    const Signature sig = SignModel(*s_.model_key_, req->task_id(), model.version, model.digest);
    const int64_t chunk = std::max<int64_t>(1, s_.options_.model_chunk_floats);
    for (int64_t off = 0; off == 0 || off < n; off += chunk) {
      v1::ModelChunk c;
      c.set_version(model.version);
      c.set_digest(model.digest);
      c.set_num_params(n);
      c.set_offset(off);
      c.set_model_signature(std::string(sig.begin(), sig.end()));
      const int64_t end = std::min(n, off + chunk);
      c.mutable_values()->Add(model.params.begin() + off, model.params.begin() + end);
      if (!writer->Write(c)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      if (n == 0) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status SubmitUpdate(grpc::ServerContext* ctx, const v1::UpdateRequest* req,
                            v1::UpdateResponse* resp) override {
    if (req->protocol_version() != kProtocolVersion) return BadVersion(req->protocol_version());
    if (grpc::Status auth = Authorize(ctx, req->device_id()); !auth.ok()) return auth;
    fl::UpdateMessage u;
    u.task_id = req->task_id();
    u.round = req->round();
    u.device_id = req->device_id();
    u.base_version = req->base_version();
    u.nonce = req->nonce();
    u.delta.assign(req->delta().begin(), req->delta().end());
    u.num_examples = req->num_examples();
    u.train_loss = req->train_loss();
    std::lock_guard<std::mutex> lock(s_.mu_);
    Result<fl::SubmitResponse> r = s_.coord_->Submit(u, NowMs());
    s_.NotifyIfDone();
    if (!r.ok()) return FromStatus(r.status());
    resp->set_accepted(r->accepted);
    resp->set_reason(fl::RejectReasonName(r->reason));
    resp->set_detail(r->detail);
    return grpc::Status::OK;
  }

  // With TLS: the peer's certificate must chain to the CA and name `claimed` (see server.h).
  // Also guards the SecureAggregation service's calls.
  grpc::Status Authorize(grpc::ServerContext* ctx, const std::string& claimed) {
    if (!s_.ca_) return grpc::Status::OK;
    const std::vector<grpc::string_ref> pem =
        ctx->auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (pem.empty()) {
      Count("auth_refused.no_client_cert");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "a device certificate is required (enroll the device first)");
    }
    Result<CertInfo> cert = CheckCert(std::string(pem[0].data(), pem[0].size()),
                                      s_.ca_->cert_pem(), CertUse::kClient);
    if (!cert.ok()) {
      Count("auth_refused.untrusted_cert");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, cert.status().message());
    }
    if (cert->common_name != claimed) {
      Count("auth_refused.device_mismatch");
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "unknown_device: the certificate is for '" + cert->common_name +
                              "', the request names '" + claimed + "'");
    }
    return grpc::Status::OK;
  }

 private:
  void Count(const std::string& name) {
    std::lock_guard<std::mutex> lock(s_.mu_);
    ++s_.transport_counters_[name];
  }

  static grpc::Status BadVersion(uint32_t v) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "protocol version " + std::to_string(v) + " not supported (server speaks " +
                            std::to_string(kProtocolVersion) + ")");
  }
  FederatedServer& s_;
};

Result<std::unique_ptr<FederatedServer>> FederatedServer::Start(const fl::TaskConfig& task,
                                                                const ServerOptions& options) {
  if (options.state_dir.empty()) return InvalidArgument("a state directory is required");
  PE_RETURN_IF_ERROR(task.Validate());
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  PE_RETURN_IF_ERROR(MakeDir(options.state_dir));
  PE_RETURN_IF_ERROR(MakeDir(options.state_dir + "/tokens"));

  std::unique_ptr<FederatedServer> s(new FederatedServer());
  s->options_ = options;
  s->state_dir_ = options.state_dir;
  PE_ASSIGN_OR_RETURN(auto store, store::SqliteRoundStore::Open(options.state_dir + "/server.db"));
  s->store_ = std::move(store);
  PE_ASSIGN_OR_RETURN(std::optional<fl::TaskSnapshot> snap, s->store_->LoadTask(task.task_id));
  if (snap) {
    PE_ASSIGN_OR_RETURN(s->coord_, fl::Coordinator::Resume(*s->store_, task.task_id));
    if (fl::SerializeTaskConfig(s->coord_->config()) != fl::SerializeTaskConfig(task))
      return InvalidArgument("task '", task.task_id, "' in '", options.state_dir,
                             "' was created with another configuration");
  } else {
    std::vector<float> zeros(static_cast<size_t>(task.num_params), 0.0f);
    PE_ASSIGN_OR_RETURN(s->coord_,
                        fl::Coordinator::Create(task, std::move(zeros), *s->store_, NowMs()));
  }

  PE_ASSIGN_OR_RETURN(SigningKey model_key, LoadOrCreateModelSigningKey(options.state_dir));
  s->model_key_ = std::make_unique<SigningKey>(std::move(model_key));
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.insecure) {
    if (options.device_cert_days < 1 || options.server_cert_days < 1)
      return InvalidArgument("certificate validity must be at least 1 day");
    PE_RETURN_IF_ERROR(RequireTls13ForProcess());
    PE_ASSIGN_OR_RETURN(CertificateAuthority ca,
                        CertificateAuthority::LoadOrCreate(options.state_dir));
    s->ca_ = std::make_unique<CertificateAuthority>(std::move(ca));
    PE_ASSIGN_OR_RETURN(ServerCertificate own,
                        s->ca_->IssueServerCert(options.tls_names, options.server_cert_days));
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
    ssl.pem_root_certs = s->ca_->cert_pem();
    ssl.pem_key_cert_pairs.push_back(
        {std::string(reinterpret_cast<const char*>(own.key_pem.data()), own.key_pem.size()),
         own.cert_pem});
    credentials = grpc::SslServerCredentials(ssl);
    // gRPC holds its own copy now.
    std::string& key_copy = ssl.pem_key_cert_pairs[0].private_key;
    sodium_memzero(key_copy.data(), key_copy.size());
  }

  PE_ASSIGN_OR_RETURN(s->device_keys_, DeviceKeyRegistry::Open(options.state_dir + "/device_keys"));
  s->coord_->SetDeviceRegistry(s->device_keys_.get());
  s->service_ = std::make_unique<Service>(*s);
  s->secagg_service_ = std::make_unique<SecAggService>(
      s->mu_, *s->coord_, [p = s.get()] { p->NotifyIfDone(); },
      [svc = s->service_.get()](grpc::ServerContext* ctx, const std::string& device_id) {
        return svc->Authorize(ctx, device_id);
      });
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &s->port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->secagg_service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0)
    return IoError("cannot listen on '", options.listen, "' (address in use or invalid)");
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    s->NotifyIfDone();
  }
  s->timer_ = std::thread([p = s.get(), period = options.timer_period_ms] { p->TimerLoop(period); });
  return s;
}

FederatedServer::~FederatedServer() { Shutdown(); }

void FederatedServer::Shutdown() {
  stop_ = true;
  if (timer_.joinable()) timer_.join();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_->Wait();
    server_.reset();
  }
}

void FederatedServer::TimerLoop(int64_t period_ms) {
  while (!stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(1, period_ms)));
    std::lock_guard<std::mutex> lock(mu_);
    Status st = coord_->OnTimer(NowMs());
    if (!st.ok()) std::fprintf(stderr, "privedge server: timer: %s\n", st.ToString().c_str());
    NotifyIfDone();
  }
}

void FederatedServer::NotifyIfDone() {
  if (!done_ && coord_->phase() != fl::TaskPhase::kRunning) {
    done_ = true;
    done_cv_.notify_all();
  }
}

void FederatedServer::WaitUntilDone() {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return done_; });
}

bool FederatedServer::WaitUntilDoneFor(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return done_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return done_; });
}

std::map<std::string, int64_t> FederatedServer::Counters() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int64_t> all = coord_->counters();
  for (const auto& [name, value] : transport_counters_) all[name] += value;
  return all;
}

std::vector<fl::RoundMetrics> FederatedServer::Metrics() {
  std::lock_guard<std::mutex> lock(mu_);
  return coord_->metrics();
}

fl::TaskPhase FederatedServer::Phase() {
  std::lock_guard<std::mutex> lock(mu_);
  return coord_->phase();
}

}  // namespace privedge::net
