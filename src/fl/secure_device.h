// The device side of a round's secure aggregation: turns the trained update into the SecAgg
// input and runs the secagg::SecAggClient state machine over serialized messages.
//
//   PE_ASSIGN_OR_RETURN(auto session, SecureDeviceSession::Create(info, device_id, signer,
//                                                                 std::move(trained), seed));
//   PE_ASSIGN_OR_RETURN(std::vector<uint8_t> hello, session->Start());   // -> server
//   for each server message m: PE_ASSIGN_OR_RETURN(auto replies, session->Handle(m));
//   session->done() / aborted() / abort_reason()
//
// Create clips the delta to info.max_update_norm (the norm bound the server can no longer
// check), then quantizes it with its weight min(num_examples, max_weight) (stochastic rounding
// from `rounding_seed`; pass fresh random bytes outside simulations), or, for dpfedavg's
// distributed mode (info.integer_inputs), encodes the already noised integers with weight 1.
// The float delta is wiped once quantized and the quantized input once masked.
//
// Thread-safety: none; one session per device and round, on one thread.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "fl/secure_round.h"
#include "secagg/client.h"

namespace privedge::fl {

// The SecAgg input of one device: [weight, quantized delta...] mod 2^bits.
Result<std::vector<uint64_t>> SecureAggregationInput(const SecureRoundInfo& info,
                                                     LocalTrainingResult& update,
                                                     const std::array<uint8_t, 32>& rounding_seed);

class SecureDeviceSession {
 public:
  // Errors: an info the client refuses (secagg::ValidateConfig), a delta of the wrong length,
  // non-finite values, integers out of range.
  static Result<std::unique_ptr<SecureDeviceSession>> Create(
      const SecureRoundInfo& info, const std::string& device_id, secagg::Signer signer,
      LocalTrainingResult update, const std::array<uint8_t, 32>& rounding_seed);

  // The signed AdvertiseKeys, serialized.
  Result<std::vector<uint8_t>> Start();
  // One serialized server message; the serialized replies. An Aborted error when the client
  // aborted (a protocol violation by the server or a neighbour) or the server aborted.
  Result<std::vector<std::vector<uint8_t>>> Handle(std::span<const uint8_t> bytes);

  bool done() const { return client_->state() == secagg::SecAggClient::State::kDone; }
  bool aborted() const { return client_->state() == secagg::SecAggClient::State::kAborted; }
  const std::string& abort_reason() const { return client_->abort_reason(); }
  // The stage whose message the device sends next (0 advertise .. 3 unmask; 4 when done).
  int next_stage() const;

 private:
  SecureDeviceSession() = default;
  secagg::InMemoryDeviceRegistry registry_;  // the session members' enrolled keys
  std::unique_ptr<secagg::SecAggClient> client_;
};

}  // namespace privedge::fl
