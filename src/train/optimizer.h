// Optimizers on the flat parameter vector, following torch.optim's update rules exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "privedge/training.h"

namespace privedge::train {

class Optimizer {
 public:
  Optimizer(const OptimizerOptions& options, int64_t size);
  // One step: w -= update(g). `g` is modified (weight decay is added to it).
  void Step(float* w, float* g, int64_t size);
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  // Back to the state at construction: no steps taken, zero moments.
  void Reset();
  float learning_rate() const { return options_.learning_rate; }
  void set_learning_rate(float lr) { options_.learning_rate = lr; }
  OptimizerKind kind() const { return options_.kind; }
  // State buffers: SGD momentum in first(); Adam's moments in first() and second().
  std::vector<float>& first() { return first_; }
  std::vector<float>& second() { return second_; }

 private:
  OptimizerOptions options_;
  int64_t steps_ = 0;
  std::vector<float> first_, second_;
};

// Scales `g` so that its L2 norm is at most `max_norm`; returns the norm before clipping.
double ClipGlobalNorm(float* g, int64_t size, double max_norm);

}  // namespace privedge::train
