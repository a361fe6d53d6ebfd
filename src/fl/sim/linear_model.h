// The simulator's built-in linear model: multinomial logistic (softmax) regression on flat
// pixels scaled to [0, 1], trained by minibatch SGD. Small and exact enough to test federated
// dynamics for real; on-device training with TrainingSession plugs in through the same
// LocalTrainer interface.
//
// Parameters are one flat vector: W (classes x dim, row-major) then b (classes).
#pragma once

#include <random>
#include <vector>

#include "fl/sim/dataset.h"
#include "privedge/federated.h"

namespace privedge::fl::sim {

int64_t LinearModelParams(const Dataset& data);

struct Evaluation {
  double accuracy = 0;  // fraction in [0, 1]
  double loss = 0;      // mean cross-entropy
};
Evaluation EvaluateLinearModel(std::span<const float> params, const Dataset& data);

// Trains on `indices` of `data` (kept by reference: the dataset must outlive the trainer).
// Each Train call shuffles with the trainer's own generator, so a run is reproducible from the
// seed. FedProx: config.proximal_mu adds mu * (w - w_global) to every gradient.
class LinearModelTrainer : public LocalTrainer {
 public:
  LinearModelTrainer(const Dataset& data, std::vector<int64_t> indices, uint64_t seed);
  Result<LocalTrainingResult> Train(std::span<const float> global,
                                    const TrainingConfig& config) override;

 private:
  const Dataset& data_;
  std::vector<int64_t> indices_;
  std::mt19937_64 rng_;
};

}  // namespace privedge::fl::sim
