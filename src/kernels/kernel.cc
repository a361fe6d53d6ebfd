#include "kernels/kernel.h"

namespace privedge {

Result<const Tensor*> KernelContext::RequireInput(int i) const {
  if (!has_input(i))
    return Error("input ", i, " is required but was not supplied");
  if (!inputs_[i]->is_tensor())
    return Error("input ", i, " ('", node_.inputs[i], "') must be a tensor");
  return &inputs_[i]->tensor;
}

int64_t KernelContext::attr_int(const std::string& name, int64_t def) const {
  const Attribute* a = node_.FindAttribute(name);
  return a ? a->i : def;
}

float KernelContext::attr_float(const std::string& name, float def) const {
  const Attribute* a = node_.FindAttribute(name);
  return a ? a->f : def;
}

std::string KernelContext::attr_string(const std::string& name, const std::string& def) const {
  const Attribute* a = node_.FindAttribute(name);
  return a ? a->s : def;
}

std::vector<int64_t> KernelContext::attr_ints(const std::string& name,
                                              const std::vector<int64_t>& def) const {
  const Attribute* a = node_.FindAttribute(name);
  return a ? a->ints : def;
}

std::vector<float> KernelContext::attr_floats(const std::string& name,
                                              const std::vector<float>& def) const {
  const Attribute* a = node_.FindAttribute(name);
  return a ? a->floats : def;
}

std::vector<std::string> KernelContext::attr_strings(const std::string& name) const {
  const Attribute* a = node_.FindAttribute(name);
  return a ? a->strings : std::vector<std::string>{};
}

const Tensor* KernelContext::attr_tensor(const std::string& name) const {
  const Attribute* a = node_.FindAttribute(name);
  return a && a->t.defined() ? &a->t : nullptr;
}

const Graph* KernelContext::attr_graph(const std::string& name) const {
  const Attribute* a = node_.FindAttribute(name);
  return a ? a->g.get() : nullptr;
}

Status KernelContext::CheckTensorShape(DType dtype, const Shape& shape) const {
  if (!IsValidDType(static_cast<int32_t>(dtype)))
    return Error("cannot create a tensor of type ", DTypeName(dtype));
  for (int64_t d : shape)
    if (d < 0) return Error("tensor shape ", ShapeToString(shape), " has a negative dimension");
  const int64_t count = ShapeElementCount(shape);
  if (count < 0) return Error("element count of shape ", ShapeToString(shape), " overflows int64");
  const size_t limit = limits_.max_tensor_bytes;
  size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(count), DTypeSize(dtype), &bytes) ||
      bytes > limit)
    return OutOfRange(node_.Describe(), ": tensor of shape ", ShapeToString(shape), " and type ",
                      DTypeName(dtype), " needs more than the ", limit,
                      "-byte limit (SessionOptions::max_tensor_bytes)");
  Status extents = CheckShapeExtents(shape, limit, "tensor");
  if (!extents.ok()) return extents.WithContext(node_.Describe());
  return Status::OK();
}

Result<Tensor> KernelContext::CreateTensor(DType dtype, const Shape& shape) const {
  PE_RETURN_IF_ERROR(CheckTensorShape(dtype, shape));
  auto t = Tensor::Create(dtype, shape, limits_.max_tensor_bytes);
  if (!t.ok()) return t.status().WithContext(node_.Describe());
  return t;
}

Result<Tensor*> KernelContext::AllocateOutput(int i, DType dtype, const Shape& shape) {
  if (i < 0 || i >= num_outputs()) return Error("output ", i, " is not declared");
  PE_ASSIGN_OR_RETURN(Tensor t, CreateTensor(dtype, shape));
  outputs_[i] = Value::FromTensor(std::move(t));
  return &outputs_[i].tensor;
}

Result<std::vector<Value>> KernelContext::RunSubgraph(const Graph& graph,
                                                      std::vector<Value> inputs) const {
  if (!runner_) return Internal(node_.Describe(), ": no subgraph runner available");
  return runner_(graph, std::move(inputs));
}

void KernelRegistry::Add(const std::string& op_type, KernelFn fn, const std::string& domain) {
  kernels_[{domain, op_type}] = fn;
}

KernelFn KernelRegistry::Find(const std::string& op_type, const std::string& domain) const {
  const std::string& d = domain == "ai.onnx" ? std::string() : domain;
  auto it = kernels_.find({d, op_type});
  return it == kernels_.end() ? nullptr : it->second;
}

void KernelRegistry::AddFast(const std::string& op_type, KernelFactory factory,
                             const std::string& domain) {
  fast_[{domain, op_type}].push_back(factory);
}

std::vector<KernelFactory> KernelRegistry::FindFast(const std::string& op_type,
                                                    const std::string& domain) const {
  const std::string& d = domain == "ai.onnx" ? std::string() : domain;
  auto it = fast_.find({d, op_type});
  return it == fast_.end() ? std::vector<KernelFactory>{} : it->second;
}

std::vector<std::string> KernelRegistry::OpTypes() const {
  std::vector<std::string> out;
  for (const auto& [key, fn] : kernels_) out.push_back(key.first.empty() ? key.second : key.first + "." + key.second);
  return out;
}

}  // namespace privedge
