#include "net/client.h"

#include <grpcpp/grpcpp.h>
#include <sodium.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "net/device_identity.h"
#include "net/model_signature.h"
#include "net/tls.h"
#include "net/secagg_client.h"
#include "privedge/v1/federated.grpc.pb.h"

namespace privedge::net {
namespace {

constexpr uint32_t kProtocolVersion = 1;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

fl::RejectReason ReasonFromName(const std::string& name) {
  for (int i = 0; i < fl::kNumRejectReasons; ++i)
    if (name == fl::RejectReasonName(static_cast<fl::RejectReason>(i)))
      return static_cast<fl::RejectReason>(i);
  return fl::RejectReason::kNone;
}

std::string Describe(const grpc::Status& s) {
  return "code " + std::to_string(static_cast<int>(s.error_code())) + ": " + s.error_message();
}

}  // namespace

struct FederatedClient::Wire {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Federated::Stub> stub;
  bool with_identity = false;
  void Deadline(grpc::ClientContext& ctx, int64_t ms) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  }
};

FederatedClient::FederatedClient(ClientOptions options, fl::LocalTrainer& trainer)
    : options_(std::move(options)), trainer_(trainer), wire_(std::make_unique<Wire>()) {}

FederatedClient::~FederatedClient() = default;

namespace {

// libsodium's 64-byte Ed25519 secret key of a 32-byte seed: over TLS the device's identity key
// also signs its secure aggregation keys.
Result<std::shared_ptr<const SecureBuffer>> SigningKeyOfSeed(std::span<const uint8_t> seed) {
  if (seed.size() != crypto_sign_SEEDBYTES)
    return InvalidArgument("device key seed of ", seed.size(), " bytes, expected ",
                           crypto_sign_SEEDBYTES);
  PE_ASSIGN_OR_RETURN(SecureBuffer sk, SecureBuffer::Allocate(crypto_sign_SECRETKEYBYTES));
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, sk.data(), seed.data());
  return std::make_shared<const SecureBuffer>(std::move(sk));
}

}  // namespace

// Insecure: a plaintext channel. TLS: a channel that pins the CA; with the identity (loaded
// from identity_dir when `with_identity`) it also presents the device certificate.
Status FederatedClient::Connect(bool with_identity) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Reconnect quickly after the server comes back (defaults back off up to two minutes).
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  if (!options_.insecure) {
    PE_RETURN_IF_ERROR(RequireTls13ForProcess());
    grpc::SslCredentialsOptions ssl;
    if (with_identity) {
      if (options_.keystore == nullptr || options_.identity_dir.empty())
        return InvalidArgument("TLS needs a keystore and an identity directory");
      PE_ASSIGN_OR_RETURN(DeviceIdentity id,
                          LoadDeviceIdentity(options_.identity_dir, *options_.keystore));
      if (!options_.device_id.empty() && options_.device_id != id.device_id)
        return InvalidArgument("the identity in '", options_.identity_dir, "' is device '",
                               id.device_id, "', not '", options_.device_id, "'");
      options_.device_id = id.device_id;
      if (!options_.model_key) options_.model_key = id.model_key;
      PE_ASSIGN_OR_RETURN(options_.signing_key, SigningKeyOfSeed(id.key_seed.span()));
      PE_ASSIGN_OR_RETURN(SecureBuffer key_pem, PrivateKeyPem(id.key_seed.span()));
      ssl.pem_root_certs = id.ca_cert_pem;
      ssl.pem_cert_chain = id.cert_pem;
      ssl.pem_private_key.assign(reinterpret_cast<const char*>(key_pem.data()), key_pem.size());
    } else {
      if (options_.ca_cert_pem.empty())
        return InvalidArgument("enrolling over TLS needs the server's CA certificate (--ca)");
      ssl.pem_root_certs = options_.ca_cert_pem;
    }
    credentials = grpc::SslCredentials(ssl);
    // gRPC holds its own copy now.
    sodium_memzero(ssl.pem_private_key.data(), ssl.pem_private_key.size());
    if (!options_.tls_server_name.empty())
      args.SetSslTargetNameOverride(options_.tls_server_name);
  }
  wire_->channel = grpc::CreateCustomChannel(options_.server, credentials, args);
  wire_->stub = v1::Federated::NewStub(wire_->channel);
  wire_->with_identity = with_identity;
  return Status::OK();
}

Status FederatedClient::Enroll(const std::string& token) {
  SecureBuffer seed;
  v1::EnrollRequest req;
  req.set_protocol_version(kProtocolVersion);
  req.set_token(token);
  req.set_device_id(options_.device_id);
  if (!options_.insecure) {
    if (options_.keystore == nullptr || options_.identity_dir.empty())
      return InvalidArgument("TLS enrollment needs a keystore and an identity directory");
    if (HasDeviceIdentity(options_.identity_dir))
      return InvalidArgument("'", options_.identity_dir, "' already holds an enrolled identity");
    PE_ASSIGN_OR_RETURN(seed, NewKeySeed());
    PE_ASSIGN_OR_RETURN(std::string csr, MakeCsr(seed.span(), options_.device_id));
    req.set_csr_pem(csr);
    PE_ASSIGN_OR_RETURN(options_.signing_key, SigningKeyOfSeed(seed.span()));
  }
  PE_RETURN_IF_ERROR(Connect(false));
  if (options_.signing_key && options_.signing_key->size() == crypto_sign_SECRETKEYBYTES) {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_ed25519_sk_to_pk(pk, options_.signing_key->data());
    req.set_signing_public_key(pk, sizeof pk);
  }
  v1::EnrollResponse resp;
  grpc::ClientContext ctx;
  wire_->Deadline(ctx, options_.rpc_timeout_ms);
  ctx.set_wait_for_ready(true);  // the server may still be starting
  grpc::Status s = wire_->stub->Enroll(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED)
    return PermissionDenied("server refused enrollment of '", options_.device_id,
                            "': ", s.error_message());
  if (!s.ok())
    return IoError("enrollment at '", options_.server, "' failed (", Describe(s), ")");
  if (resp.model_signing_key().size() != 32)
    return InvalidArgument("server sent a model-signing key of ", resp.model_signing_key().size(),
                           " bytes, expected 32");
  PublicKey model_key;
  std::memcpy(model_key.data(), resp.model_signing_key().data(), model_key.size());
  if (options_.insecure) return Status::OK();

  // Trust only the pinned CA, never the copy the server sent.
  PE_ASSIGN_OR_RETURN(CertInfo cert,
                      CheckCert(resp.device_cert_pem(), options_.ca_cert_pem, CertUse::kClient));
  PE_ASSIGN_OR_RETURN(std::string pub, PublicKeyOfSeed(seed.span()));
  if (cert.common_name != options_.device_id || cert.public_key != pub)
    return InvalidArgument("server issued a certificate for '", cert.common_name,
                           "' or another key, expected '", options_.device_id, "'");
  DeviceIdentity id;
  id.device_id = options_.device_id;
  id.cert_pem = resp.device_cert_pem();
  id.ca_cert_pem = options_.ca_cert_pem;
  id.model_key = model_key;
  id.key_seed = std::move(seed);
  return SaveDeviceIdentity(options_.identity_dir, *options_.keystore, id);
}

Result<ClientReport> FederatedClient::Run() {
  if (!wire_->stub || (!options_.insecure && !wire_->with_identity))
    PE_RETURN_IF_ERROR(Connect(!options_.insecure));
  uint64_t seed = options_.seed;
  if (seed == 0) {
    if (sodium_init() < 0) return Internal("libsodium failed to initialize");
    randombytes_buf(&seed, sizeof seed);
  }
  fl::DeviceRunner runner(options_.device_id, trainer_, options_.policy, options_.backoff, seed);
  ClientReport report;
  const int64_t start = SteadyMs();
  int64_t not_before = 0;
  std::vector<std::string> refusals;
  auto finish = [&] {
    report.updates_accepted = runner.updates_accepted();
    report.log = runner.log();
    report.log.insert(report.log.end(), refusals.begin(), refusals.end());
  };

  while (true) {
    const int64_t now = SteadyMs();
    if (options_.max_run_ms > 0 && now - start >= options_.max_run_ms) break;
    const int64_t wake = std::max(runner.next_wake_ms(), not_before);
    if (now < wake) {
      int64_t wait = std::min(wake - now, options_.max_poll_ms);
      if (options_.max_run_ms > 0) wait = std::min(wait, start + options_.max_run_ms - now);
      std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(1, wait)));
      continue;
    }
    fl::DeviceAction action = runner.OnTimer(now, options_.conditions);
    if (action.kind == fl::DeviceAction::kCheckIn) {
      v1::CheckInRequest req;
      req.set_protocol_version(kProtocolVersion);
      req.set_device_id(options_.device_id);
      v1::CheckInResponse resp;
      grpc::ClientContext ctx;
      wire_->Deadline(ctx, options_.rpc_timeout_ms);
      grpc::Status s = wire_->stub->CheckIn(&ctx, req, &resp);
      if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          s.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
        finish();
        return PermissionDenied("server refused device '", options_.device_id,
                                "': ", s.error_message());
      }
      if (!s.ok()) {
        runner.OnCheckInFailed(SteadyMs());
        continue;
      }
      if (resp.task_done()) {
        report.task_done = true;
        break;
      }
      if (!resp.assigned() && resp.reason() == "unknown device") {
        finish();
        return PermissionDenied("server does not know device '", options_.device_id,
                                "' (enroll it first)");
      }
      fl::CheckInResponse r;
      r.assigned = resp.assigned();
      r.reason = resp.reason();
      r.retry_after_ms = std::min(resp.retry_after_ms(), options_.max_poll_ms);
      std::vector<float> model;
      if (r.assigned) {
        r.assignment = fl::Assignment{
            resp.task_id(),
            resp.round(),
            resp.attempt(),
            resp.device_id(),
            resp.base_version(),
            resp.model_digest(),
            fl::TrainingConfig{resp.training().local_epochs(), resp.training().batch_size(),
                               resp.training().learning_rate(), resp.training().proximal_mu()},
            resp.secure_aggregation()};
        Status got = Status::OK();
        if (options_.model_key)
          got = VerifyModel(*options_.model_key, resp.task_id(), resp.base_version(),
                            resp.model_digest(), resp.model_signature());
        if (!got.ok()) {
          ++report.models_refused;
          if (refusals.size() < 20) refusals.push_back("refused model: " + got.message());
          not_before = SteadyMs() + options_.max_poll_ms;
        } else {
          got = FetchModel(resp.task_id(), resp.base_version(), resp.num_params(),
                           resp.model_digest(), resp.model_signature(), model);
        }
        if (!got.ok()) {
          runner.OnCheckInFailed(SteadyMs());
          continue;
        }
      }
      action = runner.OnCheckIn(r, model, SteadyMs());
      // Training failed or the model did not match: the runner would check in again at once
      // and be handed the same round; wait a poll interval instead of spinning.
      if (r.assigned && action.kind == fl::DeviceAction::kNone)
        not_before = SteadyMs() + options_.max_poll_ms;
    }
    if (action.kind == fl::DeviceAction::kSecureAggregate) {
      SecAggOutcome o{false, "no signing key: this device cannot take part in secure aggregation"};
      if (options_.signing_key)
        o = RunSecureAggregation(
            wire_->channel,
            {options_.device_id, action.assignment.task_id, options_.rpc_timeout_ms}, action,
            secagg::Ed25519Signer(options_.signing_key));
      runner.OnSecureAggregationDone(o.completed, o.detail, SteadyMs());
    }
    if (action.kind == fl::DeviceAction::kSendUpdate) {
      const fl::UpdateMessage& u = action.update;
      v1::UpdateRequest req;
      req.set_protocol_version(kProtocolVersion);
      req.set_task_id(u.task_id);
      req.set_round(u.round);
      req.set_device_id(u.device_id);
      req.set_base_version(u.base_version);
      req.set_nonce(u.nonce);
      req.mutable_delta()->Add(u.delta.begin(), u.delta.end());
      req.set_num_examples(u.num_examples);
      req.set_train_loss(u.train_loss);
      v1::UpdateResponse resp;
      grpc::ClientContext ctx;
      wire_->Deadline(ctx, options_.rpc_timeout_ms);
      grpc::Status s = wire_->stub->SubmitUpdate(&ctx, req, &resp);
      if (!s.ok()) {
        runner.OnSendFailed(SteadyMs());
        continue;
      }
      runner.OnSubmitResult(
          fl::SubmitResponse{resp.accepted(), ReasonFromName(resp.reason()), resp.detail()},
          SteadyMs());
    }
  }
  finish();
  return report;
}

Status FederatedClient::FetchModel(const std::string& task_id, int64_t version,
                                   int64_t num_params, const std::string& digest,
                                   const std::string& signature, std::vector<float>& out) {
  if (num_params < 1 || num_params > options_.max_model_params)
    return InvalidArgument("server announced ", num_params, " parameters, allowed 1-",
                           options_.max_model_params);
  v1::GetModelRequest req;
  req.set_protocol_version(kProtocolVersion);
  req.set_device_id(options_.device_id);
  req.set_task_id(task_id);
  req.set_version(version);
  grpc::ClientContext ctx;
  wire_->Deadline(ctx, options_.rpc_timeout_ms);
  std::unique_ptr<grpc::ClientReader<v1::ModelChunk>> reader = wire_->stub->GetModel(&ctx, req);
  out.clear();
  out.reserve(static_cast<size_t>(num_params));
  v1::ModelChunk chunk;
  while (reader->Read(&chunk)) {
    if (chunk.version() != version || chunk.num_params() != num_params ||
        chunk.digest() != digest || (options_.model_key && chunk.model_signature() != signature) ||
        chunk.offset() != static_cast<int64_t>(out.size()) ||
        chunk.values_size() > num_params - static_cast<int64_t>(out.size())) {
      ctx.TryCancel();
      reader->Finish();
      return InvalidArgument("model chunk at offset ", chunk.offset(),
                             " does not match version ", version, " of ", num_params,
                             " parameters (size, offset, digest or signature)");
    }
    out.insert(out.end(), chunk.values().begin(), chunk.values().end());
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return IoError("model download failed (", Describe(s), ")");
  if (static_cast<int64_t>(out.size()) != num_params)
    return InvalidArgument("model download ended after ", out.size(), " of ", num_params,
                           " parameters");
  return Status::OK();
}

}  // namespace privedge::net
