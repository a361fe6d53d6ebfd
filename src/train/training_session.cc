// TrainingSession: the tape, the loss and the optimizer on one flat parameter vector.
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "kernels/dnnl/dnnl_util.h"
#include "model/onnx_import.h"
#include "privedge/training.h"
#include "protect/model_file.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/session_impl.h"

namespace privedge {

using train::Tape;

namespace {

int OnlineCpus() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

bool HasPrefix(const std::string& s, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes)
    if (s.compare(0, p.size(), p) == 0) return true;
  return false;
}

// Initializers that hold state or settings rather than parameters: BatchNormalization's running
// statistics and Dropout's ratio.
std::set<std::string> NonParameterInitializers(const Graph& g) {
  std::set<std::string> names;
  for (const Node& n : g.nodes) {
    if (n.op_type == "BatchNormalization")
      for (size_t i = 3; i < n.inputs.size() && i < 5; ++i) names.insert(n.inputs[i]);
    if (n.op_type == "Dropout")
      for (size_t i = 1; i < n.inputs.size(); ++i) names.insert(n.inputs[i]);
  }
  return names;
}

std::set<std::string> RunningStatistics(const Graph& g) {
  std::set<std::string> names;
  for (const Node& n : g.nodes)
    if (n.op_type == "BatchNormalization")
      for (size_t i = 3; i < n.inputs.size() && i < 5; ++i)
        if (g.initializers.count(n.inputs[i])) names.insert(n.inputs[i]);
  return names;
}

// Float initializers in the order nodes first use them (layer order), then the rest.
std::vector<std::string> InitializersInUseOrder(const Graph& g) {
  std::vector<std::string> order;
  std::set<std::string> seen;
  for (const Node& n : g.nodes)
    for (const auto& in : n.inputs)
      if (g.initializers.count(in) && seen.insert(in).second) order.push_back(in);
  for (const auto& [name, t] : g.initializers)
    if (seen.insert(name).second) order.push_back(name);
  return order;
}

Status CheckOptions(const TrainingOptions& options) {
  const OptimizerOptions& o = options.optimizer;
  if (!(o.learning_rate >= 0) || !(o.momentum >= 0) || !(o.weight_decay >= 0) ||
      !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.epsilon > 0))
    return InvalidArgument(
        "optimizer options out of range (learning rate, momentum and weight "
        "decay >= 0, betas in [0, 1), epsilon > 0)");
  if (o.nesterov && o.momentum <= 0) return InvalidArgument("nesterov needs momentum > 0");
  if (!(options.fedprox_mu >= 0) || !(options.clip_global_norm >= 0))
    return InvalidArgument("fedprox_mu and clip_global_norm must be >= 0");
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<TrainingSession::Impl>> TrainingSession::Impl::Build(
    std::string bytes, const std::string& base_dir, const TrainingOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->original = std::move(bytes);
  ImportOptions io;
  io.max_tensor_bytes = options.max_tensor_bytes;
  PE_ASSIGN_OR_RETURN(impl->model,
                      ImportOnnxBuffer(impl->original.data(), impl->original.size(), base_dir, io));
  PE_RETURN_IF_ERROR(impl->Setup());
  return impl;
}

Status TrainingSession::Impl::Setup() {
  PE_RETURN_IF_ERROR(CheckOptions(options));
  const Graph& g = model.graph;
  output = options.output;
  if (output.empty()) {
    if (g.outputs.empty()) return InvalidModel("the model has no outputs");
    output = g.outputs[0].name;
  }
  threads = options.threads > 0 ? options.threads : OnlineCpus();

  const std::set<std::string> excluded = NonParameterInitializers(g);
  std::vector<std::string> trainable;
  if (!options.trainable.empty()) {
    for (const auto& name : options.trainable) {
      auto it = g.initializers.find(name);
      if (it == g.initializers.end())
        return NotFound("trainable parameter '", name, "' is not an initializer");
      if (it->second.dtype() != DType::kFloat32)
        return InvalidArgument("trainable parameter '", name, "' is ",
                               DTypeName(it->second.dtype()), ", expected float32");
      if (!HasPrefix(name, options.freeze_prefixes)) trainable.push_back(name);
    }
  } else {
    for (const auto& name : InitializersInUseOrder(g)) {
      const Tensor& t = g.initializers.at(name);
      if (t.dtype() == DType::kFloat32 && t.numel() > 0 && !excluded.count(name) &&
          !HasPrefix(name, options.freeze_prefixes))
        trainable.push_back(name);
    }
  }
  if (trainable.empty())
    return InvalidArgument("no trainable parameters (all frozen or none float32)");
  PE_ASSIGN_OR_RETURN(tape, Tape::Create(model, trainable, output));

  int64_t total = 0;
  for (const auto& name : trainable) {
    const Tensor& t = g.initializers.at(name);
    layout.push_back(ParameterInfo{name, t.shape(), total, t.numel()});
    total += t.numel();
  }
  weights.assign(total, 0.0f);
  grads.assign(total, 0.0f);
  for (const auto& p : layout) {
    const Tensor& t = g.initializers.at(p.name);
    std::memcpy(weights.data() + p.offset, t.data<float>(), p.size * sizeof(float));
    PE_RETURN_IF_ERROR(tape->SetInitializer(
        p.name, Tensor::Borrow(DType::kFloat32, p.shape, weights.data() + p.offset, nullptr)));
  }
  anchor = weights;
  for (const auto& name : RunningStatistics(g)) state_names.push_back(name);
  optimizer = std::make_unique<train::Optimizer>(options.optimizer, total);
  return Status::OK();
}

Result<StepResult> TrainingSession::Impl::Run(const NamedTensors& inputs, const Tensor& labels,
                                              bool training) {
  dnnl_kernels::ThreadScope scope(threads);
  const uint64_t seed =
      options.seed ^ (0xD1B54A32D192ED03ull * static_cast<uint64_t>(optimizer->steps() + 1));
  PE_ASSIGN_OR_RETURN(Tensor out, tape->Forward(inputs, training, seed));
  PE_ASSIGN_OR_RETURN(train::LossValue loss,
                      train::ComputeLoss(options.loss, out, labels, training));
  StepResult result{loss.loss, loss.correct, loss.count};
  if (!training) return result;
  PE_ASSIGN_OR_RETURN(std::vector<Tensor> grads, tape->Backward(loss.grad));
  for (size_t i = 0; i < layout.size(); ++i)
    std::memcpy(this->grads.data() + layout[i].offset, grads[i].data<float>(),
                layout[i].size * sizeof(float));
  float* w = weights.data();
  float* gv = this->grads.data();
  const int64_t n = static_cast<int64_t>(weights.size());
  if (options.fedprox_mu > 0)
    for (int64_t i = 0; i < n; ++i) gv[i] += options.fedprox_mu * (w[i] - anchor[i]);
  if (options.clip_global_norm > 0) train::ClipGlobalNorm(gv, n, options.clip_global_norm);
  optimizer->Step(w, gv, n);
  return result;
}

TrainingSession::TrainingSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrainingSession::~TrainingSession() = default;

Result<std::unique_ptr<TrainingSession>> TrainingSession::Create(const std::string& path,
                                                                 const TrainingOptions& options) {
  if (IsContainerFile(path)) {
    auto impl = Impl::BuildFromContainer(path, options);
    if (!impl.ok()) return impl.status().WithContext(path);
    return std::unique_ptr<TrainingSession>(new TrainingSession(std::move(impl).value()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open model '", path, "'");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0 || static_cast<uint64_t>(size) > options.max_tensor_bytes)
    return ResourceExhausted("model '", path, "' is larger than the limit of ",
                             options.max_tensor_bytes, " bytes");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) return IoError("cannot read model '", path, "'");
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  auto impl = Impl::Build(std::move(bytes), dir, options);
  if (!impl.ok()) return impl.status().WithContext(path);
  return std::unique_ptr<TrainingSession>(new TrainingSession(std::move(impl).value()));
}

Result<std::unique_ptr<TrainingSession>> TrainingSession::CreateFromBuffer(
    const void* data, size_t size, const TrainingOptions& options) {
  PE_ASSIGN_OR_RETURN(auto impl,
                      Impl::Build(std::string(static_cast<const char*>(data), size), "", options));
  return std::unique_ptr<TrainingSession>(new TrainingSession(std::move(impl)));
}

Result<StepResult> TrainingSession::TrainStep(const NamedTensors& inputs, const Tensor& labels) {
  return impl_->Run(inputs, labels, true);
}

Result<StepResult> TrainingSession::Evaluate(const NamedTensors& inputs, const Tensor& labels) {
  return impl_->Run(inputs, labels, false);
}

namespace {
Status SplitLabels(const NamedTensors& batch, const std::string& label_name, NamedTensors& inputs,
                   Tensor& labels) {
  for (const auto& [name, t] : batch) {
    if (name == label_name) {
      labels = t;
    } else {
      inputs.emplace_back(name, t);
    }
  }
  if (!labels.defined()) return InvalidArgument("no labels named '", label_name, "' in the batch");
  return Status::OK();
}
}  // namespace

Result<StepResult> TrainingSession::TrainStep(const NamedTensors& batch) {
  NamedTensors inputs;
  Tensor labels;
  PE_RETURN_IF_ERROR(SplitLabels(batch, impl_->options.label_input, inputs, labels));
  return TrainStep(inputs, labels);
}

Result<StepResult> TrainingSession::Evaluate(const NamedTensors& batch) {
  NamedTensors inputs;
  Tensor labels;
  PE_RETURN_IF_ERROR(SplitLabels(batch, impl_->options.label_input, inputs, labels));
  return Evaluate(inputs, labels);
}

std::vector<std::string> TrainingSession::InputNames() const {
  std::vector<std::string> names;
  for (const auto& in : impl_->model.graph.inputs) names.push_back(in.name);
  return names;
}

std::vector<Shape> TrainingSession::InputShapes() const {
  std::vector<Shape> shapes;
  for (const auto& in : impl_->model.graph.inputs) {
    Shape shape;
    if (in.type.has_shape)
      for (const Dim& d : in.type.dims) shape.push_back(d.known() ? d.value : -1);
    shapes.push_back(std::move(shape));
  }
  return shapes;
}

const std::vector<ParameterInfo>& TrainingSession::Layout() const { return impl_->layout; }
int64_t TrainingSession::ParameterCount() const {
  return static_cast<int64_t>(impl_->weights.size());
}
std::vector<float> TrainingSession::Weights() const { return impl_->weights; }

Status TrainingSession::SetWeights(const std::vector<float>& weights) {
  if (weights.size() != impl_->weights.size())
    return InvalidArgument("SetWeights: expected ", impl_->weights.size(), " floats, got ",
                           weights.size());
  for (size_t i = 0; i < weights.size(); ++i)
    if (!std::isfinite(weights[i]))
      return InvalidArgument("SetWeights: value ", i, " is not finite");
  std::copy(weights.begin(), weights.end(), impl_->weights.begin());
  impl_->anchor = weights;
  return Status::OK();
}

void TrainingSession::ResetOptimizer() { impl_->optimizer->Reset(); }

std::vector<float> TrainingSession::Delta() const {
  std::vector<float> d(impl_->weights.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = impl_->weights[i] - impl_->anchor[i];
  return d;
}

float TrainingSession::learning_rate() const { return impl_->optimizer->learning_rate(); }
void TrainingSession::set_learning_rate(float lr) { impl_->optimizer->set_learning_rate(lr); }
int64_t TrainingSession::step() const { return impl_->optimizer->steps(); }

Status TrainingSession::ExportOnnx(const std::string& path) const {
  PE_ASSIGN_OR_RETURN(std::string bytes, ExportOnnxBytes());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IoError("cannot write '", path, "'");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return IoError("cannot write '", path, "'");
  return Status::OK();
}

}  // namespace privedge
