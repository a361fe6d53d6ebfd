#include "train/rule.h"

namespace privedge::train {

Result<const Tensor*> NodeIO::FloatInput(int i) const {
  const Tensor* t = input(i);
  if (!t) return Error("input ", i, " is missing or not a tensor");
  if (t->dtype() != DType::kFloat32)
    return Error("training supports float32 tensors; input ", i, " is ", DTypeName(t->dtype()));
  return t;
}

Tensor NodeIO::GradOutput(int i) const {
  if (i < static_cast<int>(grad_outputs.size()) && grad_outputs[i].defined())
    return grad_outputs[i];
  const Tensor& y = outputs[i].tensor;
  return Tensor(DType::kFloat32, y.shape());
}

Status ReferenceForward(NodeIO& io) {
  KernelFn fn = KernelRegistry::Global().Find(io.node->op_type, io.node->domain);
  if (!fn)
    return NotImplemented(io.node->Describe(), ": no kernel for operator ", io.node->op_type);
  KernelContext ctx(*io.node, io.opset, io.inputs);
  PE_RETURN_IF_ERROR(fn(ctx));
  io.outputs = std::move(ctx.outputs());
  return Status::OK();
}

void RuleRegistry::Add(const std::string& op_type, RuleFactory factory) {
  factories_[op_type] = factory;
}

void RuleRegistry::AddSimple(const std::string& op_type, BackwardFn backward) {
  simple_[op_type] = backward;
}

bool RuleRegistry::Has(const std::string& op_type) const {
  return factories_.count(op_type) || simple_.count(op_type);
}

Result<std::unique_ptr<NodeRule>> RuleRegistry::Create(const Node& node, int64_t opset) const {
  auto it = factories_.find(node.op_type);
  if (it != factories_.end()) return it->second(node, opset);
  auto simple = simple_.find(node.op_type);
  if (simple == simple_.end())
    return NotImplemented(node.Describe(), ": no backward rule for operator ", node.op_type);
  return std::unique_ptr<NodeRule>(new ReferenceRule(simple->second));
}

std::vector<std::string> RuleRegistry::OpTypes() const {
  std::vector<std::string> ops;
  for (const auto& [op, f] : factories_) ops.push_back(op);
  for (const auto& [op, f] : simple_) ops.push_back(op);
  return ops;
}

const RuleRegistry& RuleRegistry::Global() {
  static const RuleRegistry* registry = [] {
    auto* r = new RuleRegistry;
    RegisterElementwiseRules(*r);
    RegisterMatMulRules(*r);
    RegisterSoftmaxRules(*r);
    RegisterConvRules(*r);
    RegisterPoolRules(*r);
    RegisterNormalizationRules(*r);
    RegisterShapeRules(*r);
    return r;
  }();
  return *registry;
}

}  // namespace privedge::train
