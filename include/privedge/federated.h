// Federated learning: the task a server runs over a fleet of devices, and the one interface a
// device implements to take part (LocalTrainer).
//
// A federated task improves one global model, a flat float parameter vector, in rounds. Each
// round the server selects devices among those that check in (over-selecting, since some drop
// out), sends each the current model bound to (task, round, device, base model version), and
// collects their updates: the *delta* (trained weights minus the weights received), the
// number of local examples and a training loss. The round closes when enough updates arrived
// or at its deadline; a strategy then folds the deltas into a new model version.
//
//   privedge::fl::TaskConfig task;
//   task.task_id = "fmnist";
//   task.num_params = 7850;
//   task.strategy.name = "fedavg";
//   task.clients_per_round = 10;
//   task.min_clients = 6;
//   task.secure_aggregation.mode = "secaggplus";   // optional: the server sees only sums
//   PE_RETURN_IF_ERROR(task.Validate());
//   std::string text = privedge::fl::SerializeTaskConfig(task);   // "key = value" lines
//   PE_ASSIGN_OR_RETURN(auto again, privedge::fl::ParseTaskConfig(text));
//
// A device wraps its trainer (on-device TrainingSession, or the simulator's linear model):
//
//   class MyTrainer : public privedge::fl::LocalTrainer {
//     Result<LocalTrainingResult> Train(std::span<const float> global,
//                                       const TrainingConfig& config) override;
//   };
//
// Thread-safety: the types here are plain values; a LocalTrainer is called from one thread.
// Errors: Validate and ParseTaskConfig return InvalidArgument naming the field, the allowed
// range and the value received.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "privedge/status.h"

namespace privedge::fl {

// What each selected device runs locally.
struct TrainingConfig {
  int64_t local_epochs = 1;
  int64_t batch_size = 10;
  double learning_rate = 0.1;
  // FedProx: the device adds (mu / 2) * ||w - w_global||^2 to its loss; 0 is plain FedAvg
  // training. The server side of FedProx is FedAvg.
  double proximal_mu = 0.0;
};

// How the server folds a round's deltas into the global model. Names:
//   fedavg, fedprox      mean of deltas weighted by example counts
//   fedadam, fedyogi, fedadagrad
//                        server optimizers of Reddi et al. 2021 ("Adaptive Federated
//                        Optimization"), driven by the weighted mean delta
//   fedmedian            coordinate-wise median of the deltas
//   trimmedmean          coordinate-wise mean after dropping the trim_beta fraction of the
//                        largest and of the smallest values
//   krum, multikrum      Blanchard et al. 2017 with byzantine_f assumed attackers
//   dpfedavg             differentially private FedAvg (McMahan et al. 2018), in one of three
//                        deployment modes (dp_mode; docs/privacy.md has the accounting):
//                        central: the server clips each delta to L2 norm C = dp_clip_norm,
//                          sums, adds N(0, (z C)^2) per coordinate (z = dp_noise_multiplier)
//                          and divides by the FIXED denominator m = clients_per_round (the
//                          expected cohort, each update of weight 1), not the realized count,
//                          so one device's presence changes the sum by at most C;
//                        local: each device clips and adds N(0, (z C)^2) before sending; the
//                          server averages what arrives (post-processing);
//                        distributed: each device clips, scales by dp_quantization_scale,
//                          rounds stochastically to integers and adds discrete Gaussian noise
//                          of variance (z S)^2 / m (S: the rounded update's L2 bound), so the
//                          sum of m updates carries the full noise; the server sums the
//                          integers (under secure aggregation in deployment), dequantizes and
//                          divides by m
struct StrategyConfig {
  std::string name = "fedavg";
  double server_learning_rate = 1.0;  // eta: fedavg-family step; fedopt default is 0.01
  double beta1 = 0.9;                 // fedopt momentum
  double beta2 = 0.99;                // fedopt second moment (fedadam, fedyogi)
  double tau = 1e-3;                  // fedopt adaptivity; v starts at tau^2
  double trim_beta = 0.1;             // trimmedmean: fraction cut from each side, in [0, 0.5)
  int64_t byzantine_f = 0;            // krum/multikrum: needs updates >= 2f + 3
  int64_t multikrum_m = 0;            // multikrum: updates averaged; 0 means n - f
  double dp_clip_norm = 1.0;          // dpfedavg: C
  double dp_noise_multiplier = 1.0;   // dpfedavg: z
  // dpfedavg noise source: 0 draws from the OS (the only safe choice with real data); any other
  // value seeds a reproducible stream for simulations, which anyone with the seed can undo.
  uint64_t dp_noise_seed = 0;
  std::string dp_mode = "central";  // dpfedavg: central | local | distributed
  // Adaptive clipping (Andrew et al. 2021; central mode): when > 0, C moves each round toward
  // this quantile of the update norms, C <- C exp(-dp_adaptive_lr (b - quantile)), b the
  // noised fraction of unclipped updates (noise stddev dp_count_noise_stddev; 0 means m / 20).
  // dp_noise_multiplier is then the round's total z: the update gets the larger
  // (z^-2 - (2 sigma_b)^-2)^(-1/2) so the pair is as private as one release at z.
  double dp_adaptive_quantile = 0.0;
  double dp_adaptive_lr = 0.2;
  double dp_count_noise_stddev = 0.0;
  // Distributed mode: integers per unit of the update; 0 means 64 sqrt(num_params) / C, which
  // keeps the rounding's growth of the L2 bound below 0.1%.
  double dp_quantization_scale = 0.0;
  // Privacy budget: the task's driver (privedge simulate, through the privacy ledger of
  // src/fl/dp.h) stops it before a round that would take epsilon (at dp_delta) above
  // dp_target_epsilon; 0 means no budget (epsilon is still reported).
  double dp_delta = 1e-5;
  double dp_target_epsilon = 0.0;
};

// Secure aggregation of a round's updates (docs/secure-aggregation.md). With mode "secagg"
// (the complete graph of Bonawitz et al. 2017) or "secaggplus" (the sparse random graph of Bell
// et al. 2020) the round's selected devices run the SecAgg stages (advertise keys, share keys,
// masked input, unmask) and the server learns only the sum of their quantized, weighted updates:
// each device sends [w, w q(x_1), ..., w q(x_d)] with w = min(examples, max_weight) and q the
// stochastic rounding of x clipped to [-clip, clip], and the strategy receives the weighted
// mean of the survivors. Checks that need one update (the norm bound max_update_norm) happen on
// the device before masking: it clips its delta to that L2 norm. Only strategies that use the
// (weighted) mean work: fedavg, fedprox, fedadam, fedyogi, fedadagrad, and dpfedavg in its
// distributed mode (devices add their noise share before masking; weight 1; the task needs
// over_selection = 1, as every selected device is in the sum). The session lives in the
// server's memory: a server restarted mid-session abandons that attempt and retries the round.
struct SecureAggregationConfig {
  std::string mode = "off";   // off | secagg | secaggplus
  double clip = 1.0;          // per-coordinate range [-clip, clip] of a delta before quantizing
  int64_t max_weight = 1000;  // cap on a device's weight (its example count)
  int64_t stage_timeout_ms = 10000;  // a stage closes at this deadline with whoever answered
  double dropout_rate = 0.3;         // dropouts the graph must survive (ChooseGraphParams)
  double corruption_rate = 0.05;     // devices that may collude with the server
};

// One federated task as the server runs it.
struct TaskConfig {
  std::string task_id = "task";
  std::string model_id = "model";
  int64_t num_params = 0;  // length of the flat parameter vector every delta must have
  TrainingConfig training;
  StrategyConfig strategy;
  int64_t rounds = 10;
  int64_t clients_per_round = 10;  // updates that close a round early
  double over_selection = 1.3;     // devices assigned = ceil(clients_per_round * this)
  int64_t min_clients = 1;         // fewest updates a round may aggregate at its deadline
  int64_t round_deadline_ms = 600000;
  double max_update_norm = 0.0;    // L2 bound on a delta; 0 disables the check
  int64_t max_round_attempts = 5;  // abandoned attempts of one round before the task fails
  // FedBuff (Nguyen et al. 2022), asynchronous buffered aggregation: when > 0, devices train on
  // whatever version is current when they check in (at most ceil(clients_per_round *
  // over_selection) in flight; an assignment expires after round_deadline_ms), and the server
  // aggregates every async_buffer_size accepted updates, each delta scaled by 1 / sqrt(1 +
  // staleness), staleness = versions published since its base version. Updates staler than
  // max_staleness are refused (stale_version). `rounds` counts aggregations. 0: synchronous.
  int64_t async_buffer_size = 0;
  int64_t max_staleness = 10;
  SecureAggregationConfig secure_aggregation;

  // InvalidArgument for an empty id (ids are [A-Za-z0-9_.:-]), num_params < 1, rounds < 1,
  // clients_per_round < 1, over_selection < 1, min_clients outside [1, clients_per_round],
  // deadline < 1, a negative norm bound, an unknown strategy or a parameter out of range; with
  // secure aggregation on, a strategy that needs individual updates (fedmedian, trimmedmean,
  // krum, multikrum; dpfedavg outside distributed mode, or with over_selection != 1), async
  // mode, or fewer than 3 devices selected per round.
  Status Validate() const;
};

// "key = value" lines (keys as the field names, nested ones as training.batch_size and
// strategy.name); ParseTaskConfig accepts what SerializeTaskConfig writes, '#' comments and
// any subset of keys (the rest keep their defaults), and validates the result.
std::string SerializeTaskConfig(const TaskConfig& config);
Result<TaskConfig> ParseTaskConfig(const std::string& text);

// What a device's local training produced.
struct LocalTrainingResult {
  std::vector<float> delta;  // trained weights minus the global weights received
  int64_t num_examples = 0;  // examples the device trained on (FedAvg weight)
  double train_loss = 0.0;   // mean training loss over the local run
};

// The device's trainer. Train starts from `global` (the model received), runs
// config.local_epochs over the device's data and returns the delta. It must not keep a
// reference to `global`. Errors are reported to the task runner, which logs them and skips the
// round.
class LocalTrainer {
 public:
  virtual ~LocalTrainer() = default;
  virtual Result<LocalTrainingResult> Train(std::span<const float> global,
                                            const TrainingConfig& config) = 0;
};

}  // namespace privedge::fl
