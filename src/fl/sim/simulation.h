// In-process federated simulation: one Coordinator and N virtual devices (DeviceRunner +
// LinearModelTrainer, or SessionTrainer on an ONNX model), driven on a virtual clock with
// in-process message passing.
//
//   SimulationConfig config;  config.clients = 100; config.fraction = 0.1; ...
//   PE_ASSIGN_OR_RETURN(SimulationResult r, RunSimulation(config, train, test, callbacks));
//
// A round: a random sample of ceil(fraction * clients * over_selection) idle devices checks in
// at the round's opening time; each assigned device trains and sends its update, except that a
// device drops out with probability `dropout` (its send fails and it retries later with
// backoff, arriving after the round closed). Updates arrive one per virtual millisecond in
// random order; the coordinator closes the round early when enough arrived, otherwise the
// driver fires the deadline timer. Byzantine devices (a fixed random byzantine_fraction of the
// fleet) multiply their honest delta by attack_scale ("scale") or by -attack_scale
// ("signflip"). The whole run is a function of the config (seed included). With
// async_buffer_size > 0 the run is asynchronous (FedBuff) instead; a "round" is an aggregation.
// With strategy dpfedavg (synchronous only) devices privatize their deltas as the mode asks
// (fl/dp.h), a PrivacyLedger reports epsilon after every round, and the run stops before a
// round that would exceed strategy.dp_target_epsilon. With secure_aggregation on (synchronous
// only) every device has an Ed25519 identity, and each round attempt runs a real SecAgg
// session (fl/sim/secure_session.h): a device that drops out (probability `dropout`) falls
// silent at stage secagg_drop_stage (0 advertise keys .. 3 unmask; -1: a random stage) instead
// of failing its send.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "fl/sim/dataset.h"
#include "privedge/federated.h"

namespace privedge::fl::sim {

struct SimulationConfig {
  int64_t clients = 100;
  int64_t rounds = 10;
  double fraction = 0.1;  // clients per round = max(1, round(fraction * clients))
  double over_selection = 1.3;
  int64_t min_clients = 0;  // 0: half the clients per round (at least 1)
  int64_t round_deadline_ms = 60000;
  TrainingConfig training;
  StrategyConfig strategy;
  std::string partition = "iid";
  double dropout = 0.0;
  uint64_t seed = 1;
  double byzantine_fraction = 0.0;
  std::string attack = "scale";  // scale | signflip
  double attack_scale = 10.0;
  double max_update_norm = 0.0;
  // FedBuff when > 0: aggregate every K updates; devices (fraction * clients * over_selection
  // in flight) take 10-1000 virtual ms each, so updates arrive with varying staleness.
  int64_t async_buffer_size = 0;
  int64_t max_staleness = 10;
  // On-device training of this ONNX classifier (TrainingSession, one shared by all devices,
  // starting from the file's weights); empty: the built-in linear model from zero weights.
  std::string model_path;
  double momentum = 0.0;  // client SGD momentum with model_path (reset each local run)
  int threads = 1;        // intra-op threads with model_path
  SecureAggregationConfig secure_aggregation;
  int secagg_drop_stage = -1;
};

struct SimulationRound {
  int64_t round = 0;
  int64_t attempts = 0;
  int64_t assigned = 0;
  int64_t participants = 0;
  int64_t dropped = 0;    // devices whose send failed (they retry late)
  int64_t rejected = 0;   // updates refused by validation
  int64_t late = 0;       // updates that arrived after their round closed
  int64_t attackers = 0;  // byzantine updates among those sent
  double train_loss = 0;
  double test_accuracy = 0;
  double test_loss = 0;
  double epsilon = 0;    // dpfedavg: privacy spent after this round (at strategy.dp_delta)
  double clip_norm = 0;  // dpfedavg: the clip norm for the next round (moves when adaptive)
};

struct SimulationResult {
  std::vector<SimulationRound> rounds;
  std::map<std::string, int64_t> counters;
  std::vector<float> final_model;
  std::string final_digest;
  bool task_failed = false;
  // dpfedavg: the run ended before config.rounds because the next round would have exceeded
  // the privacy budget; stop_reason says so with the figures.
  bool budget_exhausted = false;
  std::string stop_reason;
  double sampling_rate = 0;                // dpfedavg: q used by the accountant
  double accounting_noise_multiplier = 0;  // dpfedavg: z used by the accountant
};

struct SimulationCallbacks {
  std::function<void(int64_t round, int64_t done, int64_t total)> progress;
  std::function<void(const SimulationRound&)> round_done;
};

// InvalidArgument for a bad config (named field, allowed range, value).
Result<SimulationResult> RunSimulation(const SimulationConfig& config, const Dataset& train,
                                       const Dataset& test,
                                       const SimulationCallbacks& callbacks = {});

}  // namespace privedge::fl::sim
