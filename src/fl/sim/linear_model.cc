#include "fl/sim/linear_model.h"

#include <algorithm>
#include <cmath>

namespace privedge::fl::sim {
namespace {

// logits -> probabilities in place; returns -log p[label].
double SoftmaxLoss(std::vector<double>& z, int label) {
  const double top = *std::max_element(z.begin(), z.end());
  double sum = 0;
  for (double& v : z) sum += (v = std::exp(v - top));
  for (double& v : z) v /= sum;
  return -std::log(std::max(z[label], 1e-300));
}

void Logits(std::span<const float> params, const uint8_t* x, int64_t dim, int64_t classes,
            std::vector<float>& xs, std::vector<double>& z) {
  for (int64_t j = 0; j < dim; ++j) xs[j] = x[j] * (1.0f / 255.0f);
  for (int64_t c = 0; c < classes; ++c) {
    const float* w = params.data() + c * dim;
    float s = 0;
    for (int64_t j = 0; j < dim; ++j) s += w[j] * xs[j];
    z[c] = s + params[classes * dim + c];
  }
}

}  // namespace

int64_t LinearModelParams(const Dataset& data) { return data.num_classes * (data.dim + 1); }

Evaluation EvaluateLinearModel(std::span<const float> params, const Dataset& data) {
  std::vector<float> xs(data.dim);
  std::vector<double> z(data.num_classes);
  Evaluation e;
  int64_t correct = 0;
  for (int64_t i = 0; i < data.count; ++i) {
    Logits(params, &data.pixels[i * data.dim], data.dim, data.num_classes, xs, z);
    const int label = data.labels[i];
    correct += std::max_element(z.begin(), z.end()) - z.begin() == label;
    e.loss += SoftmaxLoss(z, label);
  }
  if (data.count > 0) {
    e.accuracy = static_cast<double>(correct) / data.count;
    e.loss /= data.count;
  }
  return e;
}

LinearModelTrainer::LinearModelTrainer(const Dataset& data, std::vector<int64_t> indices,
                                       uint64_t seed)
    : data_(data), indices_(std::move(indices)), rng_(seed) {}

Result<LocalTrainingResult> LinearModelTrainer::Train(std::span<const float> global,
                                                      const TrainingConfig& config) {
  const int64_t dim = data_.dim, classes = data_.num_classes;
  if (static_cast<int64_t>(global.size()) != LinearModelParams(data_))
    return InvalidArgument("linear model expects ", LinearModelParams(data_), " parameters, got ",
                           global.size());
  if (indices_.empty()) return InvalidArgument("device has no training examples");
  std::vector<float> w(global.begin(), global.end());
  std::vector<float> grad(w.size()), xs(dim);
  std::vector<double> z(classes);
  double loss_sum = 0;
  int64_t seen = 0;
  const float lr = static_cast<float>(config.learning_rate);
  const float mu = static_cast<float>(config.proximal_mu);
  for (int64_t epoch = 0; epoch < config.local_epochs; ++epoch) {
    std::shuffle(indices_.begin(), indices_.end(), rng_);
    for (size_t start = 0; start < indices_.size(); start += config.batch_size) {
      const size_t stop = std::min(indices_.size(), start + static_cast<size_t>(config.batch_size));
      std::fill(grad.begin(), grad.end(), 0.0f);
      for (size_t k = start; k < stop; ++k) {
        const int64_t i = indices_[k];
        Logits(w, &data_.pixels[i * dim], dim, classes, xs, z);
        loss_sum += SoftmaxLoss(z, data_.labels[i]);
        ++seen;
        for (int64_t c = 0; c < classes; ++c) {
          const float d = static_cast<float>(z[c] - (c == data_.labels[i]));
          float* g = grad.data() + c * dim;
          for (int64_t j = 0; j < dim; ++j) g[j] += d * xs[j];
          grad[classes * dim + c] += d;
        }
      }
      const float scale = lr / static_cast<float>(stop - start);
      for (size_t p = 0; p < w.size(); ++p) w[p] -= scale * grad[p] + lr * mu * (w[p] - global[p]);
    }
  }
  LocalTrainingResult r;
  r.delta.resize(w.size());
  for (size_t p = 0; p < w.size(); ++p) r.delta[p] = w[p] - global[p];
  r.num_examples = static_cast<int64_t>(indices_.size());
  r.train_loss = loss_sum / static_cast<double>(seen);
  return r;
}

}  // namespace privedge::fl::sim
