#include "train/tape.h"

#include <set>

namespace privedge::train {
namespace {

// Operators whose outputs carry no gradient (integer or boolean results).
const std::set<std::string>& NonDifferentiable() {
  static const std::set<std::string> ops = {
      "Shape",          "Size",        "ArgMax",         "ArgMin", "Equal", "Greater", "Less",
      "GreaterOrEqual", "LessOrEqual", "NonZero",        "Not",    "And",   "Or",      "Xor",
      "IsNaN",          "IsInf",       "ConstantOfShape"};
  return ops;
}

void AddInto(Tensor& acc, const Tensor& g) {
  float* a = acc.data<float>();
  const float* b = g.data<float>();
  for (int64_t i = 0; i < acc.numel(); ++i) a[i] += b[i];
}

}  // namespace

int Tape::Id(const std::string& name) {
  auto [it, inserted] = ids_.emplace(name, static_cast<int>(names_.size()));
  if (inserted) names_.push_back(name);
  return it->second;
}

Result<std::unique_ptr<Tape>> Tape::Create(const Model& model, const std::vector<std::string>& wrt,
                                           const std::string& output) {
  std::unique_ptr<Tape> tape(new Tape(model));
  const Graph& g = model.graph;
  for (const auto& in : g.inputs) tape->Id(in.name);
  for (const auto& [name, t] : g.initializers) tape->Id(name);
  for (const Node& node : g.nodes)
    for (const auto& out : node.outputs)
      if (!out.empty()) tape->Id(out);
  const size_t n = tape->names_.size();
  tape->values_.resize(n);
  tape->is_initializer_.assign(n, false);
  tape->requires_grad_.assign(n, false);
  for (const auto& [name, t] : g.initializers) {
    const int id = tape->ids_.at(name);
    tape->values_[id] = Value::FromTensor(t);
    tape->is_initializer_[id] = true;
  }
  auto out_it = tape->ids_.find(output);
  if (out_it == tape->ids_.end())
    return NotFound("output '", output, "' is not a value of the graph");
  tape->output_ = out_it->second;
  for (const auto& name : wrt) {
    auto it = tape->ids_.find(name);
    if (it == tape->ids_.end()) return NotFound("no value named '", name, "' in the graph");
    tape->wrt_.push_back(it->second);
    tape->wrt_names_.push_back(name);
    tape->requires_grad_[it->second] = true;
  }

  // Gradients flow forward from the wrt values; a node lies on the trainable path when one of
  // its inputs requires a gradient and one of its outputs reaches the output.
  tape->nodes_.resize(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    NodePlan& plan = tape->nodes_[i];
    bool any = false;
    for (const auto& in : node.inputs) {
      const int id = in.empty() ? -1 : tape->Id(in);
      if (id >= static_cast<int>(n))
        return InvalidModel(node.Describe(), ": undefined input '", in, "'");
      plan.inputs.push_back(id);
      if (id >= 0 && tape->requires_grad_[id]) any = true;
    }
    for (const auto& out : node.outputs)
      plan.outputs.push_back(out.empty() ? -1 : tape->ids_.at(out));
    if (any && !NonDifferentiable().count(node.op_type))
      for (int id : plan.outputs)
        if (id >= 0) tape->requires_grad_[id] = true;
  }
  std::vector<bool> reaches(n, false);
  reaches[tape->output_] = true;
  for (size_t i = g.nodes.size(); i-- > 0;) {
    NodePlan& plan = tape->nodes_[i];
    bool feeds_output = false, carries_grad = false;
    for (int id : plan.outputs) {
      if (id < 0) continue;
      feeds_output |= reaches[id];
      carries_grad |= tape->requires_grad_[id];
    }
    if (!feeds_output) continue;
    for (int id : plan.inputs)
      if (id >= 0) reaches[id] = true;
    plan.backward = carries_grad;
  }

  const RuleRegistry& rules = RuleRegistry::Global();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    NodePlan& plan = tape->nodes_[i];
    const bool default_domain = node.domain.empty() || node.domain == "ai.onnx";
    if (!default_domain || !rules.Has(node.op_type)) {
      if (plan.backward)
        return NotImplemented(node.Describe(), ": operator ", node.op_type,
                              " has no backward rule, and it lies between a trainable value and "
                              "the output '",
                              output, "'");
      continue;
    }
    auto rule = rules.Create(node, model.OpsetVersion(node.domain));
    if (rule.ok()) {
      plan.rule = std::move(rule).value();
    } else if (plan.backward) {
      return rule.status();
    }
    plan.backward = plan.backward && plan.rule;
  }
  return tape;
}

Status Tape::SetInitializer(const std::string& name, Tensor value) {
  auto it = ids_.find(name);
  if (it == ids_.end() || !is_initializer_[it->second])
    return NotFound("no initializer named '", name, "'");
  values_[it->second] = Value::FromTensor(std::move(value));
  return Status::OK();
}

Result<Tensor> Tape::Initializer(const std::string& name) const {
  auto it = ids_.find(name);
  if (it == ids_.end() || !is_initializer_[it->second])
    return NotFound("no initializer named '", name, "'");
  return values_[it->second].tensor;
}

Result<Tensor> Tape::Forward(const std::vector<std::pair<std::string, Tensor>>& feeds,
                             bool training, uint64_t seed) {
  forward_trained_ = false;
  for (size_t id = 0; id < values_.size(); ++id)
    if (!is_initializer_[id]) values_[id] = Value();
  for (const auto& [name, t] : feeds) {
    auto it = ids_.find(name);
    if (it == ids_.end() || is_initializer_[it->second])
      return InvalidArgument("unknown input '", name, "'");
    values_[it->second] = Value::FromTensor(t);
  }
  for (const auto& in : model_.graph.inputs)
    if (!values_[ids_.at(in.name)].is_tensor())
      return InvalidArgument("missing input '", in.name, "'");
  const std::vector<Node>& nodes = model_.graph.nodes;
  for (size_t i = 0; i < nodes.size(); ++i) {
    NodePlan& plan = nodes_[i];
    NodeIO& io = plan.io;
    io = NodeIO();
    io.node = &nodes[i];
    io.opset = model_.OpsetVersion(nodes[i].domain);
    io.training = training;
    io.seed = seed ^ (0x9E3779B97F4A7C15ull * (i + 1));
    for (int id : plan.inputs)
      io.inputs.push_back(id < 0 || values_[id].is_none() ? nullptr : &values_[id]);
    if (plan.rule) {
      PE_RETURN_IF_ERROR(plan.rule->Forward(io));
    } else {
      PE_RETURN_IF_ERROR(ReferenceForward(io));
    }
    if (io.outputs.size() != plan.outputs.size())
      return Internal(nodes[i].Describe(), ": forward produced ", io.outputs.size(), " outputs");
    for (const auto& [k, t] : io.updated_inputs)
      if (plan.inputs[k] >= 0 && is_initializer_[plan.inputs[k]])
        values_[plan.inputs[k]] = Value::FromTensor(t);
    for (size_t k = 0; k < plan.outputs.size(); ++k)
      if (plan.outputs[k] >= 0) values_[plan.outputs[k]] = io.outputs[k];
    // Inputs are read through pointers into values_, which no longer change this step.
  }
  const Value& out = values_[output_];
  if (!out.is_tensor() || out.tensor.dtype() != DType::kFloat32)
    return InvalidArgument("output '", names_[output_], "' is not a float32 tensor");
  forward_trained_ = training;
  return out.tensor;
}

Result<std::vector<Tensor>> Tape::Backward(const Tensor& grad_output) {
  if (!forward_trained_) return Internal("Backward without a training Forward");
  forward_trained_ = false;
  std::vector<Tensor> grads(values_.size());
  grads[output_] = grad_output;
  for (size_t i = nodes_.size(); i-- > 0;) {
    NodePlan& plan = nodes_[i];
    if (!plan.backward) continue;
    NodeIO& io = plan.io;
    bool any = false;
    io.grad_outputs.assign(plan.outputs.size(), Tensor());
    for (size_t k = 0; k < plan.outputs.size(); ++k) {
      if (plan.outputs[k] < 0 || !grads[plan.outputs[k]].defined()) continue;
      io.grad_outputs[k] = grads[plan.outputs[k]];
      any = true;
    }
    if (!any) continue;
    io.needs_grad.assign(plan.inputs.size(), false);
    io.grad_inputs.assign(plan.inputs.size(), Tensor());
    for (size_t k = 0; k < plan.inputs.size(); ++k)
      io.needs_grad[k] = plan.inputs[k] >= 0 && requires_grad_[plan.inputs[k]];
    PE_RETURN_IF_ERROR(plan.rule->Backward(io));
    for (size_t k = 0; k < plan.inputs.size(); ++k) {
      if (!io.needs_grad[k]) continue;
      const int id = plan.inputs[k];
      Tensor& g = io.grad_inputs[k];
      const Tensor& x = values_[id].tensor;
      if (!g.defined() || g.shape() != x.shape())
        return Internal(io.node->Describe(), ": backward gave no gradient of input ", k, " shaped ",
                        ShapeToString(x.shape()));
      if (!grads[id].defined()) {
        grads[id] = std::move(g);
      } else {
        // Never add in place: a rule may have returned a view shared with another gradient.
        Tensor sum = grads[id].Clone();
        AddInto(sum, g);
        grads[id] = std::move(sum);
      }
    }
    io.grad_outputs.clear();
    io.grad_inputs.clear();
  }
  std::vector<Tensor> result;
  for (int id : wrt_) {
    if (grads[id].defined()) {
      result.push_back(grads[id]);
    } else {
      result.push_back(Tensor(DType::kFloat32, values_[id].tensor.shape()));
    }
  }
  return result;
}

}  // namespace privedge::train
