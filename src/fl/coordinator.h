// The server's round coordinator: a sans-I/O state machine.
//
// Inputs are events with explicit timestamps (milliseconds on any monotonic clock the driver
// chooses): a device checks in, a device submits an update, a timer fires. Outputs are the
// responses to send back. The coordinator never reads a clock, a socket or a file; every state
// change goes through the RoundStore before the response is returned, so a coordinator rebuilt
// with Resume continues the same round with every acknowledged update.
//
//   MemoryRoundStore store;
//   PE_ASSIGN_OR_RETURN(auto coord, Coordinator::Create(task, initial_params, store, now));
//   PE_RETURN_IF_ERROR(coord->EnrollDevice("dev-1"));
//   PE_ASSIGN_OR_RETURN(CheckInResponse r, coord->CheckIn("dev-1", now));
//   if (r.assigned) { ... train on coord->model().params, then:
//     PE_ASSIGN_OR_RETURN(SubmitResponse s, coord->Submit(update, now)); }
//   PE_RETURN_IF_ERROR(coord->OnTimer(now));   // at coord->deadline_ms()
//
// A round: devices that check in are assigned the round until ceil(clients_per_round *
// over_selection) are; the round closes as soon as clients_per_round updates were accepted, or
// when every assigned device answered, or at the deadline (opened_at + round_deadline_ms). At
// close it aggregates if at least min_clients updates were accepted; otherwise the attempt is
// abandoned and the round is retried with a fresh selection (up to max_round_attempts, then
// the task fails). Errors (Status) only come from the store; refused updates are responses.
//
// With TaskConfig::async_buffer_size > 0 the coordinator runs FedBuff instead: no rounds to
// close, devices in flight on any recent version, an aggregation every K accepted updates with
// staleness-weighted deltas (see federated.h). Replays, unknown devices and the content checks
// work as in synchronous mode; the round named in an update is not checked, its base version is.
//
// With TaskConfig::secure_aggregation on, a round attempt opens a SecAgg session among its
// selected devices once the selection is full (or, with at least max(3, min_clients) devices,
// a quarter of the round deadline after the attempt opened). Each device trains, joins
// (JoinSecureRound: its index and the session's public parameters) and exchanges the stage
// messages (SecureExchange); plain updates are refused. When the session completes the
// strategy receives the unmasked sum (Strategy::AggregateSum) and the round commits as usual;
// when it aborts (too few devices left at a stage, or the round deadline) the attempt is
// abandoned with the reason (last_secure_abort()) and retried. Nothing of a device's update
// reaches the store; the session lives in memory, so a coordinator rebuilt by Resume in the
// middle of a session abandons that attempt (counter secagg.restart_abandoned) and retries.
//
// Thread-safety: none; drive one coordinator from one thread (or lock around it).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fl/round_store.h"
#include "fl/secure_round.h"
#include "fl/strategy.h"
#include "fl/validation.h"
#include "privedge/federated.h"

namespace privedge::fl {

// A task assignment, bound to (task, round, attempt, device, base model version).
struct Assignment {
  std::string task_id;
  int64_t round = 0;
  int64_t attempt = 0;
  std::string device_id;
  int64_t base_version = 0;
  std::string model_digest;  // the device checks the model it downloads against this
  TrainingConfig training;
  bool secure_aggregation = false;  // join the round's SecAgg session instead of submitting
};

struct CheckInResponse {
  bool assigned = false;
  Assignment assignment;       // when assigned
  int64_t retry_after_ms = 0;  // when not: check in again after this long
  std::string reason;          // when not: "selection full", "unknown device", "task finished"
};

// What a device sends back. The nonce is random per update; a nonce seen before is a replay.
struct UpdateMessage {
  std::string task_id;
  int64_t round = 0;
  std::string device_id;
  int64_t base_version = 0;
  uint64_t nonce = 0;
  std::vector<float> delta;
  int64_t num_examples = 0;
  double train_loss = 0;
};

struct SubmitResponse {
  bool accepted = false;
  RejectReason reason = RejectReason::kNone;
  std::string detail;
};

// A selected device's request for its place in the round's SecAgg session.
struct SecureJoinResponse {
  enum class State { kJoined, kWait, kRefused } state = State::kWait;
  SecureRoundInfo info;        // kJoined
  int64_t retry_after_ms = 0;  // kWait: the session opens when the selection closes
  std::string reason;          // kRefused, kWait
};

// The server's side of one exchange of SecAgg stage messages with a device.
struct SecureExchangeResponse {
  std::vector<std::vector<uint8_t>> to_device;  // server messages for the device, in order
  bool finished = false;  // the session is over for this device (it need not poll again)
  std::string reason;     // when finished without the round completing: why
  std::string refused;    // a message of the device the server refused, and why
};

enum class TaskPhase { kRunning, kFinished, kFailed };

class Coordinator {
 public:
  // Validates the config and the initial model (num_params floats, all finite), creates the task
  // in the store and opens round 1 at now_ms.
  static Result<std::unique_ptr<Coordinator>> Create(const TaskConfig& config,
                                                     std::vector<float> initial_model,
                                                     RoundStore& store, int64_t now_ms);
  // Rebuilds the coordinator of `task_id` from the store (after a restart). NotFound when the
  // store has no such task.
  static Result<std::unique_ptr<Coordinator>> Resume(RoundStore& store, const std::string& task_id);

  // Adds a device to the task's enrolled devices (idempotent).
  Status EnrollDevice(const std::string& device_id);
  // Secure aggregation: the enrolled devices' Ed25519 signing keys (must outlive the
  // coordinator). Devices without a key are not selected while secure aggregation is on.
  void SetDeviceRegistry(const secagg::DeviceRegistry* registry) { registry_ = registry; }

  Result<CheckInResponse> CheckIn(const std::string& device_id, int64_t now_ms);
  Result<SubmitResponse> Submit(const UpdateMessage& update, int64_t now_ms);
  // The timer event: closes the round if its deadline passed. Calling it early is harmless.
  Status OnTimer(int64_t now_ms);
  // Secure aggregation: a device assigned to (round, attempt) asks for its place in the session.
  Result<SecureJoinResponse> JoinSecureRound(const std::string& device_id, int64_t round,
                                             int64_t attempt, int64_t now_ms);
  // Secure aggregation: the device's stage messages (secagg codec bytes; none to just poll)
  // and the server's messages for it. Errors (Status) only come from the store.
  Result<SecureExchangeResponse> SecureExchange(const std::string& device_id, int64_t round,
                                                int64_t attempt,
                                                std::span<const std::vector<uint8_t>> to_server,
                                                int64_t now_ms);
  // The next time OnTimer has work to do (a stage deadline, the selection window, the round
  // deadline), for drivers on a virtual clock.
  int64_t next_timer_ms() const;
  const std::string& last_secure_abort() const { return last_secure_abort_; }
  bool secure_session_open() const { return secure_ != nullptr; }

  // Records the evaluation of the model produced by `round` in its metrics.
  Status RecordEvaluation(int64_t round, double test_accuracy, double test_loss);

  const TaskConfig& config() const { return config_; }
  TaskPhase phase() const { return phase_; }
  const RoundState& round_state() const { return round_; }
  int64_t deadline_ms() const { return round_.opened_at_ms + config_.round_deadline_ms; }
  const StoredModel& model() const { return model_; }
  const Strategy& strategy() const { return *strategy_; }
  const std::vector<RoundMetrics>& metrics() const { return metrics_; }
  const std::map<std::string, int64_t>& counters() const { return counters_; }
  int64_t counter(const std::string& name) const;
  int64_t accepted_in_attempt() const { return static_cast<int64_t>(updates_.size()); }
  int64_t assigned_in_attempt() const { return static_cast<int64_t>(assigned_.size()); }
  int64_t selection_target() const;

 private:
  Coordinator(TaskConfig config, RoundStore& store) : config_(std::move(config)), store_(store) {}
  Status Count(const std::string& name);
  SubmitResponse Reject(RejectReason reason, std::string detail);
  Status CloseRound(int64_t now_ms, bool at_deadline);
  Status Aggregate(int64_t now_ms, int64_t dropped);
  Status AggregateSecure(int64_t now_ms);
  Status Commit(std::vector<float> params, int64_t now_ms, int64_t participants, int64_t dropped,
                double train_loss);
  bool secure() const { return SecureAggregationOn(config_); }
  int64_t selection_window_end_ms() const {
    return round_.opened_at_ms + std::max<int64_t>(1, config_.round_deadline_ms / 4);
  }
  Status OpenSecureRound(int64_t now_ms);
  Status FinishSecureIfOver(int64_t now_ms);
  Status AbandonSecure(int64_t now_ms, const std::string& counter, std::string reason);
  Status Abandon(int64_t now_ms);
  void ResetAttempt();
  bool async() const { return config_.async_buffer_size > 0; }
  Status ExpireAssignments(int64_t now_ms);

  TaskConfig config_;
  RoundStore& store_;
  std::unique_ptr<Strategy> strategy_;
  TaskPhase phase_ = TaskPhase::kRunning;
  RoundState round_;
  StoredModel model_;
  std::set<std::string> devices_;
  std::set<std::string> assigned_;
  std::set<std::string> responded_;  // assigned devices that sent anything this attempt
  std::map<std::string, int64_t> assigned_at_ms_;  // FedBuff: when each in-flight device started
  std::vector<StoredUpdate> updates_;
  std::set<uint64_t> nonces_;
  std::map<std::string, int64_t> counters_;
  std::vector<RoundMetrics> metrics_;
  int64_t rejected_this_round_ = 0;
  const secagg::DeviceRegistry* registry_ = nullptr;
  std::unique_ptr<SecureRound> secure_;  // this attempt's SecAgg session, once open
  std::string last_secure_abort_;
  bool restart_abandon_pending_ = false;  // resumed mid-session: abandon at the next event
};

}  // namespace privedge::fl
