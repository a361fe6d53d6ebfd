// Secure aggregation in a federated round: the server side of one round attempt's SecAgg
// session (SecureRound, driven by the Coordinator) and the public parameters a device needs to
// take part (SecureRoundInfo; the device side is fl/secure_device.h).
//
//   // Coordinator, once the selection closed (devices sorted; a device's index is its position):
//   PE_ASSIGN_OR_RETURN(auto round, SecureRound::Open(task, round, attempt, devices, registry,
//                                                     seed, now));
//   round->InfoFor("dev-3")                  -> what the device needs (or nullopt)
//   round->Receive("dev-3", bytes, now)      -> a client message (secagg codec bytes)
//   round->TakeOutbox("dev-3")               -> the server's messages for it
//   round->OnTimer(now)                      -> closes a stage at its deadline
//   round->done() / aborted() / Sum()
//
// The session keeps the running sum of masked inputs inside secagg::SecAggServer, in memory;
// no individual input, masked or not, is ever kept or stored. A server restart loses the
// session: the coordinator abandons that attempt and retries the round (coordinator.h).
//
// Thread-safety: none; driven by the coordinator's thread.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fl/strategy.h"
#include "privedge/federated.h"
#include "secagg/protocol.h"
#include "secagg/quantize.h"
#include "secagg/server.h"

namespace privedge::fl {

// The secure aggregation options of `task`, with the task's other options they depend on:
// the mode, the ranges, a strategy that needs only the (weighted) mean, synchronous rounds, at
// least 3 devices selected per round. OK when the mode is "off".
Status ValidateSecureAggregation(const TaskConfig& task);

// True when `task` runs secure aggregation.
inline bool SecureAggregationOn(const TaskConfig& task) {
  return task.secure_aggregation.mode != "off";
}

// What one selected device needs to take part in the round's SecAgg session: all public.
struct SecureRoundInfo {
  secagg::RoundConfig config;
  uint32_t index = 0;  // this device's client index in the session
  // Weighted mode: how to quantize (max_clients is the session's size). Unused with
  // integer_inputs.
  secagg::QuantizationParams quantization;
  // dpfedavg distributed mode: the delta is already integers (noised on the device); they are
  // sent as two's complement mod 2^64 with weight 1.
  bool integer_inputs = false;
  double max_update_norm = 0;  // the device clips its delta to this L2 norm first (0: no)
  // Index order: device id and enrolled Ed25519 signing key of each session member.
  std::vector<std::pair<std::string, secagg::PublicKey>> participants;
};

// The 64-bit SecAgg round id of (task, round, attempt): the first 8 bytes of SHA-256 over them,
// so signatures and keys of one attempt are useless in any other.
uint64_t SecureRoundId(const std::string& task_id, int64_t round, int64_t attempt);

class SecureRound {
 public:
  // Opens the session among `devices` (at least 3, distinct; index = position). `registry`
  // maps each device to its enrolled signing key and must outlive the session. `graph_seed` is
  // the public randomness of the SecAgg+ graph. Errors: a device without an enrolled key, a
  // session the parameters cannot serve (too few devices for a threshold).
  static Result<std::unique_ptr<SecureRound>> Open(const TaskConfig& task, int64_t round,
                                                   int64_t attempt,
                                                   std::vector<std::string> devices,
                                                   const secagg::DeviceRegistry& registry,
                                                   const std::array<uint8_t, 32>& graph_seed,
                                                   int64_t now_ms);

  std::optional<SecureRoundInfo> InfoFor(const std::string& device_id) const;
  // One serialized client message from `device_id`. Errors (the message is refused, and its
  // sender takes no further part): not in the session, unparsable, speaking for another
  // client, rejected by the protocol.
  Status Receive(const std::string& device_id, std::span<const uint8_t> bytes, int64_t now_ms);
  // The server's messages waiting for `device_id`, in order; clears them.
  std::vector<std::vector<uint8_t>> TakeOutbox(const std::string& device_id);
  // Closes the current stage when its deadline passed.
  void OnTimer(int64_t now_ms);

  int64_t stage_deadline_ms() const { return stage_opened_ms_ + stage_timeout_ms_; }
  bool done() const { return server_->state() == secagg::SecAggServer::State::kDone; }
  bool aborted() const { return server_->state() == secagg::SecAggServer::State::kAborted; }
  const std::string& abort_reason() const { return server_->abort_reason(); }
  size_t size() const { return devices_.size(); }
  // The unmasked aggregate, dequantized (valid when done()): the only thing the strategy sees.
  Result<AggregatedSum> Sum() const;

 private:
  SecureRound() = default;
  void Route(std::vector<secagg::Message> out, int64_t now_ms);

  std::vector<std::string> devices_;
  std::map<std::string, uint32_t> index_;
  SecureRoundInfo info_;  // index 0's copy; InfoFor sets the index
  std::unique_ptr<secagg::SecAggServer> server_;
  std::vector<std::vector<std::vector<uint8_t>>> outbox_;  // per client index
  int64_t stage_opened_ms_ = 0;
  int64_t stage_timeout_ms_ = 0;
};

}  // namespace privedge::fl
