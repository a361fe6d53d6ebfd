// Dead-node and identity elimination.
#include <map>

#include "optimize/graph_util.h"
#include "optimize/optimize.h"

namespace privedge {

using namespace optimize_internal;

namespace {

Result<int64_t> EliminateDeadNodesIn(Graph& graph) {
  GraphUses uses(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  int64_t count = 0;
  // Backwards, so a chain that only fed a dead node goes in the same sweep.
  for (size_t i = graph.nodes.size(); i-- > 0;) {
    const Node& node = graph.nodes[i];
    if (!IsDefaultDomain(node.domain)) continue;
    bool live = false;
    for (const auto& o : node.outputs) live |= !o.empty() && uses.Used(o);
    if (live) continue;
    remove[i] = true;
    ++count;
    for (const auto& in : node.inputs)
      if (!in.empty()) uses.consumers[in]--;
  }
  if (count) RemoveNodes(graph, remove);
  return count;
}

// A constant scalar of `graph` read through `name`, or nullptr.
const Tensor* ConstantScalar(const Graph& graph, bool main_graph, const std::string& name) {
  const Tensor* t = FindConstant(graph, main_graph, name);
  return t && t->numel() == 1 ? t : nullptr;
}

// True when `node` is a Dropout that passes its input through unchanged: inference mode, a
// valid ratio (so removing it hides no error), and a mask nobody reads.
bool IsInferenceDropout(const Graph& graph, bool main_graph, const Node& node, int64_t opset,
                        const GraphUses& uses) {
  if (node.outputs.size() > 1 && !node.outputs[1].empty() && uses.Used(node.outputs[1]))
    return false;
  double ratio = 0.5;
  if (const Attribute* a = node.FindAttribute("ratio")) ratio = a->f;
  if (opset >= 12) {
    if (node.inputs.size() > 1 && !node.inputs[1].empty()) {
      const Tensor* r = ConstantScalar(graph, main_graph, node.inputs[1]);
      if (!r || !IsFloatingDType(r->dtype())) return false;
      ratio = r->GetAsDouble(0);
    }
    if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
      const Tensor* t = ConstantScalar(graph, main_graph, node.inputs[2]);
      if (!t || t->dtype() != DType::kBool || t->GetAsInt64(0) != 0) return false;
    }
  } else if (opset < 7) {
    const Attribute* is_test = node.FindAttribute("is_test");
    if (is_test && is_test->i == 0) return false;
  }
  return ratio >= 0 && ratio < 1;
}

void Rename(Graph& graph, const std::string& from, const std::string& to) {
  for (Node& n : graph.nodes)
    for (auto& in : n.inputs)
      if (in == from) in = to;
}

Result<int64_t> EliminateIdentitiesIn(Graph& graph, bool main_graph, const Model& model) {
  GraphUses uses(graph);
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const auto& o : graph.nodes[i].outputs)
      if (!o.empty()) producer[o] = i;
  std::vector<bool> remove(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (!IsDefaultDomain(node.domain) || node.inputs.empty() || node.outputs.empty()) continue;
    const std::string x = node.inputs[0], y = node.outputs[0];
    if (x.empty() || y.empty() || uses.nested.count(y)) continue;
    if (node.op_type == "Identity") {
      if (node.inputs.size() != 1 || node.outputs.size() != 1) continue;
    } else if (node.op_type == "Dropout") {
      if (!IsInferenceDropout(graph, main_graph, node, model.OpsetVersion(node.domain), uses))
        continue;
    } else {
      continue;
    }
    if (!uses.outputs.count(y)) {
      // Consumers read x instead of y.
      Rename(graph, y, x);
      uses.consumers[x] += uses.Consumers(y) - 1;
      uses.consumers.erase(y);
    } else {
      // y must keep its name: rename x's producer instead, when x is this graph's own
      // intermediate value that nothing outside this graph's nodes sees.
      auto p = producer.find(x);
      if (p == producer.end() || p->second >= i || uses.outputs.count(x) || uses.nested.count(x))
        continue;
      for (auto& o : graph.nodes[p->second].outputs)
        if (o == x) o = y;
      Rename(graph, x, y);
      uses.consumers[y] = uses.Consumers(x) - 1;
      uses.consumers.erase(x);
      producer[y] = p->second;
      producer.erase(p);
    }
    remove[i] = true;
    ++count;
  }
  if (count) RemoveNodes(graph, remove);
  return count;
}

}  // namespace

Result<int64_t> EliminateDeadNodes(Model& model) {
  return ForEachGraph(model, [](Graph& g, bool) { return EliminateDeadNodesIn(g); });
}

Result<int64_t> EliminateIdentities(Model& model) {
  return ForEachGraph(model, [&model](Graph& g, bool main_graph) {
    return EliminateIdentitiesIn(g, main_graph, model);
  });
}

}  // namespace privedge
