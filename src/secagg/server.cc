#include "secagg/server.h"

#include <sodium.h>

#include <algorithm>
#include <unordered_set>

#include "crypto/key_agreement.h"
#include "crypto/prg.h"

namespace privedge::secagg {

namespace {

// Calls `on` with the message if it holds a T; otherwise the wrong message for this stage.
template <class T, class F>
Status Dispatch(const Message& message, F&& on) {
  if (const T* m = std::get_if<T>(&message)) return on(*m);
  return InvalidArgument("expected ", MessageName(Message(std::in_place_type<T>)), ", got ",
                         MessageName(message));
}

}  // namespace

SecAggServer::SecAggServer(const RoundConfig& config, const DeviceRegistry* registry)
    : config_(config),
      registry_(registry),
      graph_(config.num_clients, config.degree, config.graph_seed),
      stages_done_(config.num_clients, 0),
      rejected_(config.num_clients, false),
      adverts_(config.num_clients),
      outgoing_shares_(config.num_clients),
      seed_shares_(config.num_clients),
      key_shares_(config.num_clients) {
  expected_ = config.num_clients;
}

Result<std::unique_ptr<SecAggServer>> SecAggServer::Create(const RoundConfig& config,
                                                           const DeviceRegistry* registry) {
  PE_RETURN_IF_ERROR(ValidateConfig(config));
  if (registry == nullptr) return InvalidArgument("secagg server needs a device registry");
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  return std::unique_ptr<SecAggServer>(new SecAggServer(config, registry));
}

std::vector<uint32_t> SecAggServer::Reached(int stages) const {
  std::vector<uint32_t> out;
  for (uint32_t u = 0; u < config_.num_clients; ++u) {
    if (stages_done_[u] >= stages) out.push_back(u);
  }
  return out;
}

std::vector<Message> SecAggServer::Abort(std::string reason) {
  const int stage = static_cast<int>(state_);
  state_ = State::kAborted;
  abort_reason_ = std::move(reason);
  sum_.clear();
  contributors_.clear();
  std::vector<Message> out;
  for (uint32_t u : Reached(stage)) out.emplace_back(AbortNotice{u, abort_reason_});
  return out;
}

Result<std::vector<Message>> SecAggServer::Handle(const Message& message) {
  if (state_ == State::kDone || state_ == State::kAborted) {
    return InvalidArgument(MessageName(message), " from client ", Endpoint(message),
                           " after the round ended");
  }
  const uint32_t from = Endpoint(message);
  if (from >= config_.num_clients) {
    return InvalidArgument(MessageName(message), " from unknown client ", from);
  }
  const int stage = static_cast<int>(state_);
  if (rejected_[from]) {
    return InvalidArgument(MessageName(message), " from client ", from,
                           ", whose earlier message was rejected");
  }
  if (stages_done_[from] != stage) {
    return InvalidArgument(
        MessageName(message), " from client ", from, " in stage '",
        StageName(static_cast<Stage>(stage)),
        "': ", stages_done_[from] > stage ? "already answered" : "client dropped earlier");
  }
  Status status;
  switch (state_) {
    case State::kAdvertiseKeys:
      status = Dispatch<AdvertiseKeys>(message, [&](const auto& m) { return OnAdvertise(m); });
      break;
    case State::kShareKeys:
      status = Dispatch<ShareKeys>(message, [&](const auto& m) { return OnShareKeys(m); });
      break;
    case State::kMaskedInput:
      status = Dispatch<MaskedInput>(message, [&](const auto& m) { return OnMaskedInput(m); });
      break;
    case State::kUnmask:
      status =
          Dispatch<UnmaskResponse>(message, [&](const auto& m) { return OnUnmaskResponse(m); });
      break;
    default:
      break;
  }
  if (!status.ok()) {
    // The sender is out of the round from now on (it counts as dropped at this stage). A
    // rejection never closes a stage: if it was the last awaited answer, the timeout does.
    rejected_[from] = true;
    --expected_;
    return status.WithContext("client " + std::to_string(from) + " rejected");
  }
  stages_done_[from] = stage + 1;
  ++answered_;
  if (answered_ == expected_) return CloseStage();
  return std::vector<Message>{};
}

std::vector<Message> SecAggServer::OnTimeout(Stage stage) {
  if (static_cast<int>(state_) != static_cast<int>(stage)) return {};
  return CloseStage();
}

std::vector<Message> SecAggServer::CloseStage() {
  switch (state_) {
    case State::kAdvertiseKeys:
      return CloseAdvertise();
    case State::kShareKeys:
      return CloseShareKeys();
    case State::kMaskedInput:
      return CloseMaskedInput();
    case State::kUnmask:
      return CloseUnmask();
    default:
      return {};
  }
}

Status SecAggServer::OnAdvertise(const AdvertiseKeys& m) {
  PE_RETURN_IF_ERROR(VerifyAdvertisement(config_.round_id, *registry_, m));
  if (!device_ids_.insert(m.device_id).second) {
    return PermissionDenied("device '", m.device_id, "' already joined as another client");
  }
  adverts_[m.from] = m;
  return Status::OK();
}

Status SecAggServer::OnShareKeys(const ShareKeys& m) {
  std::unordered_set<uint32_t> seen;
  for (const EncryptedShare& s : m.shares) {
    if (!graph_.AreNeighbours(m.from, s.peer) || stages_done_[s.peer] < 1) {  // checks range
      return InvalidArgument("share for client ", s.peer, ", not a neighbour that advertised keys");
    }
    if (!seen.insert(s.peer).second) return InvalidArgument("two shares for client ", s.peer);
  }
  size_t expected = 0;
  for (uint32_t v : graph_.Neighbours(m.from)) expected += stages_done_[v] >= 1 ? 1 : 0;
  if (seen.size() != expected) {
    return InvalidArgument("shares for ", seen.size(), " neighbours, expected ", expected);
  }
  outgoing_shares_[m.from] = m.shares;
  return Status::OK();
}

Status SecAggServer::OnMaskedInput(const MaskedInput& m) {
  if (m.bits != config_.bits || m.values.size() != config_.length) {
    return InvalidArgument("masked input of ", m.values.size(), " values mod 2^", m.bits,
                           ", expected ", config_.length, " mod 2^", config_.bits);
  }
  const uint64_t mask = ModulusMask(config_.bits);
  for (uint64_t v : m.values) {
    if (v > mask) return InvalidArgument("masked input value not below 2^", config_.bits);
  }
  if (sum_.empty()) sum_.assign(config_.length, 0);
  for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += m.values[i];
  return Status::OK();
}

Status SecAggServer::OnUnmaskResponse(const UnmaskResponse& m) {
  std::unordered_set<uint32_t> seen;
  size_t asked = 0;
  for (uint32_t v : graph_.Neighbours(m.from)) asked += stages_done_[v] >= 2 ? 1 : 0;
  for (const RevealedShare& r : m.shares) {
    if (r.owner >= config_.num_clients || !graph_.AreNeighbours(m.from, r.owner) ||
        stages_done_[r.owner] < 2) {
      return InvalidArgument("share of client ", r.owner, ", which was not asked for");
    }
    const bool survivor = stages_done_[r.owner] >= 3;
    if ((r.kind == ShareKind::kSelfMaskSeed) != survivor) {
      return InvalidArgument("wrong kind of share for client ", r.owner);
    }
    if (r.share.x != m.from + 1) return InvalidArgument("share at x = ", r.share.x);
    if (!seen.insert(r.owner).second) return InvalidArgument("two shares of client ", r.owner);
  }
  if (seen.size() != asked) {
    return InvalidArgument("shares of ", seen.size(), " clients, asked for ", asked);
  }
  for (const RevealedShare& r : m.shares) {
    (r.kind == ShareKind::kSelfMaskSeed ? seed_shares_ : key_shares_)[r.owner].push_back(r.share);
  }
  return Status::OK();
}

std::vector<Message> SecAggServer::CloseAdvertise() {
  const std::vector<uint32_t> u1 = Reached(1);
  if (u1.size() < config_.threshold) {
    return Abort("only " + std::to_string(u1.size()) + " clients advertised keys; threshold " +
                 std::to_string(config_.threshold));
  }
  std::vector<Message> out;
  for (uint32_t u : u1) {
    NeighbourKeys m;
    m.to = u;
    for (uint32_t v : graph_.Neighbours(u)) {
      if (stages_done_[v] >= 1) m.neighbours.push_back(adverts_[v]);
    }
    out.emplace_back(std::move(m));
  }
  state_ = State::kShareKeys;
  expected_ = u1.size();
  answered_ = 0;
  return out;
}

std::vector<Message> SecAggServer::CloseShareKeys() {
  const std::vector<uint32_t> u2 = Reached(2);
  if (u2.size() < config_.threshold) {
    return Abort("only " + std::to_string(u2.size()) + " clients shared keys; threshold " +
                 std::to_string(config_.threshold));
  }
  std::vector<ForwardedShares> forward(config_.num_clients);
  for (uint32_t u : u2) {
    for (EncryptedShare& s : outgoing_shares_[u]) {
      if (stages_done_[s.peer] >= 2) forward[s.peer].shares.push_back({u, std::move(s.ciphertext)});
    }
    outgoing_shares_[u].clear();
    outgoing_shares_[u].shrink_to_fit();
  }
  std::vector<Message> out;
  for (uint32_t v : u2) {
    forward[v].to = v;
    out.emplace_back(std::move(forward[v]));
  }
  state_ = State::kMaskedInput;
  expected_ = u2.size();
  answered_ = 0;
  return out;
}

std::vector<Message> SecAggServer::CloseMaskedInput() {
  const std::vector<uint32_t> u3 = Reached(3);
  if (u3.size() < config_.threshold) {
    return Abort("only " + std::to_string(u3.size()) + " clients sent masked inputs; threshold " +
                 std::to_string(config_.threshold));
  }
  std::vector<Message> out;
  for (uint32_t v : u3) {
    UnmaskRequest m;
    m.to = v;
    for (uint32_t u : graph_.Neighbours(v)) {
      if (stages_done_[u] >= 3) {
        m.survivors.push_back(u);
      } else if (stages_done_[u] == 2) {
        m.dropped.push_back(u);
      }
    }
    out.emplace_back(std::move(m));
  }
  contributors_ = u3;
  state_ = State::kUnmask;
  expected_ = u3.size();
  answered_ = 0;
  return out;
}

std::vector<Message> SecAggServer::CloseUnmask() {
  const std::vector<uint32_t> u4 = Reached(4);
  if (u4.size() < config_.threshold) {
    return Abort("only " + std::to_string(u4.size()) +
                 " clients answered the unmask request; "
                 "threshold " +
                 std::to_string(config_.threshold));
  }
  Status status = Unmask();
  if (!status.ok()) return Abort(status.message());
  state_ = State::kDone;
  return {};
}

Status SecAggServer::Unmask() {
  const uint32_t t = config_.threshold;
  auto too_few = [&](const char* what, uint32_t u, size_t got) {
    return Aborted("cannot recover the ", what, " of client ", u, ": ", got,
                   " shares from surviving neighbours, threshold ", t);
  };
  for (uint32_t u : contributors_) {
    if (seed_shares_[u].size() < t) return too_few("self-mask seed", u, seed_shares_[u].size());
    auto seed = ShamirReconstruct(seed_shares_[u], t);
    if (!seed.ok()) return Aborted("self-mask seed of client ", u, ": ", seed.status().message());
    PE_RETURN_IF_ERROR(crypto::AddPrgMask(seed->span(), config_.bits, true, sum_));
  }
  PE_ASSIGN_OR_RETURN(SecureBuffer pair_seed, SecureBuffer::Allocate(32));
  for (uint32_t u = 0; u < config_.num_clients; ++u) {
    if (stages_done_[u] != 2) continue;  // shared keys, then dropped before its masked input
    if (key_shares_[u].size() < t) return too_few("mask key", u, key_shares_[u].size());
    auto key = ShamirReconstruct(key_shares_[u], t);
    if (!key.ok()) return Aborted("mask key of client ", u, ": ", key.status().message());
    PE_ASSIGN_OR_RETURN(auto public_key, crypto::X25519PublicKeyOf(key->span()));
    if (public_key != adverts_[u].mask_key) {
      return Aborted("the reconstructed mask key of client ", u,
                     " does not match its advertised key: inconsistent shares");
    }
    for (uint32_t v : graph_.Neighbours(u)) {
      if (stages_done_[v] < 3) continue;
      PE_RETURN_IF_ERROR(PairwiseMaskSeed(config_.round_id, key->span(), adverts_[v].mask_key, u, v,
                                          pair_seed.span()));
      // v added +PRG if v < u, else -PRG: undo it.
      PE_RETURN_IF_ERROR(crypto::AddPrgMask(pair_seed.span(), config_.bits, v < u, sum_));
    }
  }
  const uint64_t mask = ModulusMask(config_.bits);
  for (uint64_t& v : sum_) v &= mask;
  return Status::OK();
}

}  // namespace privedge::secagg
