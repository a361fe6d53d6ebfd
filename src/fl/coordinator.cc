#include "fl/coordinator.h"

#include <sodium.h>

#include <cmath>

namespace privedge::fl {

Result<std::unique_ptr<Coordinator>> Coordinator::Create(const TaskConfig& config,
                                                         std::vector<float> initial_model,
                                                         RoundStore& store, int64_t now_ms) {
  PE_RETURN_IF_ERROR(config.Validate());
  if (static_cast<int64_t>(initial_model.size()) != config.num_params)
    return InvalidArgument("initial model has ", initial_model.size(), " parameters, task '",
                           config.task_id, "' declares ", config.num_params);
  for (float v : initial_model)
    if (!std::isfinite(v)) return InvalidArgument("initial model has a non-finite parameter");
  std::unique_ptr<Coordinator> c(new Coordinator(config, store));
  PE_ASSIGN_OR_RETURN(c->strategy_,
                      MakeStrategy(config.strategy, config.num_params, config.clients_per_round));
  c->model_.version = 0;
  c->model_.round = 0;
  c->model_.digest = ModelDigest(initial_model);
  c->model_.params = std::move(initial_model);
  c->round_ = RoundState{1, 1, now_ms};
  PE_RETURN_IF_ERROR(
      store.CreateTask(config.task_id, SerializeTaskConfig(config), c->model_, c->round_));
  return c;
}

Result<std::unique_ptr<Coordinator>> Coordinator::Resume(RoundStore& store,
                                                         const std::string& task_id) {
  PE_ASSIGN_OR_RETURN(std::optional<TaskSnapshot> snap, store.LoadTask(task_id));
  if (!snap) return NotFound("no task '", task_id, "' in the store");
  PE_ASSIGN_OR_RETURN(TaskConfig config, ParseTaskConfig(snap->config_text));
  std::unique_ptr<Coordinator> c(new Coordinator(config, store));
  PE_ASSIGN_OR_RETURN(c->strategy_,
                      MakeStrategy(config.strategy, config.num_params, config.clients_per_round));
  // Before the first aggregation there is no optimizer state yet.
  if (!snap->strategy_state.empty())
    PE_RETURN_IF_ERROR(c->strategy_->RestoreState(snap->strategy_state));
  if (static_cast<int64_t>(snap->model.params.size()) != config.num_params)
    return InvalidArgument("stored model of task '", task_id, "' has ", snap->model.params.size(),
                           " parameters, expected ", config.num_params);
  if (ModelDigest(snap->model.params) != snap->model.digest)
    return Unauthenticated("stored model version ", snap->model.version, " of task '", task_id,
                           "' does not match its digest");
  c->model_ = std::move(snap->model);
  c->round_ = snap->round;
  c->devices_.insert(snap->devices.begin(), snap->devices.end());
  c->assigned_.insert(snap->assigned.begin(), snap->assigned.end());
  c->updates_ = std::move(snap->updates);
  for (const StoredUpdate& u : c->updates_) {  // the strategies index deltas without checks
    std::string detail;
    if (CheckUpdateContents(u.delta, config.num_params, u.num_examples, u.train_loss, 0, detail) !=
        RejectReason::kNone)
      return InvalidArgument("stored update of device '", u.device_id, "' in task '", task_id,
                             "' is damaged: ", detail);
  }
  for (const StoredUpdate& u : c->updates_) c->responded_.insert(u.device_id);
  if (c->async()) {
    // In flight: assigned and not yet answered; their clocks restart at the last aggregation.
    for (const std::string& d : c->responded_) c->assigned_.erase(d);
    c->responded_.clear();
    for (const std::string& d : c->assigned_) c->assigned_at_ms_[d] = c->round_.opened_at_ms;
  }
  c->nonces_.insert(snap->nonces.begin(), snap->nonces.end());
  c->counters_ = std::move(snap->counters);
  c->metrics_ = std::move(snap->metrics);
  if (snap->finished) c->phase_ = TaskPhase::kFinished;
  if (c->counter("task_failed") > 0) c->phase_ = TaskPhase::kFailed;
  // The SecAgg session of the attempt under way was in memory only.
  c->restart_abandon_pending_ = c->secure() && !c->assigned_.empty();
  return c;
}

int64_t Coordinator::counter(const std::string& name) const {
  auto it = counters_.find(name);
  return it == counters_.end() ? 0 : it->second;
}

int64_t Coordinator::selection_target() const {
  return static_cast<int64_t>(
      std::ceil(static_cast<double>(config_.clients_per_round) * config_.over_selection - 1e-9));
}

Status Coordinator::Count(const std::string& name) {
  PE_RETURN_IF_ERROR(store_.AddToCounter(config_.task_id, name, 1));
  counters_[name] += 1;
  return Status::OK();
}

Status Coordinator::EnrollDevice(const std::string& device_id) {
  if (device_id.empty() || device_id.size() > 256)
    return InvalidArgument("device id must be 1-256 bytes, got ", device_id.size());
  if (devices_.count(device_id)) return Status::OK();
  PE_RETURN_IF_ERROR(store_.AddDevice(config_.task_id, device_id));
  devices_.insert(device_id);
  return Status::OK();
}

Result<CheckInResponse> Coordinator::CheckIn(const std::string& device_id, int64_t now_ms) {
  PE_RETURN_IF_ERROR(OnTimer(now_ms));
  CheckInResponse r;
  r.retry_after_ms = std::max<int64_t>(1, deadline_ms() - now_ms);
  if (!devices_.count(device_id)) {
    PE_RETURN_IF_ERROR(Count("checkin_refused.unknown_device"));
    r.reason = "unknown device";
    return r;
  }
  if (phase_ != TaskPhase::kRunning) {
    r.reason = phase_ == TaskPhase::kFinished ? "task finished" : "task failed";
    r.retry_after_ms = config_.round_deadline_ms;
    return r;
  }
  const bool already = assigned_.count(device_id) > 0;
  if (async()) {
    if (!already && static_cast<int64_t>(assigned_.size()) >= selection_target()) {
      r.reason = "enough devices in flight";
      r.retry_after_ms = std::max<int64_t>(1, config_.round_deadline_ms / 10);
      return r;
    }
    PE_RETURN_IF_ERROR(store_.AssignDevice(config_.task_id, round_, device_id));
    assigned_.insert(device_id);
    assigned_at_ms_[device_id] = now_ms;
  } else if (already && responded_.count(device_id)) {
    r.reason = "already contributed to this round";
    return r;
  } else if (!already) {
    if (static_cast<int64_t>(assigned_.size()) >= selection_target()) {
      r.reason = "selection full";
      return r;
    }
    if (secure_) {
      r.reason = "secure aggregation session under way";
      return r;
    }
    if (secure() && !(registry_ && registry_->SigningKey(device_id))) {
      PE_RETURN_IF_ERROR(Count("checkin_refused.no_signing_key"));
      r.reason = "no signing key enrolled (needed for secure aggregation)";
      return r;
    }
    PE_RETURN_IF_ERROR(store_.AssignDevice(config_.task_id, round_, device_id));
    assigned_.insert(device_id);
  }
  r.assigned = true;
  r.assignment = Assignment{config_.task_id, round_.round,  round_.attempt,   device_id,
                            model_.version,  model_.digest, config_.training, secure()};
  if (secure() && !secure_ && static_cast<int64_t>(assigned_.size()) >= selection_target())
    PE_RETURN_IF_ERROR(OpenSecureRound(now_ms));
  return r;
}

SubmitResponse Coordinator::Reject(RejectReason reason, std::string detail) {
  return SubmitResponse{false, reason, std::move(detail)};
}

Result<SubmitResponse> Coordinator::Submit(const UpdateMessage& u, int64_t now_ms) {
  PE_RETURN_IF_ERROR(OnTimer(now_ms));
  SubmitResponse r = [&]() -> SubmitResponse {
    if (!devices_.count(u.device_id))
      return Reject(RejectReason::kUnknownDevice, "device '" + u.device_id + "' is not enrolled");
    if (u.task_id != config_.task_id)
      return Reject(RejectReason::kWrongTask,
                    "task '" + u.task_id + "' is not '" + config_.task_id + "'");
    if (phase_ != TaskPhase::kRunning || (!async() && u.round != round_.round))
      return Reject(RejectReason::kRoundClosed, "round " + std::to_string(u.round) +
                                                    " is not collecting (current round " +
                                                    std::to_string(round_.round) + ")");
    if (secure())
      return Reject(RejectReason::kSecureAggregationRequired,
                    "task '" + config_.task_id + "' runs secure aggregation: no plain updates");
    if (nonces_.count(u.nonce)) return Reject(RejectReason::kReplay, "nonce seen before");
    if (!assigned_.count(u.device_id))
      return Reject(RejectReason::kNotAssigned, "device was not selected for round " +
                                                    std::to_string(round_.round) + " attempt " +
                                                    std::to_string(round_.attempt));
    if (responded_.count(u.device_id))
      return Reject(RejectReason::kReplay, "device already sent an update this round");
    if (async() ? (u.base_version > model_.version ||
                   model_.version - u.base_version > config_.max_staleness)
                : u.base_version != model_.version)
      return Reject(RejectReason::kStaleVersion,
                    "trained on version " + std::to_string(u.base_version) + ", current is " +
                        std::to_string(model_.version));
    std::string detail;
    RejectReason reason = CheckUpdateContents(u.delta, config_.num_params, u.num_examples,
                                              u.train_loss, config_.max_update_norm, detail);
    return Reject(reason, detail);
  }();
  if (r.reason != RejectReason::kNone) {
    PE_RETURN_IF_ERROR(Count(std::string("rejected.") + RejectReasonName(r.reason)));
    if (r.reason != RejectReason::kRoundClosed) ++rejected_this_round_;
    // An assigned device that sent a bad update has answered; replays and late ones have not.
    if (r.reason >= RejectReason::kStaleVersion && assigned_.count(u.device_id)) {
      if (async()) {
        assigned_.erase(u.device_id);
        assigned_at_ms_.erase(u.device_id);
      } else {
        responded_.insert(u.device_id);
      }
    }
  } else {
    StoredUpdate s{u.device_id, round_.round, round_.attempt, u.base_version,
                   u.nonce,     u.delta,      u.num_examples, u.train_loss};
    PE_RETURN_IF_ERROR(store_.AcceptUpdate(config_.task_id, s));
    counters_["accepted"] += 1;
    nonces_.insert(u.nonce);
    if (async()) {
      assigned_.erase(u.device_id);
      assigned_at_ms_.erase(u.device_id);
    } else {
      responded_.insert(u.device_id);
    }
    updates_.push_back(std::move(s));
    r.accepted = true;
  }
  if (async()) {
    if (phase_ == TaskPhase::kRunning &&
        static_cast<int64_t>(updates_.size()) >= config_.async_buffer_size)
      PE_RETURN_IF_ERROR(Aggregate(now_ms, 0));
    return r;
  }
  const bool enough = static_cast<int64_t>(updates_.size()) >= config_.clients_per_round;
  const bool all_answered = static_cast<int64_t>(assigned_.size()) >= selection_target() &&
                            responded_.size() >= assigned_.size();
  if (phase_ == TaskPhase::kRunning && (enough || all_answered))
    PE_RETURN_IF_ERROR(CloseRound(now_ms, false));
  return r;
}

Status Coordinator::OnTimer(int64_t now_ms) {
  if (async()) return ExpireAssignments(now_ms);
  if (phase_ != TaskPhase::kRunning) return Status::OK();
  if (restart_abandon_pending_) {
    restart_abandon_pending_ = false;
    return AbandonSecure(now_ms, "secagg.restart_abandoned",
                         "the server restarted during the secure aggregation session");
  }
  if (now_ms >= deadline_ms()) return CloseRound(now_ms, true);
  if (!secure()) return Status::OK();
  if (!secure_ && now_ms >= selection_window_end_ms() &&
      static_cast<int64_t>(assigned_.size()) >= std::max<int64_t>(3, config_.min_clients))
    PE_RETURN_IF_ERROR(OpenSecureRound(now_ms));
  if (!secure_) return Status::OK();
  secure_->OnTimer(now_ms);
  return FinishSecureIfOver(now_ms);
}

int64_t Coordinator::next_timer_ms() const {
  int64_t next = deadline_ms();
  if (secure() && !secure_) next = std::min(next, selection_window_end_ms());
  if (secure_) next = std::min(next, secure_->stage_deadline_ms());
  return next;
}

Status Coordinator::OpenSecureRound(int64_t now_ms) {
  if (!registry_)
    return AbandonSecure(now_ms, "secagg.aborted", "no device registry for secure aggregation");
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  Result<std::unique_ptr<SecureRound>> opened = SecureRound::Open(
      config_, round_.round, round_.attempt,
      std::vector<std::string>(assigned_.begin(), assigned_.end()), *registry_, seed, now_ms);
  if (!opened.ok())
    return AbandonSecure(
        now_ms, "secagg.aborted",
        "cannot open the secure aggregation session: " + opened.status().message());
  secure_ = std::move(*opened);
  return Count("secagg.sessions");
}

Status Coordinator::FinishSecureIfOver(int64_t now_ms) {
  if (!secure_) return Status::OK();
  if (secure_->done()) return AggregateSecure(now_ms);
  if (secure_->aborted())
    return AbandonSecure(now_ms, "secagg.aborted",
                         "secure aggregation aborted: " + secure_->abort_reason());
  return Status::OK();
}

Status Coordinator::AbandonSecure(int64_t now_ms, const std::string& counter, std::string reason) {
  last_secure_abort_ = "round " + std::to_string(round_.round) + " attempt " +
                       std::to_string(round_.attempt) + ": " + std::move(reason);
  PE_RETURN_IF_ERROR(Count(counter));
  return Abandon(now_ms);
}

Result<SecureJoinResponse> Coordinator::JoinSecureRound(const std::string& device_id, int64_t round,
                                                        int64_t attempt, int64_t now_ms) {
  PE_RETURN_IF_ERROR(OnTimer(now_ms));
  SecureJoinResponse r;
  r.state = SecureJoinResponse::State::kRefused;
  if (!secure()) {
    r.reason = "task '" + config_.task_id + "' does not run secure aggregation";
    return r;
  }
  if (phase_ != TaskPhase::kRunning || round != round_.round || attempt != round_.attempt ||
      !assigned_.count(device_id)) {
    r.reason = "not selected for round " + std::to_string(round) + " attempt " +
               std::to_string(attempt) + " (current: round " + std::to_string(round_.round) +
               " attempt " + std::to_string(round_.attempt) + ")";
    if (!last_secure_abort_.empty()) r.reason += "; last abort: " + last_secure_abort_;
    return r;
  }
  if (!secure_) {
    r.state = SecureJoinResponse::State::kWait;
    r.reason = "waiting for the selection to close";
    r.retry_after_ms = std::max<int64_t>(1, next_timer_ms() - now_ms);
    return r;
  }
  std::optional<SecureRoundInfo> info = secure_->InfoFor(device_id);
  if (!info) {
    r.reason = "device '" + device_id + "' is not in the secure aggregation session";
    return r;
  }
  r.state = SecureJoinResponse::State::kJoined;
  r.info = std::move(*info);
  return r;
}

Result<SecureExchangeResponse> Coordinator::SecureExchange(
    const std::string& device_id, int64_t round, int64_t attempt,
    std::span<const std::vector<uint8_t>> to_server, int64_t now_ms) {
  PE_RETURN_IF_ERROR(OnTimer(now_ms));
  SecureExchangeResponse r;
  if (!secure_ || phase_ != TaskPhase::kRunning || round != round_.round ||
      attempt != round_.attempt) {
    r.finished = true;
    r.reason = "round " + std::to_string(round) + " attempt " + std::to_string(attempt) +
               " is no longer collecting";
    if (!last_secure_abort_.empty()) r.reason += " (last abort: " + last_secure_abort_ + ")";
    return r;
  }
  for (const std::vector<uint8_t>& bytes : to_server) {
    responded_.insert(device_id);
    Status st = secure_->Receive(device_id, bytes, now_ms);
    if (!st.ok()) {
      PE_RETURN_IF_ERROR(Count("secagg.messages_refused"));
      if (r.refused.empty()) r.refused = st.message();
    }
  }
  r.to_device = secure_->TakeOutbox(device_id);
  const bool aborted = secure_->aborted();
  PE_RETURN_IF_ERROR(FinishSecureIfOver(now_ms));
  if (!secure_) {
    r.finished = true;
    if (aborted) r.reason = last_secure_abort_;
  }
  return r;
}

Status Coordinator::ExpireAssignments(int64_t now_ms) {
  for (auto it = assigned_at_ms_.begin(); it != assigned_at_ms_.end();) {
    if (now_ms - it->second < config_.round_deadline_ms) {
      ++it;
      continue;
    }
    PE_RETURN_IF_ERROR(Count("assignments_expired"));
    assigned_.erase(it->first);
    it = assigned_at_ms_.erase(it);
  }
  return Status::OK();
}

Status Coordinator::CloseRound(int64_t now_ms, bool at_deadline) {
  if (secure()) {
    std::string where = secure_ ? "during the secure aggregation session"
                                : "before the secure aggregation session opened (" +
                                      std::to_string(assigned_.size()) + " devices selected)";
    return AbandonSecure(now_ms, "secagg.deadline", "round deadline passed " + where);
  }
  if (static_cast<int64_t>(updates_.size()) >= config_.min_clients) {
    const int64_t silent = static_cast<int64_t>(assigned_.size() - responded_.size());
    return Aggregate(now_ms, at_deadline ? silent : 0);
  }
  return Abandon(now_ms);
}

void Coordinator::ResetAttempt() {
  secure_.reset();
  assigned_.clear();
  responded_.clear();
  updates_.clear();
}

Status Coordinator::Abandon(int64_t now_ms) {
  RoundState next{round_.round, round_.attempt + 1, now_ms};
  if (next.attempt > config_.max_round_attempts) {
    PE_RETURN_IF_ERROR(Count("task_failed"));
    phase_ = TaskPhase::kFailed;
    return Status::OK();
  }
  PE_RETURN_IF_ERROR(Count("rounds_abandoned"));
  PE_RETURN_IF_ERROR(store_.AbandonRound(config_.task_id, next));
  round_ = next;
  ResetAttempt();
  return Status::OK();
}

Status Coordinator::Aggregate(int64_t now_ms, int64_t dropped) {
  std::vector<ClientUpdate> updates;
  double loss = 0, examples = 0;
  for (const StoredUpdate& s : updates_) {
    updates.push_back(ClientUpdate{s.device_id, s.delta, s.num_examples});
    if (async()) {  // FedBuff staleness weighting
      const double staleness = static_cast<double>(model_.version - s.base_version);
      const float scale = static_cast<float>(1.0 / std::sqrt(1.0 + staleness));
      for (float& v : updates.back().delta) v *= scale;
    }
    loss += s.train_loss * static_cast<double>(s.num_examples);
    examples += static_cast<double>(s.num_examples);
  }
  std::vector<float> params = model_.params;
  Status aggregated = strategy_->Aggregate(updates, params);
  if (!aggregated.ok()) {
    // Too few updates for a robust strategy: treat like too few updates.
    PE_RETURN_IF_ERROR(Count("aggregation_refused"));
    return Abandon(now_ms);
  }
  return Commit(std::move(params), now_ms, static_cast<int64_t>(updates_.size()), dropped,
                examples > 0 ? loss / examples : 0);
}

Status Coordinator::AggregateSecure(int64_t now_ms) {
  Result<AggregatedSum> sum = secure_->Sum();
  std::vector<float> params = model_.params;
  Status aggregated = sum.ok() ? strategy_->AggregateSum(*sum, params) : sum.status();
  if (!aggregated.ok()) return AbandonSecure(now_ms, "aggregation_refused", aggregated.message());
  PE_RETURN_IF_ERROR(Count("secagg.completed"));
  // Per-device losses are not sent under secure aggregation: the round reports none.
  return Commit(std::move(params), now_ms, sum->contributors,
                static_cast<int64_t>(assigned_.size()) - sum->contributors, 0.0);
}

Status Coordinator::Commit(std::vector<float> params, int64_t now_ms, int64_t participants,
                           int64_t dropped, double train_loss) {
  for (float v : params)
    if (!std::isfinite(v)) {
      PE_RETURN_IF_ERROR(Count("aggregation_non_finite"));
      return Abandon(now_ms);
    }
  StoredModel next_model{model_.version + 1, round_.round, ModelDigest(params), std::move(params)};
  RoundMetrics m;
  m.round = round_.round;
  m.model_version = next_model.version;
  m.attempts = round_.attempt;
  m.assigned = static_cast<int64_t>(assigned_.size());
  m.participants = participants;
  m.dropped = dropped;
  m.rejected = rejected_this_round_;
  m.train_loss = train_loss;
  const bool finished = round_.round >= config_.rounds;
  RoundState next{round_.round + 1, 1, now_ms};
  PE_RETURN_IF_ERROR(
      store_.CommitRound(config_.task_id, next_model, strategy_->SaveState(), m, next, finished));
  model_ = std::move(next_model);
  metrics_.push_back(m);
  round_ = next;
  rejected_this_round_ = 0;
  if (async()) {
    // Devices in flight keep their assignments across the aggregation.
    updates_.clear();
    for (const std::string& d : assigned_)
      PE_RETURN_IF_ERROR(store_.AssignDevice(config_.task_id, round_, d));
  } else {
    ResetAttempt();
  }
  if (finished) phase_ = TaskPhase::kFinished;
  return Status::OK();
}

Status Coordinator::RecordEvaluation(int64_t round, double test_accuracy, double test_loss) {
  for (RoundMetrics& m : metrics_)
    if (m.round == round) {
      m.test_accuracy = test_accuracy;
      m.test_loss = test_loss;
      m.evaluated = true;
      return store_.UpdateMetrics(config_.task_id, m);
    }
  return NotFound("task '", config_.task_id, "' has no completed round ", round);
}

}  // namespace privedge::fl
