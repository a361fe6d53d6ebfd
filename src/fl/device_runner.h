// The device side of a federated task: a sans-I/O state machine.
//
// The driver (gRPC client, or the simulator) feeds it events and performs the actions it asks
// for; retries are explicit timer events, so nothing here sleeps or reads a clock.
//
//   DeviceRunner runner("dev-1", trainer, policy, backoff, seed);
//   DeviceAction a = runner.OnTimer(now, conditions);      // at runner.next_wake_ms()
//   if (a.kind == DeviceAction::kCheckIn)   -> send a check-in, then
//       a = runner.OnCheckIn(response, model_params, now);  // trains if assigned
//   if (a.kind == DeviceAction::kSendUpdate) -> send a.update, then
//       runner.OnSubmitResult(result, now) or runner.OnSendFailed(now)
//   (a check-in that cannot reach the server: runner.OnCheckInFailed(now))
//   if (a.kind == DeviceAction::kSecureAggregate) -> run the round's SecAgg session with
//       a.update (fl/secure_device.h), then runner.OnSecureAggregationDone(completed, why, now)
//
// States: kIdle (waiting for next_wake_ms) -> kCheckingIn -> kUploading -> kIdle. A failed
// send goes to kBackoff and resends the same update (same nonce) at the backoff timer; the
// delay doubles per failure up to a cap, with jitter. Policy hooks: with require_idle,
// require_charging or require_unmetered set, a timer that finds the device busy, on battery or
// on a metered network checks again after policy_recheck_ms without contacting the server.
//
// Thread-safety: none; one runner per device, driven from one thread.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "fl/coordinator.h"
#include "privedge/federated.h"

namespace privedge::fl {

struct DevicePolicy {
  bool require_idle = false;
  bool require_charging = false;
  bool require_unmetered = false;
  int64_t policy_recheck_ms = 60000;
};

// The device's state as the platform reports it (CLI flags stand in for it).
struct DeviceConditions {
  bool idle = true;
  bool charging = true;
  bool unmetered = true;
};

struct BackoffConfig {
  int64_t initial_ms = 1000;
  int64_t max_ms = 300000;
  double jitter = 0.2;  // each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter]
  int64_t max_send_attempts = 8;  // then the update is given up
};

struct DeviceAction {
  enum Kind { kNone, kCheckIn, kSendUpdate, kSecureAggregate } kind = kNone;
  UpdateMessage update;   // for kSendUpdate and kSecureAggregate
  Assignment assignment;  // for kSecureAggregate: the round attempt whose session to join
};

class DeviceRunner {
 public:
  enum class State { kIdle, kCheckingIn, kUploading, kBackoff, kSecureAggregating };

  // `seed` drives the nonces and the jitter; a real device passes fresh random bits.
  DeviceRunner(std::string device_id, LocalTrainer& trainer, DevicePolicy policy,
               BackoffConfig backoff, uint64_t seed);

  DeviceAction OnTimer(int64_t now_ms, const DeviceConditions& conditions);
  // The server's answer to a check-in, with the model downloaded when assigned. Verifies the
  // model against the assignment's digest, trains, and returns the update to send.
  DeviceAction OnCheckIn(const CheckInResponse& response, std::span<const float> model,
                         int64_t now_ms);
  void OnSubmitResult(const SubmitResponse& response, int64_t now_ms);
  void OnSendFailed(int64_t now_ms);
  // The check-in did not reach the server (offline): check in again after a backoff delay.
  void OnCheckInFailed(int64_t now_ms);
  // The secure aggregation session of a kSecureAggregate action ended: `completed` when the
  // device sent its last stage message, else `detail` says why (logged).
  void OnSecureAggregationDone(bool completed, const std::string& detail, int64_t now_ms);

  State state() const { return state_; }
  int64_t next_wake_ms() const { return next_wake_ms_; }
  const std::string& device_id() const { return device_id_; }
  // One line per notable event (rejections with their reason, training errors, give-ups).
  const std::vector<std::string>& log() const { return log_; }
  int64_t updates_accepted() const { return accepted_; }

 private:
  // Delay before retry number `failures` (>= 1): doubling, capped, jittered.
  int64_t BackoffDelay(int64_t failures);

  std::string device_id_;
  LocalTrainer& trainer_;
  DevicePolicy policy_;
  BackoffConfig backoff_;
  std::mt19937_64 rng_;
  State state_ = State::kIdle;
  int64_t next_wake_ms_ = 0;
  int64_t failures_ = 0;  // failed sends of the pending update
  int64_t checkin_failures_ = 0;
  UpdateMessage pending_;
  std::vector<std::string> log_;
  int64_t accepted_ = 0;
};

}  // namespace privedge::fl
