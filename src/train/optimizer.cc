#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

namespace privedge::train {

Optimizer::Optimizer(const OptimizerOptions& options, int64_t size) : options_(options) {
  if (options.kind == OptimizerKind::kSgd) {
    if (options.momentum != 0) first_.assign(size, 0.0f);
  } else {
    first_.assign(size, 0.0f);
    second_.assign(size, 0.0f);
  }
}

void Optimizer::Reset() {
  steps_ = 0;
  std::fill(first_.begin(), first_.end(), 0.0f);
  std::fill(second_.begin(), second_.end(), 0.0f);
}

void Optimizer::Step(float* w, float* g, int64_t size) {
  const OptimizerOptions& o = options_;
  const float lr = o.learning_rate;
  ++steps_;
  if (o.kind == OptimizerKind::kSgd) {
    const float mu = o.momentum, wd = o.weight_decay;
    const bool first_step = steps_ == 1;
#pragma omp parallel for simd if (size > (1 << 18))
    for (int64_t i = 0; i < size; ++i) {
      float d = g[i] + wd * w[i];
      if (mu != 0) {
        first_[i] = first_step ? d : mu * first_[i] + d;
        d = o.nesterov ? d + mu * first_[i] : first_[i];
      }
      w[i] -= lr * d;
    }
    return;
  }
  const double b1 = o.beta1, b2 = o.beta2;
  const double c1 = 1 - std::pow(b1, static_cast<double>(steps_));
  const double c2 = std::sqrt(1 - std::pow(b2, static_cast<double>(steps_)));
  const float step_size = static_cast<float>(lr / c1);
  const float inv_c2 = static_cast<float>(1 / c2);
  const bool decoupled = o.kind == OptimizerKind::kAdamW;
  const float l2 = decoupled ? 0.0f : o.weight_decay;
  const float decay = decoupled ? 1.0f - lr * o.weight_decay : 1.0f;
  const float fb1 = o.beta1, fb2 = o.beta2, eps = o.epsilon;
#pragma omp parallel for simd if (size > (1 << 18))
  for (int64_t i = 0; i < size; ++i) {
    const float d = g[i] + l2 * w[i];
    w[i] *= decay;
    first_[i] = fb1 * first_[i] + (1 - fb1) * d;
    second_[i] = fb2 * second_[i] + (1 - fb2) * d * d;
    const float denom = std::sqrt(second_[i]) * inv_c2 + eps;
    w[i] -= step_size * first_[i] / denom;
  }
}

double ClipGlobalNorm(float* g, int64_t size, double max_norm) {
  double sq = 0;
  for (int64_t i = 0; i < size; ++i) sq += static_cast<double>(g[i]) * g[i];
  const double norm = std::sqrt(sq);
  if (norm > max_norm && norm > 0) {
    const float scale = static_cast<float>(max_norm / (norm + 1e-6));
    for (int64_t i = 0; i < size; ++i) g[i] *= scale;
  }
  return norm;
}

}  // namespace privedge::train
