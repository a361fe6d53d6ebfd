// On-device training in the simulator: any ONNX classifier trained with TrainingSession, as the
// LocalTrainer of every virtual device.
//
//   SessionModelOptions opt;  opt.momentum = 0.5f;  opt.threads = 2;
//   PE_ASSIGN_OR_RETURN(auto model, SessionModel::Create("cnn.onnx", train.rows, train.cols, opt));
//   SessionTrainer device(*model, train, indices, seed);      // one per virtual device
//   PE_ASSIGN_OR_RETURN(LocalTrainingResult r, device.Train(global, config));
//   PE_ASSIGN_OR_RETURN(Evaluation e, model->Evaluate(global, test));
//
// One SessionModel (one TrainingSession, planned once) serves every device of a simulation:
// devices train one after the other, each starting from the global weights it received with a
// fresh optimizer state (SetWeights + ResetOptimizer), so nothing of one device's run leaks
// into the next. The model's single input is float32 [N, rows * cols], [N, rows, cols] or
// [N, 1, rows, cols] (pixels scaled to [0, 1]); its first output is [N, classes] logits trained
// with softmax cross-entropy.
//
// Thread-safety: none; a SessionModel and its trainers are used from one thread.
// Errors: Create fails when the model cannot be opened or trained (TrainingSession's errors) or
// its input does not fit the images; Train fails for a global vector of the wrong size or a
// FedProx mu other than the one the model was created with.
#pragma once

#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fl/sim/dataset.h"
#include "fl/sim/linear_model.h"
#include "privedge/federated.h"
#include "privedge/training.h"

namespace privedge::fl::sim {

struct SessionModelOptions {
  float momentum = 0.0f;     // client SGD momentum (reset for every device and round)
  float proximal_mu = 0.0f;  // FedProx term, fixed for the session
  int threads = 1;           // oneDNN intra-op threads
  int64_t eval_batch = 1000;
};

class SessionModel {
 public:
  static Result<std::unique_ptr<SessionModel>> Create(const std::string& onnx_path, int64_t rows,
                                                      int64_t cols,
                                                      const SessionModelOptions& options);
  int64_t num_params() const { return session_->ParameterCount(); }
  // The weights stored in the model file: the initial global model.
  std::vector<float> InitialWeights() const { return initial_; }
  // Accuracy and mean loss of `params` on all of `data`.
  Result<Evaluation> Evaluate(std::span<const float> params, const Dataset& data);
  // E epochs of minibatch SGD from `global` over `indices`, shuffled by `rng` each epoch.
  Result<LocalTrainingResult> Train(std::span<const float> global, const Dataset& data,
                                    std::span<const int64_t> indices,
                                    const TrainingConfig& config, std::mt19937_64& rng);

 private:
  SessionModel() = default;
  // Fills features [n, ...] and labels [n] from examples order[first, first + n).
  std::pair<Tensor, Tensor> Batch(const Dataset& data, std::span<const int64_t> order,
                                  int64_t first, int64_t n) const;

  std::unique_ptr<TrainingSession> session_;
  std::string input_name_;
  int input_rank_ = 4;
  int64_t rows_ = 0, cols_ = 0;
  SessionModelOptions options_;
  std::vector<float> initial_;
  std::vector<float> weights_;  // scratch for SetWeights
};

// A virtual device's trainer over its own examples; the dataset and model must outlive it.
class SessionTrainer : public LocalTrainer {
 public:
  SessionTrainer(SessionModel& model, const Dataset& data, std::vector<int64_t> indices,
                 uint64_t seed)
      : model_(model), data_(data), indices_(std::move(indices)), rng_(seed) {}
  Result<LocalTrainingResult> Train(std::span<const float> global,
                                    const TrainingConfig& config) override {
    return model_.Train(global, data_, indices_, config, rng_);
  }

 private:
  SessionModel& model_;
  const Dataset& data_;
  std::vector<int64_t> indices_;
  std::mt19937_64 rng_;
};

}  // namespace privedge::fl::sim
