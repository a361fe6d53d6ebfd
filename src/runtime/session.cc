#include "privedge/session.h"

#include <unistd.h>

#include <map>
#include <set>

#include "kernels/kernel.h"
#include "model/container.h"
#include "model/onnx_import.h"
#include "privedge/keystore.h"
#include "runtime/optimize_model.h"
#include "runtime/session_impl.h"

namespace privedge {

std::string TensorInfo::ToString() const {
  std::string s = DTypeName(dtype);
  if (kind != "tensor") s = kind + "(" + s + ")";
  if (!has_shape) return s + "[?]";
  s += "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += shape[i].value >= 0 ? std::to_string(shape[i].value)
                             : (shape[i].symbol.empty() ? "?" : shape[i].symbol);
  }
  return s + "]";
}

TensorInfo TensorInfoFromValueInfo(const ValueInfo& vi) {
  TensorInfo info;
  info.name = vi.name;
  const TypeInfo* t = &vi.type;
  switch (vi.type.kind) {
    case TypeInfo::Kind::kTensor: info.kind = "tensor"; break;
    case TypeInfo::Kind::kSequence: info.kind = "sequence"; break;
    case TypeInfo::Kind::kOptional: info.kind = "optional"; break;
    case TypeInfo::Kind::kUnknown: info.kind = "unknown"; break;
  }
  while (t->inner) t = t->inner.get();
  info.dtype = t->elem_type;
  info.has_shape = t->has_shape;
  for (const Dim& d : t->dims) info.shape.push_back(DimInfo{d.value, d.symbol});
  return info;
}

namespace {

int OnlineCpus() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

Status CheckInput(const TensorInfo& info, const Value& v, size_t max_tensor_bytes,
                  std::map<std::string, int64_t>& symbols) {
  if (info.kind == "tensor" && !v.is_tensor())
    return InvalidArgument("input '", info.name, "': expected a tensor");
  if (info.kind == "sequence" && !v.is_sequence())
    return InvalidArgument("input '", info.name, "': expected a sequence of tensors");
  if (!v.is_tensor()) return Status::OK();
  const Tensor& t = v.tensor;
  if (!t.defined()) return InvalidArgument("input '", info.name, "': tensor is empty (undefined)");
  if (info.dtype != DType::kUndefined && t.dtype() != info.dtype)
    return InvalidArgument("input '", info.name, "': expected type ", DTypeName(info.dtype),
                           ", got ", DTypeName(t.dtype()));
  PE_RETURN_IF_ERROR(CheckShapeExtents(t.shape(), max_tensor_bytes, "input '" + info.name + "'"));
  if (!info.has_shape) return Status::OK();
  if (t.rank() != info.shape.size())
    return InvalidArgument("input '", info.name, "': expected shape ", info.ToString(), " (rank ",
                           info.shape.size(), "), got ", ShapeToString(t.shape()), " (rank ",
                           t.rank(), ")");
  for (size_t i = 0; i < t.rank(); ++i) {
    const DimInfo& d = info.shape[i];
    if (d.value >= 0 && d.value != t.dim(i))
      return InvalidArgument("input '", info.name, "': dimension ", i, " must be ", d.value,
                             " (declared ", info.ToString(), "), got ", ShapeToString(t.shape()));
    if (d.value < 0 && !d.symbol.empty()) {
      auto [it, inserted] = symbols.emplace(d.symbol, t.dim(i));
      if (!inserted && it->second != t.dim(i))
        return InvalidArgument("input '", info.name, "': dimension ", i, " ('", d.symbol,
                               "') is ", t.dim(i), " but another input set '", d.symbol, "' to ",
                               it->second);
    }
  }
  return Status::OK();
}

// `optimized`: the graph is already optimized (it comes from a container); plan it as it is.
Result<std::unique_ptr<Session::Impl>> BuildImpl(Model model, const SessionOptions& options,
                                                 bool sensitive_weights,
                                                 bool optimized = false) {
  auto impl = std::make_unique<Session::Impl>();
  impl->model = std::move(model);
  impl->options = options;
  for (const auto& in : impl->model.graph.inputs)
    impl->inputs.push_back(TensorInfoFromValueInfo(in));
  for (const auto& name : impl->model.graph.overridable_initializers) {
    const Tensor& t = impl->model.graph.initializers.at(name);
    TensorInfo info;
    info.name = name;
    info.dtype = t.dtype();
    info.has_shape = true;
    for (int64_t d : t.shape()) info.shape.push_back(DimInfo{d, ""});
    impl->inputs.push_back(info);
  }
  for (const auto& out : impl->model.graph.outputs)
    impl->outputs.push_back(TensorInfoFromValueInfo(out));
  ExecutorOptions exec_options;
  exec_options.limits.max_tensor_bytes = options.max_tensor_bytes;
  exec_options.limits.max_loop_iterations = options.max_loop_iterations;
  exec_options.fast_kernels = options.fast_kernels;
  exec_options.threads = options.threads > 0 ? options.threads : OnlineCpus();
  exec_options.check_schemas = !optimized;
  exec_options.sensitive_weights = sensitive_weights;
  // The optimized graph is kept only when every pass and its plan succeed: optimizing never
  // makes a valid model fail. Subgraphs are copied before a pass changes them, so `imported`
  // stays intact.
  if (options.optimize && !optimized) {
    Model imported = impl->model;
    if (OptimizeForSession(impl->model, options).ok()) {
      auto executor = GraphExecutor::Create(impl->model, KernelRegistry::Global(), exec_options);
      if (executor.ok()) {
        impl->executor = std::move(executor).value();
        return impl;
      }
    }
    impl->model = std::move(imported);
  }
  PE_ASSIGN_OR_RETURN(impl->executor,
                      GraphExecutor::Create(impl->model, KernelRegistry::Global(), exec_options));
  return impl;
}

}  // namespace

Result<std::vector<Value>> Session::Impl::RunValues(
    const std::vector<std::pair<std::string, Value>>& given) const {
  std::map<std::string, int64_t> symbols;
  std::set<std::string> seen;
  const std::set<std::string> overridable(model.graph.overridable_initializers.begin(),
                                          model.graph.overridable_initializers.end());
  for (const auto& [name, v] : given) {
    const TensorInfo* info = nullptr;
    for (const auto& i : inputs)
      if (i.name == name) info = &i;
    if (!info) {
      std::string known;
      for (const auto& i : inputs) known += (known.empty() ? "" : ", ") + i.name;
      return InvalidArgument("unknown input '", name, "' (model inputs: ", known, ")");
    }
    if (!seen.insert(name).second) return InvalidArgument("input '", name, "' given twice");
    PE_RETURN_IF_ERROR(CheckInput(*info, v, options.max_tensor_bytes, symbols));
  }
  for (const auto& i : inputs) {
    if (!seen.count(i.name) && !overridable.count(i.name) && i.kind != "optional")
      return InvalidArgument("missing input '", i.name, "' (", i.ToString(), ")");
  }
  return executor->Run(given);
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

const std::vector<TensorInfo>& Session::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& Session::outputs() const { return impl_->outputs; }

namespace {

Result<std::unique_ptr<Session::Impl>> LoadContainer(const std::string& path,
                                                     const SessionOptions& options) {
  PE_ASSIGN_OR_RETURN(OpenedContainer c,
                      OpenContainerWithPolicy(path, options.keystore, options.require_signed_by,
                                              options.allow_unlocked_model_memory));
  ContainerParseLimits limits;
  limits.max_tensor_bytes = options.max_tensor_bytes;
  auto model = ParseModel(c.body, c.owner, limits);
  if (!model.ok()) return model.status().WithContext(path);
  auto impl = BuildImpl(std::move(model).value(), options, c.header.encrypted,
                        /*optimized=*/true);
  if (!impl.ok()) return impl.status().WithContext(path);
  (*impl)->container = c.header;
  return impl;
}

}  // namespace

Result<std::unique_ptr<Session>> Session::Load(const std::string& path,
                                               const SessionOptions& options) {
  if (IsContainerFile(path)) {
    PE_ASSIGN_OR_RETURN(auto impl, LoadContainer(path, options));
    return std::unique_ptr<Session>(new Session(std::move(impl)));
  }
  if (!options.require_signed_by.empty())
    return Unauthenticated(path, ": a signed model is required, but this is an ONNX file, which "
                           "cannot be signed (convert it with 'privedge convert --sign')");
  ImportOptions io;
  io.max_tensor_bytes = options.max_tensor_bytes;
  PE_ASSIGN_OR_RETURN(Model model, ImportOnnxFile(path, io));
  auto impl = BuildImpl(std::move(model), options, /*sensitive_weights=*/false);
  if (!impl.ok()) return impl.status().WithContext(path);
  return std::unique_ptr<Session>(new Session(std::move(impl).value()));
}

Result<std::unique_ptr<Session>> Session::LoadFromBuffer(const void* data, size_t size,
                                                         const SessionOptions& options) {
  ImportOptions io;
  io.max_tensor_bytes = options.max_tensor_bytes;
  PE_ASSIGN_OR_RETURN(Model model, ImportOnnxBuffer(data, size, "", io));
  PE_ASSIGN_OR_RETURN(auto impl, BuildImpl(std::move(model), options, /*sensitive_weights=*/false));
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Result<NamedTensors> Session::Run(const NamedTensors& inputs) const {
  std::vector<std::pair<std::string, Value>> values;
  for (const auto& [name, t] : inputs) values.emplace_back(name, Value::FromTensor(t));
  PE_ASSIGN_OR_RETURN(std::vector<Value> outs, impl_->RunValues(values));
  NamedTensors result;
  for (size_t i = 0; i < outs.size(); ++i) {
    const std::string& name = impl_->outputs[i].name;
    if (!outs[i].is_tensor())
      return NotImplemented("output '", name,
                            "' is a sequence or an empty optional; Session::Run returns tensors only");
    result.emplace_back(name, outs[i].tensor);
  }
  return result;
}

}  // namespace privedge
