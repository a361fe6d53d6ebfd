// The simulator's driver of one round attempt's secure aggregation: real SecAggClient and
// SecAggServer state machines (through SecureDeviceSession and the Coordinator) exchanging
// serialized messages on the virtual clock, with chosen devices falling silent at a chosen
// stage.
//
// Thread-safety: none; called from the simulation loop.
#pragma once

#include <array>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "fl/coordinator.h"
#include "fl/device_runner.h"
#include "secagg/protocol.h"

namespace privedge::fl::sim {

struct SecureSessionDevice {
  DeviceRunner* runner = nullptr;
  DeviceAction action;    // its kSecureAggregate action (update and assignment)
  secagg::Signer signer;  // its enrolled Ed25519 identity
  int drop_stage = -1;    // sends nothing from this stage (0..3) on; -1: never drops
};

struct SecureSessionReport {
  int64_t silent = 0;     // devices that fell silent (dropped out)
  int64_t completed = 0;  // devices whose session ran to its last message
};

// Drives the session until the coordinator's round attempt is over (committed or abandoned),
// advancing `now_ms` to the coordinator's timers when no message moves. Every device's runner
// is told how its session ended. Errors: the store's, or a device failing to build its input.
Result<SecureSessionReport> RunSecureSession(Coordinator& coord,
                                             std::vector<SecureSessionDevice>& devices,
                                             std::mt19937_64& rng, int64_t& now_ms);

}  // namespace privedge::fl::sim
