// SecAggServer: the server side of a SecAgg+ round, as a sans-I/O state machine.
//
//   PE_ASSIGN_OR_RETURN(auto server, SecAggServer::Create(config, &registry));
//   for each client message m:
//     auto out = server->Handle(m);          // error: m rejected, its sender counts as dropped
//     if (out.ok()) send each of *out to Endpoint(message)
//   on a stage deadline: send each of server->OnTimeout(stage)
//   when server->state() == kDone: server->sum() is sum of the surviving clients' inputs
//   mod 2^bits, server->contributors() says whose.
//
// A stage closes when every client still in the round has answered, or at OnTimeout. The
// server keeps only the running sum of masked inputs, never an individual input: each masked
// input is added as it arrives. Before unmasking it checks every reconstructed mask key
// against the advertised public key. It aborts (kAborted, abort_reason(), AbortNotice to the
// clients still in the round) when fewer than t clients remain at a stage, or a survivor's
// self-mask seed or a dropped client's mask key has fewer than t shares or inconsistent ones.
//
// Thread-safety: not thread-safe; drive one server from one thread.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "secagg/graph.h"
#include "secagg/protocol.h"

namespace privedge::secagg {

class SecAggServer {
 public:
  enum class State { kAdvertiseKeys, kShareKeys, kMaskedInput, kUnmask, kDone, kAborted };

  // `registry` must outlive the server. Errors: an invalid config.
  static Result<std::unique_ptr<SecAggServer>> Create(const RoundConfig& config,
                                                      const DeviceRegistry* registry);

  // Handles one client message and returns the messages to send (non-empty when the message
  // closed a stage). A rejected message (wrong stage, duplicate, inconsistent, bad signature)
  // returns its one-line reason; its sender takes no further part in the round and a stage
  // left waiting only for it closes at its timeout.
  Result<std::vector<Message>> Handle(const Message& message);

  // Closes `stage` if it is the current one; returns the messages to send.
  std::vector<Message> OnTimeout(Stage stage);

  State state() const { return state_; }
  const std::string& abort_reason() const { return abort_reason_; }
  // The aggregate (length config.length, mod 2^bits); valid in kDone.
  const std::vector<uint64_t>& sum() const { return sum_; }
  // Clients whose inputs are in sum(), ascending.
  const std::vector<uint32_t>& contributors() const { return contributors_; }

 private:
  SecAggServer(const RoundConfig& config, const DeviceRegistry* registry);

  std::vector<Message> Abort(std::string reason);
  Status OnAdvertise(const AdvertiseKeys& m);
  Status OnShareKeys(const ShareKeys& m);
  Status OnMaskedInput(const MaskedInput& m);
  Status OnUnmaskResponse(const UnmaskResponse& m);
  std::vector<Message> CloseStage();
  std::vector<Message> CloseAdvertise();
  std::vector<Message> CloseShareKeys();
  std::vector<Message> CloseMaskedInput();
  std::vector<Message> CloseUnmask();
  Status Unmask();
  // Clients that completed at least `stage` stages.
  std::vector<uint32_t> Reached(int stages) const;
  size_t expected_ = 0;  // answers awaited in the current stage
  size_t answered_ = 0;

  RoundConfig config_;
  const DeviceRegistry* registry_;
  CommunicationGraph graph_;
  State state_ = State::kAdvertiseKeys;
  std::string abort_reason_;
  std::vector<int> stages_done_;        // per client: stages whose message was accepted
  std::vector<bool> rejected_;          // per client: a message was rejected; out of the round
  std::vector<AdvertiseKeys> adverts_;  // per client
  std::unordered_set<std::string> device_ids_;                // devices that advertised keys
  std::vector<std::vector<EncryptedShare>> outgoing_shares_;  // per sender, until forwarded
  std::vector<std::vector<ShamirShare>> seed_shares_;         // per survivor
  std::vector<std::vector<ShamirShare>> key_shares_;          // per dropped client
  std::vector<uint64_t> sum_;
  std::vector<uint32_t> contributors_;
};

}  // namespace privedge::secagg
