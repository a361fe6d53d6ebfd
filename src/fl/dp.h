// Differential privacy in a federated task: the device side of the local and distributed
// modes, the parameters both sides derive from the task, and the budget ledger the server
// keeps across rounds. The server side of all three modes is the dpfedavg strategy
// (strategy.cc); federated.h describes the modes and docs/privacy.md their accounting.
//
//   // device (local or distributed mode), wrapping its honest trainer:
//   DpDeviceTrainer trainer(honest, task.strategy, task.num_params, task.clients_per_round,
//                           std::make_unique<privacy::SecureRandom>());
//   // server, around its rounds:
//   PE_ASSIGN_OR_RETURN(PrivacyLedger ledger, PrivacyLedger::Create(task, total_devices));
//   if (!ledger.NextRoundFits()) -> stop the task (budget)
//   ... aggregate ... PE_RETURN_IF_ERROR(ledger.RecordRound(participants));
//
// Thread-safety: none; one object per thread.
#pragma once

#include <memory>
#include <vector>

#include "privedge/federated.h"
#include "privedge/privacy.h"

namespace privedge::fl {

// The failure probability of one conditional rounding (Kairouz, Liu, Steinke 2021 use e^-0.5).
inline constexpr double kConditionalRoundingBeta = 0.6065306597126334;

// Distributed mode: integers per unit of the update (dp_quantization_scale, or its default
// 64 sqrt(num_params) / C).
double QuantizationScale(const StrategyConfig& config, int64_t num_params);

// Distributed mode: the L2 sensitivity of one rounded update, in integer units.
Result<double> QuantizedSensitivity(const StrategyConfig& config, int64_t num_params);

// The noise multiplier applied to the update itself: dp_noise_multiplier, or with adaptive
// clipping the larger one left after the clipped-count's share (privacy.h).
Result<double> UpdateNoiseMultiplier(const StrategyConfig& config, int64_t expected_clients);

// The clipped-count noise stddev sigma_b (dp_count_noise_stddev, or expected_clients / 20).
double CountNoiseStddev(const StrategyConfig& config, int64_t expected_clients);

// Checks the DP options that depend on the task (called by TaskConfig::Validate for dpfedavg):
// the mode name, adaptive clipping only in central mode and with a feasible count noise, the
// quantized values of the distributed mode exactly representable in the float deltas.
Status ValidateDpTask(const StrategyConfig& config, int64_t num_params, int64_t expected_clients);

// Local and distributed modes, on the device: clips `delta` to dp_clip_norm and adds the
// device's noise (local: Gaussian N(0, (z C)^2); distributed: rounds the scaled delta and adds
// discrete Gaussian noise of variance (z S)^2 / m, the integers carried as exactly
// representable floats). Central mode leaves the delta unchanged.
Status PrivatizeOnDevice(const StrategyConfig& config, int64_t num_params, int64_t expected_clients,
                         std::vector<float>& delta, privacy::SecureRandom& rng);

// A device's trainer with PrivatizeOnDevice applied to every delta it returns.
class DpDeviceTrainer : public LocalTrainer {
 public:
  DpDeviceTrainer(std::unique_ptr<LocalTrainer> honest, StrategyConfig config, int64_t num_params,
                  int64_t expected_clients, std::unique_ptr<privacy::SecureRandom> rng);
  Result<LocalTrainingResult> Train(std::span<const float> global,
                                    const TrainingConfig& config) override;

 private:
  std::unique_ptr<LocalTrainer> honest_;
  StrategyConfig config_;
  int64_t num_params_, expected_clients_;
  std::unique_ptr<privacy::SecureRandom> rng_;
};

// The privacy spent by a dpfedavg task, round by round.
//   central, distributed: device-level (add/remove one device's data), the sampled Gaussian
//     mechanism with q = clients_per_round / total_devices and noise multiplier z per round
//     (distributed: z sqrt(n / m) for a round that summed n < m updates, as the missing
//     devices' noise shares are missing too);
//   local: the guarantee each device holds against the server, for a device in every round:
//     its report is a Gaussian release of sensitivity 2C (any two clipped updates) with
//     noise z C, i.e. multiplier z / 2 at q = 1.
class PrivacyLedger {
 public:
  // InvalidArgument for a strategy other than dpfedavg, total_devices < clients_per_round,
  // a bad delta.
  static Result<PrivacyLedger> Create(const TaskConfig& task, int64_t total_devices);

  // False when a budget is set and one more full round would take epsilon above it.
  Result<bool> NextRoundFits() const;
  // Records a completed round that aggregated `participants` updates.
  Status RecordRound(int64_t participants);
  // Epsilon spent so far (at the task's delta).
  Result<double> Epsilon() const;
  int64_t rounds() const { return rounds_; }

  double sampling_rate() const { return q_; }
  double accounting_noise_multiplier() const { return z_; }
  const StrategyConfig& config() const { return config_; }

 private:
  PrivacyLedger(StrategyConfig config, int64_t expected, double q, double z)
      : config_(std::move(config)), expected_(expected), q_(q), z_(z) {}
  double RoundNoiseMultiplier(int64_t participants) const;

  StrategyConfig config_;
  int64_t expected_;
  double q_, z_;
  privacy::RdpAccountant accountant_;
  int64_t rounds_ = 0;
};

}  // namespace privedge::fl
