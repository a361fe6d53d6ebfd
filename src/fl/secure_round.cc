// The server side of a round's SecAgg session, and the task options it needs.
#include "fl/secure_round.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>

#include "secagg/graph.h"

namespace privedge::fl {
namespace {

// Quantization levels wanted per coordinate; b is then 32 (or 64 for huge rounds).
constexpr uint64_t kMinLevels = uint64_t{1} << 16;

Result<uint32_t> WeightedBits(uint32_t clients, uint32_t max_weight) {
  PE_ASSIGN_OR_RETURN(uint32_t bits, secagg::ChooseBits(clients, max_weight, kMinLevels));
  return bits <= 32 ? 32u : 64u;  // the wire carries 4- or 8-byte words anyway
}

}  // namespace

Status ValidateSecureAggregation(const TaskConfig& task) {
  const SecureAggregationConfig& s = task.secure_aggregation;
  if (s.mode != "off" && s.mode != "secagg" && s.mode != "secaggplus")
    return InvalidArgument("secure_aggregation must be off, secagg or secaggplus, got '", s.mode,
                           "'");
  if (!(s.clip > 0 && std::isfinite(s.clip)))
    return InvalidArgument("secagg.clip must be > 0, got ", s.clip);
  if (s.max_weight < 1 || s.max_weight > (int64_t{1} << 20))
    return InvalidArgument("secagg.max_weight must be in [1, 2^20], got ", s.max_weight);
  if (s.stage_timeout_ms < 1)
    return InvalidArgument("secagg.stage_timeout_ms must be >= 1, got ", s.stage_timeout_ms);
  if (!(s.dropout_rate >= 0 && s.dropout_rate < 1))
    return InvalidArgument("secagg.dropout_rate must be in [0, 1), got ", s.dropout_rate);
  if (!(s.corruption_rate >= 0 && s.corruption_rate < 1))
    return InvalidArgument("secagg.corruption_rate must be in [0, 1), got ", s.corruption_rate);
  if (s.mode == "off") return Status::OK();
  Status takes_sum = CheckStrategyTakesSum(task.strategy);
  if (!takes_sum.ok()) return takes_sum;
  // dpfedavg divides by the fixed cohort m = clients_per_round; under secure aggregation every
  // selected device is in the sum, so the selection must be exactly m.
  if (task.strategy.name == "dpfedavg" && task.over_selection != 1.0)
    return InvalidArgument("secure aggregation with dpfedavg needs over_selection = 1 (every ",
                           "selected device is in the sum, and its denominator is ",
                           "clients_per_round), got ", task.over_selection);
  if (task.async_buffer_size > 0)
    return InvalidArgument("secure aggregation needs synchronous rounds (async_buffer_size = 0, ",
                           "got ", task.async_buffer_size, ")");
  const double selected =
      std::ceil(static_cast<double>(task.clients_per_round) * task.over_selection - 1e-9);
  if (selected < 3)
    return InvalidArgument("secure aggregation needs at least 3 devices selected per round, ",
                           "clients_per_round * over_selection gives ", selected);
  if (selected > secagg::kMaxClients)
    return InvalidArgument("secure aggregation: ", selected, " devices per round, at most ",
                           secagg::kMaxClients);
  return WeightedBits(static_cast<uint32_t>(selected), static_cast<uint32_t>(s.max_weight))
      .status();
}

uint64_t SecureRoundId(const std::string& task_id, int64_t round, int64_t attempt) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  static const char kTag[] = "privedge secure round v1";
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(kTag), sizeof kTag);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(task_id.data()),
                            task_id.size());
  unsigned char numbers[16];
  for (int i = 0; i < 8; ++i) {
    numbers[i] = static_cast<unsigned char>(static_cast<uint64_t>(round) >> (8 * i));
    numbers[8 + i] = static_cast<unsigned char>(static_cast<uint64_t>(attempt) >> (8 * i));
  }
  crypto_hash_sha256_update(&st, numbers, sizeof numbers);
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, h);
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id |= static_cast<uint64_t>(h[i]) << (8 * i);
  return id;
}

Result<std::unique_ptr<SecureRound>> SecureRound::Open(const TaskConfig& task, int64_t round,
                                                       int64_t attempt,
                                                       std::vector<std::string> devices,
                                                       const secagg::DeviceRegistry& registry,
                                                       const std::array<uint8_t, 32>& graph_seed,
                                                       int64_t now_ms) {
  const SecureAggregationConfig& s = task.secure_aggregation;
  const auto n = static_cast<uint32_t>(devices.size());
  if (n < 3) return InvalidArgument("secure aggregation needs >= 3 devices, got ", n);
  std::unique_ptr<SecureRound> r(new SecureRound());
  for (uint32_t u = 0; u < n; ++u) {
    std::optional<secagg::PublicKey> key = registry.SigningKey(devices[u]);
    if (!key)
      return InvalidArgument("device '", devices[u], "' has no enrolled signing key; it cannot ",
                             "take part in secure aggregation");
    if (!r->index_.emplace(devices[u], u).second)
      return InvalidArgument("device '", devices[u], "' selected twice");
    r->info_.participants.emplace_back(devices[u], *key);
  }
  Result<secagg::GraphParams> chosen =
      secagg::ChooseGraphParams({.num_clients = n,
                                 .dropout_rate = s.dropout_rate,
                                 .corruption_rate = s.corruption_rate,
                                 .complete = s.mode == "secagg"});
  // Small cohorts cannot meet the 2^-40 / 2^-20 bounds at these rates (the rounded-up counts
  // of dropped and corrupt devices collide): complete graph, the lowest threshold clients
  // accept (t = floor(k/2) + 1), which tolerates the most dropouts (docs/secure-aggregation.md).
  const secagg::GraphParams g =
      chosen.ok() ? *chosen : secagg::GraphParams{.degree = n - 1, .threshold = (n - 1) / 2 + 1};
  SecureRoundInfo& info = r->info_;
  info.integer_inputs = task.strategy.name == "dpfedavg";
  info.max_update_norm = task.max_update_norm;
  info.quantization = {.clip = s.clip,
                       .bits = 64,
                       .max_clients = n,
                       .max_weight = static_cast<uint32_t>(s.max_weight)};
  if (!info.integer_inputs) {
    PE_ASSIGN_OR_RETURN(info.quantization.bits, WeightedBits(n, info.quantization.max_weight));
  }
  info.config = secagg::RoundConfig{.round_id = SecureRoundId(task.task_id, round, attempt),
                                    .num_clients = n,
                                    .degree = g.degree,
                                    .threshold = g.threshold,
                                    .bits = info.quantization.bits,
                                    .length = static_cast<uint32_t>(task.num_params + 1),
                                    .graph_seed = graph_seed};
  PE_ASSIGN_OR_RETURN(r->server_, secagg::SecAggServer::Create(info.config, &registry));
  r->devices_ = std::move(devices);
  r->outbox_.resize(n);
  r->stage_opened_ms_ = now_ms;
  r->stage_timeout_ms_ = s.stage_timeout_ms;
  return r;
}

std::optional<SecureRoundInfo> SecureRound::InfoFor(const std::string& device_id) const {
  auto it = index_.find(device_id);
  if (it == index_.end()) return std::nullopt;
  SecureRoundInfo info = info_;
  info.index = it->second;
  return info;
}

Status SecureRound::Receive(const std::string& device_id, std::span<const uint8_t> bytes,
                            int64_t now_ms) {
  auto it = index_.find(device_id);
  if (it == index_.end())
    return PermissionDenied("device '", device_id, "' is not in this secure aggregation session");
  PE_ASSIGN_OR_RETURN(secagg::Message m, secagg::Parse(bytes));
  if (std::holds_alternative<secagg::NeighbourKeys>(m) ||
      std::holds_alternative<secagg::ForwardedShares>(m) ||
      std::holds_alternative<secagg::UnmaskRequest>(m) ||
      std::holds_alternative<secagg::AbortNotice>(m))
    return InvalidArgument("device '", device_id, "' sent a server message (",
                           secagg::MessageName(m), ")");
  if (secagg::Endpoint(m) != it->second)
    return PermissionDenied("device '", device_id, "' (client ", it->second,
                            ") sent a message as client ", secagg::Endpoint(m));
  PE_ASSIGN_OR_RETURN(std::vector<secagg::Message> out, server_->Handle(m));
  Route(std::move(out), now_ms);
  return Status::OK();
}

void SecureRound::Route(std::vector<secagg::Message> out, int64_t now_ms) {
  if (!out.empty()) stage_opened_ms_ = now_ms;  // messages go out when a stage closes
  for (const secagg::Message& m : out) {
    const uint32_t to = secagg::Endpoint(m);
    if (to < outbox_.size()) outbox_[to].push_back(secagg::Serialize(m));
  }
}

std::vector<std::vector<uint8_t>> SecureRound::TakeOutbox(const std::string& device_id) {
  auto it = index_.find(device_id);
  if (it == index_.end()) return {};
  return std::exchange(outbox_[it->second], {});
}

void SecureRound::OnTimer(int64_t now_ms) {
  if (done() || aborted() || now_ms < stage_deadline_ms()) return;
  const auto stage = static_cast<secagg::Stage>(static_cast<int>(server_->state()));
  std::vector<secagg::Message> out = server_->OnTimeout(stage);
  stage_opened_ms_ = now_ms;
  Route(std::move(out), now_ms);
}

Result<AggregatedSum> SecureRound::Sum() const {
  if (!done()) return Internal("secure aggregation sum asked before the session completed");
  const std::vector<uint64_t>& sum = server_->sum();
  AggregatedSum a;
  a.contributors = static_cast<int64_t>(server_->contributors().size());
  if (sum.empty()) return Internal("secure aggregation produced an empty sum");
  if (info_.integer_inputs) {
    // Two's complement mod 2^64: each device sent weight 1 and integers far below 2^62.
    a.total_weight = static_cast<double>(sum[0]);
    a.weighted_sum.resize(sum.size() - 1);
    for (size_t i = 1; i < sum.size(); ++i)
      a.weighted_sum[i - 1] = static_cast<double>(static_cast<int64_t>(sum[i]));
    if (sum[0] != static_cast<uint64_t>(a.contributors))
      return InvalidArgument("secure aggregation: count ", sum[0], " differs from the ",
                             a.contributors, " contributors");
    return a;
  }
  PE_ASSIGN_OR_RETURN(std::vector<double> mean,
                      secagg::DequantizeWeightedMean(sum, info_.quantization));
  a.total_weight = static_cast<double>(sum[0]);
  a.weighted_sum = std::move(mean);
  for (double& v : a.weighted_sum) v *= a.total_weight;
  return a;
}

}  // namespace privedge::fl
