// Aggregation strategies on flat float parameter vectors.
//
// A strategy turns the deltas of one round into the next global model, in place:
//   PE_ASSIGN_OR_RETURN(auto strategy, MakeStrategy(config.strategy, num_params));
//   PE_RETURN_IF_ERROR(strategy->Aggregate(updates, global));
// Stateful strategies (the server optimizers) expose their state as a float vector so the
// coordinator can persist it with the model and resume after a restart.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "privedge/federated.h"

namespace privedge::fl {

// One validated update as a strategy sees it.
struct ClientUpdate {
  std::string device_id;
  std::vector<float> delta;
  int64_t num_examples = 0;
};

// What secure aggregation hands the strategy for a round: the sum of the surviving devices'
// weighted deltas, never one of them (fl/secure_round.h).
struct AggregatedSum {
  std::vector<double> weighted_sum;  // sum_u w_u x_u
  double total_weight = 0;           // sum_u w_u (> 0)
  int64_t contributors = 0;          // devices in the sum
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // Folds `updates` (at least one; every delta as long as `global`) into `global`.
  // InvalidArgument when there are too few updates for the strategy (Krum needs 2f + 3).
  virtual Status Aggregate(std::span<const ClientUpdate> updates, std::vector<float>& global) = 0;
  // Folds a securely aggregated round into `global`. InvalidArgument for the strategies that
  // need individual updates (the robust aggregators, and dpfedavg outside its distributed mode).
  virtual Status AggregateSum(const AggregatedSum& sum, std::vector<float>& global);
  // Optimizer state (empty for stateless strategies) and its restoration.
  virtual std::vector<float> SaveState() const { return {}; }
  virtual Status RestoreState(std::span<const float> state);
};

Status ValidateStrategyConfig(const StrategyConfig& config);
// OK when the strategy works from the (weighted) mean of the deltas alone, as it must under
// secure aggregation; InvalidArgument naming the strategy and why otherwise.
Status CheckStrategyTakesSum(const StrategyConfig& config);
// expected_clients (the task's clients_per_round) is dpfedavg's fixed denominator; the other
// strategies ignore it.
Result<std::unique_ptr<Strategy>> MakeStrategy(const StrategyConfig& config, int64_t num_params,
                                               int64_t expected_clients = 0);

// The names MakeStrategy accepts, for usage messages.
const std::vector<std::string>& StrategyNames();

}  // namespace privedge::fl
