#include "net/client.h"

#include <grpcpp/grpcpp.h>
#include <sodium.h>

#include <chrono>
#include <thread>

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
  void Deadline(grpc::ClientContext& ctx, int64_t ms) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  }
};

FederatedClient::FederatedClient(ClientOptions options, fl::LocalTrainer& trainer)
    : options_(std::move(options)), trainer_(trainer), wire_(std::make_unique<Wire>()) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Reconnect quickly after the server comes back (defaults back off up to two minutes).
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  wire_->channel =
      grpc::CreateCustomChannel(options_.server, grpc::InsecureChannelCredentials(), args);
  wire_->stub = v1::Federated::NewStub(wire_->channel);
}

FederatedClient::~FederatedClient() = default;

Status FederatedClient::Enroll(const std::string& token) {
  if (!options_.insecure)
    return InvalidArgument("TLS is not available in this build: use an insecure channel");
  v1::EnrollRequest req;
  req.set_protocol_version(kProtocolVersion);
  req.set_token(token);
  req.set_device_id(options_.device_id);
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
  return Status::OK();
}

Result<ClientReport> FederatedClient::Run() {
  if (!options_.insecure)
    return InvalidArgument("TLS is not available in this build: use an insecure channel");
  uint64_t seed = options_.seed;
  if (seed == 0) {
    if (sodium_init() < 0) return Internal("libsodium failed to initialize");
    randombytes_buf(&seed, sizeof seed);
  }
  fl::DeviceRunner runner(options_.device_id, trainer_, options_.policy, options_.backoff, seed);
  ClientReport report;
  const int64_t start = SteadyMs();
  int64_t not_before = 0;
  auto finish = [&] {
    report.updates_accepted = runner.updates_accepted();
    report.log = runner.log();
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
        Status got = FetchModel(resp.task_id(), resp.base_version(), resp.num_params(), model);
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
                                   int64_t num_params, std::vector<float>& out) {
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
        chunk.offset() != static_cast<int64_t>(out.size()) ||
        chunk.values_size() > num_params - static_cast<int64_t>(out.size())) {
      ctx.TryCancel();
      reader->Finish();
      return InvalidArgument("model chunk at offset ", chunk.offset(), " does not fit version ",
                             version, " of ", num_params, " parameters");
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
