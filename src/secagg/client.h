// SecAggClient: the device side of a SecAgg+ round, as a sans-I/O state machine.
//
//   PE_ASSIGN_OR_RETURN(auto client, SecAggClient::Create(config, index, device_id, signer,
//                                                         registry));
//   PE_RETURN_IF_ERROR(client->SetInput(quantized));       // length config.length, < 2^bits
//   PE_ASSIGN_OR_RETURN(Message hello, client->Start());   // AdvertiseKeys -> server
//   for each message m from the server:
//     PE_ASSIGN_OR_RETURN(auto replies, client->Handle(m)); // send `replies` to the server
//   on a stage deadline: client->OnTimeout(stage);
//
// The client never touches a socket or a clock. It keeps its secrets (two X25519 secret keys,
// the self-mask seed, the shares it holds for its neighbours) in SecureBuffers and wipes them
// when the round ends. It aborts (state kAborted, abort_reason(), Handle returns Aborted) when:
// a neighbour's advertised keys fail their Ed25519 signature or repeat a device or key; fewer
// than t neighbours remain at a stage; a share ciphertext fails authentication; a message is
// for another client or out of order; the unmask request is inconsistent: it names a device
// both as survivor and as dropped (the server would learn both its self-mask seed and its
// mask key, hence its input), names a device that did not share keys, or comes twice.
//
// Thread-safety: not thread-safe; drive one client from one thread.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "secagg/graph.h"
#include "secagg/protocol.h"

namespace privedge::secagg {

class SecAggClient {
 public:
  enum class State {
    kReady,
    kAwaitNeighbourKeys,
    kAwaitShares,
    kAwaitUnmaskRequest,
    kDone,
    kAborted
  };

  // `registry` must outlive the client. Errors: an invalid config or index.
  static Result<std::unique_ptr<SecAggClient>> Create(const RoundConfig& config, uint32_t index,
                                                      std::string device_id, Signer signer,
                                                      const DeviceRegistry* registry);

  // The input, length config.length, each value < 2^bits. May be given any time before the
  // ForwardedShares message; it is wiped once masked.
  Status SetInput(std::vector<uint64_t> input);

  // Generates the round keys and returns the signed AdvertiseKeys. Once only.
  Result<Message> Start();

  // Handles one server message; returns what to send back (zero or one message). A protocol
  // violation aborts the client and returns the reason as an Aborted status.
  Result<std::vector<Message>> Handle(const Message& message);

  // The deadline for the server's message of `stage` passed: the client aborts.
  void OnTimeout(Stage stage);

  State state() const { return state_; }
  const std::string& abort_reason() const { return abort_reason_; }
  uint32_t index() const { return index_; }

 private:
  struct Peer {
    PublicKey encryption_key{};
    PublicKey mask_key{};
    size_t slot = 0;      // index into the per-peer secret buffers
    bool shared = false;  // sent us shares (member of U2)
  };

  SecAggClient(const RoundConfig& config, uint32_t index, std::string device_id, Signer signer,
               const DeviceRegistry* registry);

  Status Abort(std::string reason);
  Result<std::vector<Message>> OnNeighbourKeys(const NeighbourKeys& m);
  Result<std::vector<Message>> OnForwardedShares(const ForwardedShares& m);
  Result<std::vector<Message>> OnUnmaskRequest(const UnmaskRequest& m);
  Status MaskInput(std::vector<uint64_t>& out);

  RoundConfig config_;
  uint32_t index_;
  std::string device_id_;
  Signer signer_;
  const DeviceRegistry* registry_;
  CommunicationGraph graph_;
  State state_ = State::kReady;
  std::string abort_reason_;
  std::vector<uint64_t> input_;

  // enc secret | mask secret | self-mask seed, 32 bytes each.
  SecureBuffer secrets_;
  // Per peer slot: 32-byte share encryption key, then the held shares (10 field elements).
  SecureBuffer peer_secrets_;
  std::unordered_map<uint32_t, Peer> peers_;
};

}  // namespace privedge::secagg
