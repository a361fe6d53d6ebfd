#include "fl/sim/simulation.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <tuple>

#include "fl/coordinator.h"
#include "fl/device_runner.h"
#include "fl/dp.h"
#include "fl/sim/linear_model.h"
#include "fl/sim/secure_session.h"
#include "fl/sim/session_trainer.h"
#include "secagg/simulation.h"

namespace privedge::fl::sim {
namespace {

// A byzantine device: trains honestly, then scales (or flips) its delta.
class AttackTrainer : public LocalTrainer {
 public:
  AttackTrainer(std::unique_ptr<LocalTrainer> honest, double factor)
      : honest_(std::move(honest)), factor_(static_cast<float>(factor)) {}
  Result<LocalTrainingResult> Train(std::span<const float> global,
                                    const TrainingConfig& config) override {
    PE_ASSIGN_OR_RETURN(LocalTrainingResult r, honest_->Train(global, config));
    for (float& v : r.delta) v *= factor_;
    return r;
  }

 private:
  std::unique_ptr<LocalTrainer> honest_;
  float factor_;
};

Status ValidateConfig(const SimulationConfig& c) {
  if (c.clients < 1 || c.clients > 1000000)
    return InvalidArgument("clients must be in [1, 1e6], got ", c.clients);
  if (c.rounds < 1) return InvalidArgument("rounds must be >= 1, got ", c.rounds);
  if (!(c.fraction > 0 && c.fraction <= 1))
    return InvalidArgument("fraction must be in (0, 1], got ", c.fraction);
  if (!(c.dropout >= 0 && c.dropout < 1))
    return InvalidArgument("dropout must be in [0, 1), got ", c.dropout);
  if (!(c.byzantine_fraction >= 0 && c.byzantine_fraction < 0.5))
    return InvalidArgument("byzantine fraction must be in [0, 0.5), got ", c.byzantine_fraction);
  if (c.attack != "scale" && c.attack != "signflip")
    return InvalidArgument("attack must be scale or signflip, got '", c.attack, "'");
  if (!(c.attack_scale > 0 && std::isfinite(c.attack_scale)))
    return InvalidArgument("attack scale must be > 0, got ", c.attack_scale);
  if (!(c.momentum >= 0 && c.momentum < 1))
    return InvalidArgument("momentum must be in [0, 1), got ", c.momentum);
  if (c.threads < 1 || c.threads > 256)
    return InvalidArgument("threads must be in [1, 256], got ", c.threads);
  if (c.secagg_drop_stage < -1 || c.secagg_drop_stage > 3)
    return InvalidArgument("secure aggregation drop stage must be in [-1, 3], got ",
                           c.secagg_drop_stage);
  return Status::OK();
}

}  // namespace

Result<SimulationResult> RunSimulation(const SimulationConfig& config, const Dataset& train,
                                       const Dataset& test, const SimulationCallbacks& callbacks) {
  PE_RETURN_IF_ERROR(ValidateConfig(config));
  std::mt19937_64 rng(config.seed);
  PE_ASSIGN_OR_RETURN(auto parts, Partition(train, config.clients, config.partition, rng));

  std::unique_ptr<SessionModel> session;
  if (!config.model_path.empty()) {
    SessionModelOptions options;
    options.momentum = static_cast<float>(config.momentum);
    options.proximal_mu = static_cast<float>(config.training.proximal_mu);
    options.threads = config.threads;
    PE_ASSIGN_OR_RETURN(session,
                        SessionModel::Create(config.model_path, train.rows, train.cols, options));
  }
  auto evaluate = [&](std::span<const float> params) -> Result<Evaluation> {
    if (session) return session->Evaluate(params, test);
    return EvaluateLinearModel(params, test);
  };

  TaskConfig task;
  task.task_id = "simulation";
  task.model_id = session ? "onnx-session" : "linear-softmax";
  task.num_params = session ? session->num_params() : LinearModelParams(train);
  task.training = config.training;
  task.strategy = config.strategy;
  task.rounds = config.rounds;
  task.clients_per_round =
      std::max<int64_t>(1, std::llround(config.fraction * static_cast<double>(config.clients)));
  task.over_selection = config.over_selection;
  task.min_clients = config.min_clients > 0 ? config.min_clients
                                            : std::max<int64_t>(1, task.clients_per_round / 2);
  task.round_deadline_ms = config.round_deadline_ms;
  task.max_update_norm = config.max_update_norm;
  task.async_buffer_size = config.async_buffer_size;
  task.max_staleness = config.max_staleness;
  task.secure_aggregation = config.secure_aggregation;
  const bool secure = SecureAggregationOn(task);
  const bool dp = config.strategy.name == "dpfedavg";
  if (dp && config.async_buffer_size > 0)
    return InvalidArgument("dpfedavg runs synchronous rounds only, not with an async buffer");
  std::optional<PrivacyLedger> ledger;
  if (dp) {
    PE_RETURN_IF_ERROR(task.Validate());
    PE_ASSIGN_OR_RETURN(ledger, PrivacyLedger::Create(task, config.clients));
  }
  MemoryRoundStore store;
  int64_t now = 0;
  PE_ASSIGN_OR_RETURN(
      auto coord, Coordinator::Create(task,
                          session ? session->InitialWeights()
                                  : std::vector<float>(task.num_params, 0.0f),
                          store, now));
  // Device identities (Ed25519, "device-<i>") for secure aggregation, and its own random
  // stream so the rest of the run draws the same numbers as without it.
  secagg::InMemoryDeviceRegistry registry;
  std::vector<secagg::SimulatedDevice> identities;
  std::mt19937_64 secure_rng(config.seed ^ 0x5ecA66ULL);
  if (secure) {
    PE_ASSIGN_OR_RETURN(identities, secagg::EnrollSimulatedDevices(
                                        static_cast<uint32_t>(config.clients), registry));
    coord->SetDeviceRegistry(&registry);
  }

  std::vector<int64_t> order(config.clients);
  for (int64_t i = 0; i < config.clients; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  const auto attackers =
      static_cast<int64_t>(std::llround(config.byzantine_fraction * config.clients));
  std::vector<bool> is_attacker(config.clients, false);
  for (int64_t k = 0; k < attackers; ++k) is_attacker[order[k]] = true;

  std::vector<std::unique_ptr<LocalTrainer>> trainers;
  std::vector<std::unique_ptr<DeviceRunner>> runners;
  for (int64_t i = 0; i < config.clients; ++i) {
    std::unique_ptr<LocalTrainer> t;
    if (session)
      t = std::make_unique<SessionTrainer>(*session, train, parts[i], rng());
    else
      t = std::make_unique<LinearModelTrainer>(train, parts[i], rng());
    if (is_attacker[i])
      t = std::make_unique<AttackTrainer>(
          std::move(t), config.attack == "scale" ? config.attack_scale : -config.attack_scale);
    if (dp && config.strategy.dp_mode != "central") {  // the device adds its own noise
      std::array<uint8_t, privacy::SecureRandom::kSeedBytes> key{};
      for (auto& k : key) k = static_cast<uint8_t>(rng());
      t = std::make_unique<DpDeviceTrainer>(std::move(t), task.strategy, task.num_params,
                                            task.clients_per_round,
                                            std::make_unique<privacy::SecureRandom>(key));
    }
    trainers.push_back(std::move(t));
    runners.push_back(std::make_unique<DeviceRunner>(
        "device-" + std::to_string(i), *trainers.back(), DevicePolicy{}, BackoffConfig{}, rng()));
    PE_RETURN_IF_ERROR(coord->EnrollDevice(runners.back()->device_id()));
  }

  SimulationResult result;
  SimulationRound current;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const DeviceConditions conditions;
  const int64_t target = coord->selection_target();
  int64_t late_before = 0;

  auto submit = [&](DeviceRunner& runner, const UpdateMessage& update) -> Status {
    PE_ASSIGN_OR_RETURN(SubmitResponse r, coord->Submit(update, now));
    runner.OnSubmitResult(r, now);
    return Status::OK();
  };

  // Evaluates the version the last aggregation produced and reports the round.
  auto record_round = [&]() -> Status {
    const RoundMetrics& m = coord->metrics().back();
    PE_ASSIGN_OR_RETURN(const Evaluation e, evaluate(coord->model().params));
    PE_RETURN_IF_ERROR(coord->RecordEvaluation(m.round, e.accuracy, e.loss));
    const int64_t late_now = coord->counter("rejected.round_closed");
    current.round = m.round;
    current.attempts = m.attempts;
    current.assigned = m.assigned;
    current.participants = m.participants;
    current.rejected = m.rejected;
    current.late = late_now - late_before;
    current.train_loss = m.train_loss;
    current.test_accuracy = e.accuracy;
    current.test_loss = e.loss;
    if (ledger) {
      PE_RETURN_IF_ERROR(ledger->RecordRound(m.participants));
      PE_ASSIGN_OR_RETURN(current.epsilon, ledger->Epsilon());
      const std::vector<float> state = coord->strategy().SaveState();
      current.clip_norm = state.empty() ? config.strategy.dp_clip_norm : state[0];
    }
    late_before = late_now;
    result.rounds.push_back(current);
    if (callbacks.round_done) callbacks.round_done(current);
    current = SimulationRound{};
    return Status::OK();
  };

  if (task.async_buffer_size > 0) {
    // FedBuff: devices train on the current version when they start and deliver after a random
    // 10-1000 ms; the coordinator aggregates every K updates, so slow devices arrive stale.
    std::uniform_int_distribution<int64_t> duration(10, 1000);
    std::vector<std::tuple<int64_t, int64_t, UpdateMessage>> in_flight;  // arrival, device, update
    while (coord->phase() == TaskPhase::kRunning) {
      const size_t rounds_done = coord->metrics().size();
      PE_RETURN_IF_ERROR(coord->OnTimer(now));
      // Dropped devices resend when their backoff fires, by then often too stale.
      for (auto& runner : runners)
        if (runner->state() == DeviceRunner::State::kBackoff && runner->next_wake_ms() <= now) {
          DeviceAction a = runner->OnTimer(now, conditions);
          if (a.kind == DeviceAction::kSendUpdate) PE_RETURN_IF_ERROR(submit(*runner, a.update));
        }
      std::vector<int64_t> idle;
      for (int64_t i = 0; i < config.clients; ++i)
        if (runners[i]->state() == DeviceRunner::State::kIdle && runners[i]->next_wake_ms() <= now)
          idle.push_back(i);
      std::shuffle(idle.begin(), idle.end(), rng);
      for (int64_t i : idle) {
        if (static_cast<int64_t>(in_flight.size()) >= target) break;
        DeviceAction a = runners[i]->OnTimer(now, conditions);
        if (a.kind != DeviceAction::kCheckIn) continue;
        PE_ASSIGN_OR_RETURN(CheckInResponse response, coord->CheckIn(runners[i]->device_id(), now));
        a = runners[i]->OnCheckIn(response, coord->model().params, now);
        if (a.kind == DeviceAction::kSendUpdate)
          in_flight.emplace_back(now + duration(rng), i, std::move(a.update));
      }
      if (in_flight.empty()) {  // nobody can start yet: skip to the next device timer
        int64_t wake = INT64_MAX;
        for (auto& runner : runners)
          if (runner->next_wake_ms() > now) wake = std::min(wake, runner->next_wake_ms());
        if (wake == INT64_MAX) return Internal("async simulation stalled: no device can run");
        now = wake;
        continue;
      }
      auto next = std::min_element(
          in_flight.begin(), in_flight.end(),
          [](const auto& x, const auto& y) { return std::get<0>(x) < std::get<0>(y); });
      auto [arrival, i, update] = std::move(*next);
      in_flight.erase(next);
      now = std::max(now, arrival);
      current.attackers += is_attacker[i];
      if (uniform(rng) < config.dropout) {
        runners[i]->OnSendFailed(now);
        ++current.dropped;
      } else {
        PE_RETURN_IF_ERROR(submit(*runners[i], update));
      }
      if (coord->metrics().size() > rounds_done) PE_RETURN_IF_ERROR(record_round());
    }
  }
  while (coord->phase() == TaskPhase::kRunning) {
    if (ledger) {
      PE_ASSIGN_OR_RETURN(bool fits, ledger->NextRoundFits());
      if (!fits) {
        PE_ASSIGN_OR_RETURN(double spent, ledger->Epsilon());
        result.budget_exhausted = true;
        result.stop_reason = "privacy budget: round " + std::to_string(coord->round_state().round) +
                             " would take epsilon above the target " +
                             std::to_string(config.strategy.dp_target_epsilon) + " (spent " +
                             std::to_string(spent) + " after " + std::to_string(ledger->rounds()) +
                             " rounds); task stopped";
        break;
      }
    }
    const size_t rounds_done = coord->metrics().size();
    const RoundState attempt = coord->round_state();
    // Devices that dropped out earlier resend when their backoff timer fires: too late.
    for (auto& runner : runners)
      if (runner->state() == DeviceRunner::State::kBackoff && runner->next_wake_ms() <= now) {
        DeviceAction a = runner->OnTimer(now, conditions);
        if (a.kind == DeviceAction::kSendUpdate) PE_RETURN_IF_ERROR(submit(*runner, a.update));
      }
    std::vector<int64_t> candidates;
    for (int64_t i = 0; i < config.clients; ++i)
      if (runners[i]->state() == DeviceRunner::State::kIdle && runners[i]->next_wake_ms() <= now)
        candidates.push_back(i);
    std::shuffle(candidates.begin(), candidates.end(), rng);
    if (static_cast<int64_t>(candidates.size()) > target) candidates.resize(target);

    std::vector<std::pair<int64_t, UpdateMessage>> outbox;
    std::vector<SecureSessionDevice> secure_devices;
    int64_t done = 0;
    for (int64_t i : candidates) {
      DeviceRunner& runner = *runners[i];
      DeviceAction a = runner.OnTimer(now, conditions);
      if (a.kind != DeviceAction::kCheckIn) continue;
      PE_ASSIGN_OR_RETURN(CheckInResponse response, coord->CheckIn(runner.device_id(), now));
      a = runner.OnCheckIn(response, coord->model().params, now);
      if (a.kind == DeviceAction::kSendUpdate) outbox.emplace_back(i, std::move(a.update));
      if (a.kind == DeviceAction::kSecureAggregate) {
        current.attackers += is_attacker[i];
        secure_devices.push_back(
            SecureSessionDevice{&runner, std::move(a), identities[i].signer, -1});
      }
      if (callbacks.progress)
        callbacks.progress(coord->round_state().round, ++done,
                           static_cast<int64_t>(candidates.size()));
    }
    std::shuffle(outbox.begin(), outbox.end(), rng);
    for (auto& [i, update] : outbox) {
      ++now;
      current.attackers += is_attacker[i];
      if (uniform(rng) < config.dropout) {
        runners[i]->OnSendFailed(now);
        ++current.dropped;
        continue;
      }
      PE_RETURN_IF_ERROR(submit(*runners[i], update));
    }
    // The same draws as the plain path's, so a run differs from its plain twin only by the
    // secure aggregation itself.
    std::shuffle(secure_devices.begin(), secure_devices.end(), rng);
    for (SecureSessionDevice& d : secure_devices)
      if (uniform(rng) < config.dropout)
        d.drop_stage = config.secagg_drop_stage >= 0 ? config.secagg_drop_stage
                                                     : static_cast<int>(secure_rng() % 4);
    if (!secure_devices.empty()) {
      PE_ASSIGN_OR_RETURN(SecureSessionReport sr,
                          RunSecureSession(*coord, secure_devices, secure_rng, now));
      current.dropped += sr.silent;
    }
    // An attempt still open (a secure one may have been abandoned already) waits out its deadline.
    if (coord->metrics().size() == rounds_done && coord->phase() == TaskPhase::kRunning &&
        coord->round_state().attempt == attempt.attempt) {
      now = std::max(now, coord->deadline_ms());
      PE_RETURN_IF_ERROR(coord->OnTimer(now));
    }
    ++now;
    if (coord->metrics().size() == rounds_done) continue;  // abandoned: the round retries

    PE_RETURN_IF_ERROR(record_round());
  }
  result.counters = coord->counters();
  result.final_model = coord->model().params;
  result.final_digest = coord->model().digest;
  result.task_failed = coord->phase() == TaskPhase::kFailed;
  if (ledger) {
    result.sampling_rate = ledger->sampling_rate();
    result.accounting_noise_multiplier = ledger->accounting_noise_multiplier();
  }
  return result;
}

}  // namespace privedge::fl::sim
