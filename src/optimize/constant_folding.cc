// Constant folding: nodes computable from constants alone become initializers.
#include <algorithm>
#include <set>

#include "optimize/graph_util.h"
#include "optimize/optimize.h"

namespace privedge {

using namespace optimize_internal;

namespace {

bool IsRandomOp(const std::string& op) {
  static const std::set<std::string> kRandom = {"RandomNormal",     "RandomUniform",
                                                "RandomNormalLike", "RandomUniformLike",
                                                "Multinomial",      "Bernoulli"};
  return kRandom.count(op) > 0;
}

// Shape(x) for a main-graph input x whose declared shape is fully known (the session checks
// it on every run), honouring the start/end attributes of opset 15. Undefined otherwise.
Tensor FoldShapeOfInput(const Graph& graph, bool main_graph, const Node& node) {
  if (!main_graph || node.op_type != "Shape" || node.inputs.size() != 1) return Tensor();
  const ValueInfo* input = nullptr;
  for (const auto& vi : graph.inputs)
    if (vi.name == node.inputs[0]) input = &vi;
  if (!input || input->type.kind != TypeInfo::Kind::kTensor || !input->type.has_shape)
    return Tensor();
  std::vector<int64_t> dims;
  for (const Dim& d : input->type.dims) {
    if (!d.known()) return Tensor();
    dims.push_back(d.value);
  }
  const int64_t rank = static_cast<int64_t>(dims.size());
  auto clamp = [rank](int64_t v) {
    if (v < 0) v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  const Attribute* start_attr = node.FindAttribute("start");
  const Attribute* end_attr = node.FindAttribute("end");
  const int64_t start = clamp(start_attr ? start_attr->i : 0);
  const int64_t end = clamp(end_attr ? end_attr->i : rank);
  std::vector<int64_t> out;
  for (int64_t i = start; i < end; ++i) out.push_back(dims[i]);
  return Tensor::FromVector(out, {static_cast<int64_t>(out.size())});
}

// Evaluates `node` when all its inputs are constants; an empty vector when it should stay.
std::vector<Tensor> TryFold(const Graph& graph, bool main_graph, const Node& node, int64_t opset,
                            const OptimizeOptions& options, const Evaluator& evaluate) {
  std::vector<const Tensor*> inputs;
  size_t input_bytes = 0;
  bool any_input = false;
  for (const auto& name : node.inputs) {
    if (name.empty()) {
      inputs.push_back(nullptr);
      continue;
    }
    const Tensor* t = FindConstant(graph, main_graph, name);
    if (!t) return {};
    inputs.push_back(t);
    input_bytes += t->nbytes();
    any_input = true;
  }
  // Nodes without inputs other than Constant create values (SequenceEmpty, random ops).
  const bool is_constant = node.op_type == "Constant";
  if (!any_input && !is_constant) return {};
  auto result = evaluate(node, opset, inputs);
  if (!result.ok() || result->size() != node.outputs.size()) return {};
  size_t output_bytes = 0;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    const Tensor& t = (*result)[i];
    if (node.outputs[i].empty()) continue;
    if (!t.defined()) return {};
    output_bytes += t.nbytes();
  }
  if (!is_constant && output_bytes > input_bytes + options.max_fold_growth_bytes) return {};
  return std::move(result).value();
}

Result<int64_t> FoldConstantsIn(Graph& graph, bool main_graph, const Model& model,
                                const OptimizeOptions& options, const Evaluator& evaluate) {
  std::vector<bool> remove(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (!IsDefaultDomain(node.domain) || IsRandomOp(node.op_type) || HasSubgraph(node)) continue;
    bool clash = false;
    for (const auto& o : node.outputs) clash |= !o.empty() && graph.initializers.count(o);
    if (clash) continue;
    std::vector<Tensor> outputs;
    if (Tensor shape = FoldShapeOfInput(graph, main_graph, node); shape.defined()) {
      outputs.push_back(shape);
    } else {
      outputs =
          TryFold(graph, main_graph, node, model.OpsetVersion(node.domain), options, evaluate);
    }
    if (outputs.empty()) continue;
    for (size_t k = 0; k < node.outputs.size(); ++k)
      if (!node.outputs[k].empty()) graph.initializers[node.outputs[k]] = std::move(outputs[k]);
    remove[i] = true;
    ++count;
  }
  if (count) RemoveNodes(graph, remove);
  return count;
}

}  // namespace

Result<int64_t> FoldConstants(Model& model, const OptimizeOptions& options,
                              const Evaluator& evaluate) {
  if (!evaluate) return int64_t{0};
  return ForEachGraph(model, [&](Graph& g, bool main_graph) {
    return FoldConstantsIn(g, main_graph, model, options, evaluate);
  });
}

}  // namespace privedge
