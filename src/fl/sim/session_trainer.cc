#include "fl/sim/session_trainer.h"

#include <algorithm>
#include <cmath>

#include "model/onnx_import.h"

namespace privedge::fl::sim {

Result<std::unique_ptr<SessionModel>> SessionModel::Create(const std::string& onnx_path,
                                                           int64_t rows, int64_t cols,
                                                           const SessionModelOptions& options) {
  if (rows < 1 || cols < 1)
    return InvalidArgument("session model: images must be at least 1x1, got ", rows, "x", cols);
  if (options.eval_batch < 1)
    return InvalidArgument("session model: eval batch must be >= 1, got ", options.eval_batch);
  PE_ASSIGN_OR_RETURN(Model graph, ImportOnnxFile(onnx_path));
  if (graph.graph.inputs.size() != 1)
    return InvalidArgument("'", onnx_path, "': expected one graph input (the images), got ",
                           graph.graph.inputs.size());
  const TypeInfo& type = graph.graph.inputs[0].type;
  const size_t rank = type.dims.size();
  // The per-example dims the images can take: [rows*cols], [rows, cols] or [1, rows, cols].
  std::vector<int64_t> want;
  if (rank == 2) want = {rows * cols};
  if (rank == 3) want = {rows, cols};
  if (rank == 4) want = {1, rows, cols};
  bool fits = type.has_shape && !want.empty() && type.elem_type == DType::kFloat32;
  for (size_t i = 1; fits && i < rank; ++i)
    fits = !type.dims[i].known() || type.dims[i].value == want[i - 1];
  if (!fits)
    return InvalidArgument("'", onnx_path, "': input '", graph.graph.inputs[0].name,
                           "' must be float32 [N, ", rows * cols, "], [N, ", rows, ", ", cols,
                           "] or [N, 1, ", rows, ", ", cols, "], got ", type.ToString());

  std::unique_ptr<SessionModel> m(new SessionModel());
  m->input_name_ = graph.graph.inputs[0].name;
  m->input_rank_ = static_cast<int>(rank);
  m->rows_ = rows;
  m->cols_ = cols;
  m->options_ = options;
  TrainingOptions topt;
  topt.loss = LossKind::kSoftmaxCrossEntropy;
  topt.optimizer.kind = OptimizerKind::kSgd;
  topt.optimizer.momentum = options.momentum;
  topt.fedprox_mu = options.proximal_mu;
  topt.threads = options.threads;
  PE_ASSIGN_OR_RETURN(m->session_, TrainingSession::Create(onnx_path, topt));
  m->initial_ = m->session_->Weights();
  return m;
}

std::pair<Tensor, Tensor> SessionModel::Batch(const Dataset& data,
                                              std::span<const int64_t> order, int64_t first,
                                              int64_t n) const {
  Shape shape = {n, rows_ * cols_};
  if (input_rank_ == 3) shape = {n, rows_, cols_};
  if (input_rank_ == 4) shape = {n, 1, rows_, cols_};
  Tensor x(DType::kFloat32, shape), y(DType::kInt64, {n});
  float* xs = x.data<float>();
  int64_t* ys = y.data<int64_t>();
  const int64_t dim = data.dim;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = order[first + i];
    const uint8_t* px = &data.pixels[k * dim];
    for (int64_t j = 0; j < dim; ++j) xs[i * dim + j] = px[j] * (1.0f / 255.0f);
    ys[i] = data.labels[k];
  }
  return {std::move(x), std::move(y)};
}

Result<Evaluation> SessionModel::Evaluate(std::span<const float> params, const Dataset& data) {
  weights_.assign(params.begin(), params.end());
  PE_RETURN_IF_ERROR(session_->SetWeights(weights_));
  std::vector<int64_t> all(data.count);
  for (int64_t i = 0; i < data.count; ++i) all[i] = i;
  double loss = 0;
  int64_t correct = 0;
  for (int64_t first = 0; first < data.count; first += options_.eval_batch) {
    const int64_t n = std::min(options_.eval_batch, data.count - first);
    auto [x, y] = Batch(data, all, first, n);
    PE_ASSIGN_OR_RETURN(StepResult r, session_->Evaluate({{input_name_, x}}, y));
    loss += r.loss * static_cast<double>(r.count);
    correct += r.correct;
  }
  Evaluation e;
  if (data.count > 0) {
    e.accuracy = static_cast<double>(correct) / static_cast<double>(data.count);
    e.loss = loss / static_cast<double>(data.count);
  }
  return e;
}

Result<LocalTrainingResult> SessionModel::Train(std::span<const float> global,
                                                const Dataset& data,
                                                std::span<const int64_t> indices,
                                                const TrainingConfig& config,
                                                std::mt19937_64& rng) {
  if (static_cast<float>(config.proximal_mu) != options_.proximal_mu)
    return InvalidArgument("session trainer: FedProx mu ", config.proximal_mu,
                           " differs from the session's ", options_.proximal_mu);
  if (config.batch_size < 1 || config.local_epochs < 1)
    return InvalidArgument("session trainer: batch size and epochs must be >= 1, got ",
                           config.batch_size, " and ", config.local_epochs);
  weights_.assign(global.begin(), global.end());
  PE_RETURN_IF_ERROR(session_->SetWeights(weights_));
  session_->ResetOptimizer();
  session_->set_learning_rate(static_cast<float>(config.learning_rate));
  std::vector<int64_t> order(indices.begin(), indices.end());
  const int64_t count = static_cast<int64_t>(order.size());
  double loss = 0;
  int64_t seen = 0;
  for (int64_t epoch = 0; epoch < config.local_epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (int64_t first = 0; first < count; first += config.batch_size) {
      const int64_t n = std::min(config.batch_size, count - first);
      auto [x, y] = Batch(data, order, first, n);
      PE_ASSIGN_OR_RETURN(StepResult r, session_->TrainStep({{input_name_, x}}, y));
      loss += r.loss * static_cast<double>(r.count);
      seen += r.count;
    }
  }
  LocalTrainingResult result;
  result.delta = session_->Delta();
  result.num_examples = count;
  result.train_loss = seen > 0 ? loss / static_cast<double>(seen) : 0.0;
  return result;
}

}  // namespace privedge::fl::sim
