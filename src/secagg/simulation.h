// An in-process SecAgg+ round: one server and n clients exchanging serialized messages, with
// clients dropping out at chosen stages. Used by tests, the benchmark and (later) `privedge
// simulate`. Every message goes through Serialize/Parse, so byte counts are real.
//
//   SimulationOptions opts{.config = config};
//   opts.input = [&](uint32_t u) { return inputs[u]; };
//   opts.drop_at.assign(n, kNeverDrops);
//   opts.drop_at[3] = 2;  // client 3 shares keys, then never sends its masked input
//   PE_ASSIGN_OR_RETURN(SimulationReport report, SimulateRound(opts));
//
// Thread-safety: one call runs one round on the calling thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "secagg/client.h"
#include "secagg/server.h"

namespace privedge::secagg {

inline constexpr int kNeverDrops = -1;

struct SimulationOptions {
  RoundConfig config;
  // The input of client u; called just before it masks (its input is not held before).
  std::function<std::vector<uint64_t>(uint32_t)> input;
  // Per client: the stage (0..3) from which it sends nothing more, or kNeverDrops. Empty: none.
  std::vector<int> drop_at;
  // Optional hooks that may alter a message in flight (tests of a hostile server or client).
  std::function<void(Message&)> server_to_client;
  std::function<void(Message&)> client_to_server;
};

struct SimulationReport {
  bool completed = false;     // the server reached kDone
  std::string server_abort;   // the server's reason when it aborted
  std::vector<uint64_t> sum;  // valid when completed
  std::vector<uint32_t> contributors;
  std::vector<std::string> client_aborts;  // per client, empty when it did not abort
  // Per client: CPU seconds in its state machine and codec (thread CPU time, not wall time).
  std::vector<double> client_seconds;
  std::vector<size_t> client_bytes_sent;  // per client
  std::vector<size_t> client_bytes_received;
  double server_seconds = 0;  // CPU seconds in the server's state machine and codec
};

// Runs one round. Errors: an invalid configuration or input (the round itself may abort: that
// is reported in the SimulationReport, not as an error).
Result<SimulationReport> SimulateRound(const SimulationOptions& options);

// A device identity for simulations: device id "device-<u>" with a fresh Ed25519 key,
// enrolled in `registry`.
struct SimulatedDevice {
  std::string device_id;
  Signer signer;
};
Result<std::vector<SimulatedDevice>> EnrollSimulatedDevices(uint32_t n,
                                                            InMemoryDeviceRegistry& registry);

}  // namespace privedge::secagg
