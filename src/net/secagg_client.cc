#include "net/secagg_client.h"

#include <grpcpp/grpcpp.h>
#include <sodium.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "fl/secure_device.h"
#include "privedge/v1/secagg.grpc.pb.h"

namespace privedge::net {
namespace {

constexpr uint32_t kProtocolVersion = 1;
constexpr int kMaxRpcFailures = 20;  // consecutive, e.g. while the server restarts

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Sleep(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// The session described by a JOINED answer; every field is checked by Create / the client.
Result<fl::SecureRoundInfo> InfoFrom(const v1::SecAggJoinResponse& r) {
  fl::SecureRoundInfo info;
  if (r.graph_seed().size() != 32)
    return InvalidArgument("join answer: graph seed of ", r.graph_seed().size(), " bytes, want 32");
  if (r.participants_size() != static_cast<int>(r.num_clients()))
    return InvalidArgument("join answer: ", r.participants_size(), " participants for ",
                           r.num_clients(), " clients");
  info.config.round_id = r.round_id();
  info.config.num_clients = r.num_clients();
  info.config.degree = r.degree();
  info.config.threshold = r.threshold();
  info.config.bits = r.bits();
  info.config.length = r.length();
  std::memcpy(info.config.graph_seed.data(), r.graph_seed().data(), 32);
  info.index = r.index();
  info.quantization = {.clip = r.clip(),
                       .bits = r.bits(),
                       .max_clients = r.max_clients(),
                       .max_weight = r.max_weight()};
  info.integer_inputs = r.integer_inputs();
  info.max_update_norm = r.max_update_norm();
  for (const v1::SecAggParticipant& p : r.participants()) {
    if (p.signing_key().size() != 32)
      return InvalidArgument("join answer: signing key of '", p.device_id(), "' has ",
                             p.signing_key().size(), " bytes, want 32");
    secagg::PublicKey key{};
    std::memcpy(key.data(), p.signing_key().data(), key.size());
    info.participants.emplace_back(p.device_id(), key);
  }
  return info;
}

}  // namespace

SecAggOutcome RunSecureAggregation(const std::shared_ptr<grpc::Channel>& channel,
                                   const SecAggClientOptions& options, fl::DeviceAction& action,
                                   const secagg::Signer& signer) {
  auto stub = v1::SecureAggregation::NewStub(channel);
  const int64_t start = SteadyMs();
  const fl::Assignment& a = action.assignment;
  auto expired = [&] { return SteadyMs() - start > options.max_session_ms; };
  auto deadline = [&](grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(options.rpc_timeout_ms));
  };
  int failures = 0;

  // Join: wait for the selection to close.
  std::unique_ptr<fl::SecureDeviceSession> session;
  while (!session) {
    if (expired()) return {false, "timed out waiting to join the secure aggregation session"};
    v1::SecAggJoinRequest req;
    req.set_protocol_version(kProtocolVersion);
    req.set_device_id(options.device_id);
    req.set_task_id(a.task_id);
    req.set_round(a.round);
    req.set_attempt(a.attempt);
    v1::SecAggJoinResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    grpc::Status s = stub->Join(&ctx, req, &resp);
    if (!s.ok()) {
      if (++failures > kMaxRpcFailures) return {false, "join failed: " + s.error_message()};
      Sleep(200);
      continue;
    }
    failures = 0;
    if (resp.state() == v1::SecAggJoinResponse::REFUSED) return {false, resp.reason()};
    if (resp.state() == v1::SecAggJoinResponse::WAIT) {
      Sleep(std::clamp<int64_t>(resp.retry_after_ms(), 1, options.poll_ms));
      continue;
    }
    Result<fl::SecureRoundInfo> info = InfoFrom(resp);
    if (!info.ok()) return {false, info.status().message()};
    std::array<uint8_t, 32> rounding_seed{};
    randombytes_buf(rounding_seed.data(), rounding_seed.size());
    const fl::UpdateMessage& u = action.update;
    auto created = fl::SecureDeviceSession::Create(
        *info, options.device_id, signer,
        fl::LocalTrainingResult{std::move(action.update.delta), u.num_examples, u.train_loss},
        rounding_seed);
    if (!created.ok()) return {false, created.status().message()};
    session = std::move(*created);
  }

  Result<std::vector<uint8_t>> hello = session->Start();
  if (!hello.ok()) return {false, hello.status().message()};
  std::vector<std::vector<uint8_t>> outgoing = {std::move(*hello)};
  while (true) {
    if (expired()) return {false, "timed out in the secure aggregation session"};
    v1::SecAggExchangeRequest req;
    req.set_protocol_version(kProtocolVersion);
    req.set_device_id(options.device_id);
    req.set_round(a.round);
    req.set_attempt(a.attempt);
    for (const auto& m : outgoing) req.add_messages(m.data(), m.size());
    v1::SecAggExchangeResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    grpc::Status s = stub->Exchange(&ctx, req, &resp);
    if (!s.ok()) {
      if (++failures > kMaxRpcFailures) return {false, "exchange failed: " + s.error_message()};
      Sleep(200);
      continue;  // resend the same messages
    }
    failures = 0;
    outgoing.clear();
    if (!resp.refused().empty()) return {false, "server refused a message: " + resp.refused()};
    for (const std::string& m : resp.messages()) {
      auto replies = session->Handle({reinterpret_cast<const uint8_t*>(m.data()), m.size()});
      if (!replies.ok()) return {false, replies.status().message()};
      for (auto& r : *replies) outgoing.push_back(std::move(r));
    }
    if (session->done() && outgoing.empty()) return {true, ""};
    if (resp.finished())
      return {session->done(), resp.reason().empty() ? "session ended" : resp.reason()};
    if (outgoing.empty() && resp.messages_size() == 0) Sleep(options.poll_ms);
  }
}

}  // namespace privedge::net
