#include "fl/device_runner.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace privedge::fl {

DeviceRunner::DeviceRunner(std::string device_id, LocalTrainer& trainer, DevicePolicy policy,
                           BackoffConfig backoff, uint64_t seed)
    : device_id_(std::move(device_id)),
      trainer_(trainer),
      policy_(policy),
      backoff_(backoff),
      rng_(seed) {}

DeviceAction DeviceRunner::OnTimer(int64_t now_ms, const DeviceConditions& c) {
  if (now_ms < next_wake_ms_) return {};
  if (state_ == State::kBackoff) {
    state_ = State::kUploading;
    return {DeviceAction::kSendUpdate, pending_, {}};
  }
  if (state_ != State::kIdle) return {};
  if ((policy_.require_idle && !c.idle) || (policy_.require_charging && !c.charging) ||
      (policy_.require_unmetered && !c.unmetered)) {
    next_wake_ms_ = now_ms + policy_.policy_recheck_ms;
    return {};
  }
  state_ = State::kCheckingIn;
  return {DeviceAction::kCheckIn, {}, {}};
}

DeviceAction DeviceRunner::OnCheckIn(const CheckInResponse& r, std::span<const float> model,
                                     int64_t now_ms) {
  state_ = State::kIdle;
  checkin_failures_ = 0;
  if (!r.assigned) {
    next_wake_ms_ = now_ms + std::max<int64_t>(1, r.retry_after_ms);
    return {};
  }
  const Assignment& a = r.assignment;
  next_wake_ms_ = now_ms + 1;
  if (ModelDigest(model) != a.model_digest) {
    log_.push_back("round " + std::to_string(a.round) +
                   ": model does not match its digest; skipped");
    return {};
  }
  Result<LocalTrainingResult> trained = trainer_.Train(model, a.training);
  if (!trained.ok()) {
    log_.push_back("round " + std::to_string(a.round) +
                   ": training failed: " + trained.status().ToString());
    return {};
  }
  pending_ = UpdateMessage{a.task_id,
                           a.round,
                           device_id_,
                           a.base_version,
                           rng_(),
                           std::move(trained->delta),
                           trained->num_examples,
                           trained->train_loss};
  failures_ = 0;
  if (a.secure_aggregation) {
    // The update leaves the runner for the SecAgg session; nothing is kept for resending.
    state_ = State::kSecureAggregating;
    return {DeviceAction::kSecureAggregate, std::exchange(pending_, UpdateMessage{}), a};
  }
  state_ = State::kUploading;
  return {DeviceAction::kSendUpdate, pending_, {}};
}

void DeviceRunner::OnSecureAggregationDone(bool completed, const std::string& detail,
                                           int64_t now_ms) {
  state_ = State::kIdle;
  next_wake_ms_ = now_ms + 1;
  if (completed)
    ++accepted_;
  else
    log_.push_back("secure aggregation did not complete: " + detail);
}

void DeviceRunner::OnSubmitResult(const SubmitResponse& r, int64_t now_ms) {
  state_ = State::kIdle;
  next_wake_ms_ = now_ms + 1;
  // A replay refusal after a resend means the first copy got through.
  if (r.accepted || (failures_ > 0 && r.reason == RejectReason::kReplay)) {
    ++accepted_;
  } else {
    log_.push_back("round " + std::to_string(pending_.round) + ": update rejected (" +
                   RejectReasonName(r.reason) + "): " + r.detail);
  }
  pending_ = UpdateMessage{};
}

void DeviceRunner::OnSendFailed(int64_t now_ms) {
  ++failures_;
  if (failures_ >= backoff_.max_send_attempts) {
    log_.push_back("round " + std::to_string(pending_.round) + ": gave up after " +
                   std::to_string(failures_) + " failed sends");
    state_ = State::kIdle;
    next_wake_ms_ = now_ms + backoff_.max_ms;
    pending_ = UpdateMessage{};
    return;
  }
  state_ = State::kBackoff;
  next_wake_ms_ = now_ms + BackoffDelay(failures_);
}

void DeviceRunner::OnCheckInFailed(int64_t now_ms) {
  ++checkin_failures_;
  state_ = State::kIdle;
  next_wake_ms_ = now_ms + BackoffDelay(checkin_failures_);
}

int64_t DeviceRunner::BackoffDelay(int64_t failures) {
  const double exponent = static_cast<double>(std::min<int64_t>(failures - 1, 40));
  const double base = std::min(static_cast<double>(backoff_.max_ms),
                               static_cast<double>(backoff_.initial_ms) * std::exp2(exponent));
  std::uniform_real_distribution<double> u(1 - backoff_.jitter, 1 + backoff_.jitter);
  return std::max<int64_t>(1, static_cast<int64_t>(base * u(rng_)));
}

}  // namespace privedge::fl
