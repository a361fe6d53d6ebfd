#include "secagg/client.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "crypto/key_agreement.h"
#include "crypto/prg.h"

namespace privedge::secagg {

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kHeldShareBytes = 2 * kShareChunks * sizeof(uint64_t);
constexpr size_t kSlotBytes = kKeyBytes + kHeldShareBytes;

const char* ExpectedMessage(SecAggClient::State s) {
  switch (s) {
    case SecAggClient::State::kAwaitNeighbourKeys:
      return "NeighbourKeys";
    case SecAggClient::State::kAwaitShares:
      return "ForwardedShares";
    case SecAggClient::State::kAwaitUnmaskRequest:
      return "UnmaskRequest";
    default:
      return "no message";
  }
}

}  // namespace

SecAggClient::SecAggClient(const RoundConfig& config, uint32_t index, std::string device_id,
                           Signer signer, const DeviceRegistry* registry)
    : config_(config),
      index_(index),
      device_id_(std::move(device_id)),
      signer_(std::move(signer)),
      registry_(registry),
      graph_(config.num_clients, config.degree, config.graph_seed) {}

Result<std::unique_ptr<SecAggClient>> SecAggClient::Create(const RoundConfig& config,
                                                           uint32_t index, std::string device_id,
                                                           Signer signer,
                                                           const DeviceRegistry* registry) {
  PE_RETURN_IF_ERROR(ValidateConfig(config));
  if (index >= config.num_clients) {
    return InvalidArgument("secagg client index ", index, " outside 0..", config.num_clients - 1);
  }
  if (!signer || registry == nullptr) {
    return InvalidArgument("secagg client needs a signer and a device registry");
  }
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  return std::unique_ptr<SecAggClient>(
      new SecAggClient(config, index, std::move(device_id), std::move(signer), registry));
}

Status SecAggClient::SetInput(std::vector<uint64_t> input) {
  if (input.size() != config_.length) {
    return InvalidArgument("secagg input: expected ", config_.length, " values, got ",
                           input.size());
  }
  const uint64_t mask = ModulusMask(config_.bits);
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] > mask) {
      return InvalidArgument("secagg input: value ", i, " = ", input[i], " not below 2^",
                             config_.bits);
    }
  }
  input_ = std::move(input);
  return Status::OK();
}

Status SecAggClient::Abort(std::string reason) {
  if (state_ != State::kAborted) {
    state_ = State::kAborted;
    abort_reason_ = "client " + std::to_string(index_) + ": " + reason;
    secrets_.Reset();
    peer_secrets_.Reset();
    std::fill(input_.begin(), input_.end(), 0);
    input_.clear();
  }
  return Aborted(abort_reason_);
}

void SecAggClient::OnTimeout(Stage stage) {
  if (state_ == State::kDone || state_ == State::kAborted) return;
  (void)Abort(std::string("timed out in stage '") + StageName(stage) + "' waiting for the server");
}

Result<Message> SecAggClient::Start() {
  if (state_ != State::kReady) return Abort("Start called twice");
  PE_ASSIGN_OR_RETURN(secrets_, SecureBuffer::Allocate(3 * kKeyBytes));
  AdvertiseKeys ad;
  ad.from = index_;
  ad.device_id = device_id_;
  {
    PE_ASSIGN_OR_RETURN(auto enc, crypto::GenerateX25519KeyPair());
    PE_ASSIGN_OR_RETURN(auto mask, crypto::GenerateX25519KeyPair());
    std::memcpy(secrets_.data(), enc.secret_key.data(), kKeyBytes);
    std::memcpy(secrets_.data() + kKeyBytes, mask.secret_key.data(), kKeyBytes);
    ad.encryption_key = enc.public_key;
    ad.mask_key = mask.public_key;
  }
  randombytes_buf(secrets_.data() + 2 * kKeyBytes, kKeyBytes);  // self-mask seed b
  auto signature = signer_(AdvertisementBytes(config_.round_id, ad));
  if (!signature.ok())
    return Abort("signing the advertised keys failed: " + signature.status().message());
  ad.signature = *signature;
  state_ = State::kAwaitNeighbourKeys;
  return Message(std::move(ad));
}

Result<std::vector<Message>> SecAggClient::Handle(const Message& message) {
  if (state_ == State::kAborted) return Aborted(abort_reason_);
  if (const auto* abort = std::get_if<AbortNotice>(&message)) {
    if (abort->to != index_) return InvalidArgument("AbortNotice for client ", abort->to);
    return Abort("server aborted the round: " + abort->reason);
  }
  if (Endpoint(message) != index_) {
    return Abort(std::string(MessageName(message)) + " addressed to client " +
                 std::to_string(Endpoint(message)));
  }
  if (state_ == State::kDone && std::holds_alternative<UnmaskRequest>(message)) {
    return Abort("server sent a second unmask request (double request): refused");
  }
  switch (state_) {
    case State::kAwaitNeighbourKeys:
      if (auto* m = std::get_if<NeighbourKeys>(&message)) return OnNeighbourKeys(*m);
      break;
    case State::kAwaitShares:
      if (auto* m = std::get_if<ForwardedShares>(&message)) return OnForwardedShares(*m);
      break;
    case State::kAwaitUnmaskRequest:
      if (auto* m = std::get_if<UnmaskRequest>(&message)) return OnUnmaskRequest(*m);
      break;
    default:
      break;
  }
  return Abort(std::string("unexpected ") + MessageName(message) + " while expecting " +
               ExpectedMessage(state_));
}

Result<std::vector<Message>> SecAggClient::OnNeighbourKeys(const NeighbourKeys& m) {
  std::unordered_set<std::string> devices{device_id_};
  std::unordered_set<std::string> keys;
  auto key_string = [](const PublicKey& k) { return std::string(k.begin(), k.end()); };
  keys.insert(key_string(AdvertiseKeys{}.encryption_key));  // all-zero keys are refused
  for (const AdvertiseKeys& ad : m.neighbours) {
    if (!graph_.AreNeighbours(index_, ad.from)) {
      return Abort("server sent keys of client " + std::to_string(ad.from) +
                   ", which is not a neighbour");
    }
    if (peers_.count(ad.from)) {
      return Abort("server sent keys of client " + std::to_string(ad.from) + " twice");
    }
    Status verified = VerifyAdvertisement(config_.round_id, *registry_, ad);
    if (!verified.ok()) return Abort(verified.message());
    if (!devices.insert(ad.device_id).second) {
      return Abort("device '" + ad.device_id + "' appears as more than one client");
    }
    if (!keys.insert(key_string(ad.encryption_key)).second ||
        !keys.insert(key_string(ad.mask_key)).second) {
      return Abort("client " + std::to_string(ad.from) + " advertised a repeated public key");
    }
    Peer peer;
    peer.encryption_key = ad.encryption_key;
    peer.mask_key = ad.mask_key;
    peer.slot = peers_.size();
    peers_.emplace(ad.from, peer);
  }
  if (peers_.size() < config_.threshold) {
    return Abort("only " + std::to_string(peers_.size()) + " of " + std::to_string(config_.degree) +
                 " neighbours advertised keys; threshold " + std::to_string(config_.threshold));
  }
  PE_ASSIGN_OR_RETURN(peer_secrets_, SecureBuffer::Allocate(peers_.size() * kSlotBytes));

  std::vector<uint32_t> ids, xs;
  for (const auto& [id, peer] : peers_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (uint32_t id : ids) xs.push_back(id + 1);
  const std::span<const uint8_t> mask_secret(secrets_.data() + kKeyBytes, kKeyBytes);
  const std::span<const uint8_t> self_seed(secrets_.data() + 2 * kKeyBytes, kKeyBytes);
  PE_ASSIGN_OR_RETURN(auto key_shares, ShamirSplit(mask_secret, config_.threshold, xs));
  PE_ASSIGN_OR_RETURN(auto seed_shares, ShamirSplit(self_seed, config_.threshold, xs));

  ShareKeys out;
  out.from = index_;
  for (size_t i = 0; i < ids.size(); ++i) {
    const Peer& peer = peers_[ids[i]];
    uint8_t* key = peer_secrets_.data() + peer.slot * kSlotBytes;
    PE_RETURN_IF_ERROR(ShareEncryptionKey(config_.round_id, {secrets_.data(), kKeyBytes},
                                          peer.encryption_key, index_, ids[i], {key, kKeyBytes}));
    SharePair pair{index_, ids[i], key_shares[i], seed_shares[i]};
    PE_ASSIGN_OR_RETURN(auto ct, EncryptSharePair(config_.round_id, {key, kKeyBytes}, pair));
    out.shares.push_back({ids[i], std::move(ct)});
  }
  sodium_memzero(key_shares.data(), key_shares.size() * sizeof(ShamirShare));
  sodium_memzero(seed_shares.data(), seed_shares.size() * sizeof(ShamirShare));
  state_ = State::kAwaitShares;
  std::vector<Message> replies;
  replies.emplace_back(std::move(out));
  return replies;
}

Result<std::vector<Message>> SecAggClient::OnForwardedShares(const ForwardedShares& m) {
  size_t received = 0;
  for (const EncryptedShare& share : m.shares) {
    auto it = peers_.find(share.peer);
    if (it == peers_.end()) {
      return Abort("server forwarded shares from client " + std::to_string(share.peer) +
                   ", which did not advertise keys to this client");
    }
    Peer& peer = it->second;
    if (peer.shared) {
      return Abort("server forwarded shares from client " + std::to_string(share.peer) + " twice");
    }
    uint8_t* slot = peer_secrets_.data() + peer.slot * kSlotBytes;
    auto pair =
        DecryptSharePair(config_.round_id, {slot, kKeyBytes}, share.peer, index_, share.ciphertext);
    if (!pair.ok()) return Abort(pair.status().message());
    std::memcpy(slot + kKeyBytes, pair->mask_key.y.data(), kHeldShareBytes / 2);
    std::memcpy(slot + kKeyBytes + kHeldShareBytes / 2, pair->self_seed.y.data(),
                kHeldShareBytes / 2);
    sodium_memzero(&*pair, sizeof(SharePair));
    peer.shared = true;
    ++received;
  }
  if (received < config_.threshold) {
    return Abort("only " + std::to_string(received) + " neighbours shared keys; threshold " +
                 std::to_string(config_.threshold));
  }
  if (input_.size() != config_.length) return Abort("no input set before masked input collection");
  MaskedInput out;
  out.from = index_;
  out.bits = config_.bits;
  Status masked = MaskInput(out.values);
  std::fill(input_.begin(), input_.end(), 0);
  input_.clear();
  if (!masked.ok()) return Abort("masking failed: " + masked.message());
  state_ = State::kAwaitUnmaskRequest;
  std::vector<Message> replies;
  replies.emplace_back(std::move(out));
  return replies;
}

// y = x + PRG(b) + sum over neighbours v that shared keys of +PRG(s_uv) if u < v, else -.
Status SecAggClient::MaskInput(std::vector<uint64_t>& out) {
  out = input_;
  PE_RETURN_IF_ERROR(
      crypto::AddPrgMask({secrets_.data() + 2 * kKeyBytes, kKeyBytes}, config_.bits, false, out));
  PE_ASSIGN_OR_RETURN(SecureBuffer seed, SecureBuffer::Allocate(kKeyBytes));
  for (const auto& [id, peer] : peers_) {
    if (!peer.shared) continue;
    PE_RETURN_IF_ERROR(PairwiseMaskSeed(config_.round_id, {secrets_.data() + kKeyBytes, kKeyBytes},
                                        peer.mask_key, index_, id, seed.span()));
    PE_RETURN_IF_ERROR(crypto::AddPrgMask(seed.span(), config_.bits, index_ > id, out));
  }
  const uint64_t mask = ModulusMask(config_.bits);
  for (uint64_t& v : out) v &= mask;
  return Status::OK();
}

Result<std::vector<Message>> SecAggClient::OnUnmaskRequest(const UnmaskRequest& m) {
  std::unordered_set<uint32_t> survivors;
  for (uint32_t v : m.survivors) {
    if (!survivors.insert(v).second) {
      return Abort("unmask request lists survivor " + std::to_string(v) + " twice");
    }
  }
  std::unordered_set<uint32_t> dropped;
  for (uint32_t v : m.dropped) {
    if (survivors.count(v)) {
      return Abort(
          "server asked for both the self-mask seed share and the mask-key share of "
          "client " +
          std::to_string(v) + ": refused");
    }
    if (!dropped.insert(v).second) {
      return Abort("unmask request lists dropped client " + std::to_string(v) + " twice");
    }
  }
  for (const auto* list : {&m.survivors, &m.dropped}) {
    for (uint32_t v : *list) {
      auto it = peers_.find(v);
      if (it == peers_.end() || !it->second.shared) {
        return Abort("unmask request names client " + std::to_string(v) +
                     ", which did not share keys with this client");
      }
    }
  }
  if (m.survivors.size() < config_.threshold) {
    return Abort("unmask request reports only " + std::to_string(m.survivors.size()) +
                 " surviving neighbours; threshold " + std::to_string(config_.threshold));
  }
  UnmaskResponse out;
  out.from = index_;
  for (const auto* list : {&m.survivors, &m.dropped}) {
    const bool is_survivor = list == &m.survivors;
    for (uint32_t v : *list) {
      const uint8_t* slot = peer_secrets_.data() + peers_[v].slot * kSlotBytes + kKeyBytes;
      RevealedShare r;
      r.owner = v;
      r.kind = is_survivor ? ShareKind::kSelfMaskSeed : ShareKind::kMaskKey;
      r.share.x = index_ + 1;
      std::memcpy(r.share.y.data(), slot + (is_survivor ? kHeldShareBytes / 2 : 0),
                  kHeldShareBytes / 2);
      out.shares.push_back(r);
    }
  }
  state_ = State::kDone;
  secrets_.Reset();
  peer_secrets_.Reset();
  std::vector<Message> replies;
  replies.emplace_back(std::move(out));
  return replies;
}

}  // namespace privedge::secagg
