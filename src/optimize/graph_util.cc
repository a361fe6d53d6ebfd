#include "optimize/graph_util.h"

#include <algorithm>
#include <memory>

namespace privedge::optimize_internal {

bool IsDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

bool HasSubgraph(const Node& node) {
  for (const auto& [key, a] : node.attributes)
    if (a.g || !a.graphs.empty()) return true;
  return false;
}

void CollectReferencedNames(const Graph& graph, std::set<std::string>& out) {
  for (const Node& n : graph.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty()) out.insert(in);
    for (const auto& [key, a] : n.attributes) {
      if (a.g) CollectReferencedNames(*a.g, out);
      for (const auto& sg : a.graphs) CollectReferencedNames(*sg, out);
    }
  }
  for (const auto& o : graph.outputs) out.insert(o.name);
}

GraphUses::GraphUses(const Graph& graph) {
  for (const Node& n : graph.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty()) consumers[in]++;
    for (const auto& [key, a] : n.attributes) {
      if (a.g) CollectReferencedNames(*a.g, nested);
      for (const auto& sg : a.graphs) CollectReferencedNames(*sg, nested);
    }
  }
  for (const auto& o : graph.outputs) outputs.insert(o.name);
}

int GraphUses::Consumers(const std::string& name) const {
  auto it = consumers.find(name);
  return it == consumers.end() ? 0 : it->second;
}

bool GraphUses::Used(const std::string& name) const {
  return Consumers(name) > 0 || nested.count(name) || outputs.count(name);
}

bool GraphUses::SingleUse(const std::string& name) const {
  return Consumers(name) == 1 && !nested.count(name) && !outputs.count(name);
}

const Tensor* FindConstant(const Graph& graph, bool main_graph, const std::string& name) {
  if (name.empty()) return nullptr;
  auto it = graph.initializers.find(name);
  if (it == graph.initializers.end()) return nullptr;
  if (main_graph &&
      std::find(graph.overridable_initializers.begin(), graph.overridable_initializers.end(),
                name) != graph.overridable_initializers.end())
    return nullptr;
  return &it->second;
}

std::map<std::string, const TypeInfo*> KnownTypes(const Graph& graph) {
  std::map<std::string, const TypeInfo*> types;
  for (const auto& vi : graph.value_infos) types[vi.name] = &vi.type;
  for (const auto& vi : graph.outputs) types.emplace(vi.name, &vi.type);
  // Declared graph inputs win: the session checks them on every run.
  for (const auto& vi : graph.inputs) types[vi.name] = &vi.type;
  return types;
}

void RemoveNodes(Graph& graph, const std::vector<bool>& remove) {
  std::vector<Node> kept;
  kept.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!remove[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
}

namespace {

Result<int64_t> VisitGraph(Graph& graph, bool main_graph, const GraphFn& fn) {
  PE_ASSIGN_OR_RETURN(int64_t count, fn(graph, main_graph));
  for (Node& node : graph.nodes) {
    for (auto& [key, a] : node.attributes) {
      if (a.g) {
        a.g = std::make_shared<Graph>(*a.g);
        PE_ASSIGN_OR_RETURN(int64_t n, VisitGraph(*a.g, false, fn));
        count += n;
      }
      for (auto& sg : a.graphs) {
        sg = std::make_shared<Graph>(*sg);
        PE_ASSIGN_OR_RETURN(int64_t n, VisitGraph(*sg, false, fn));
        count += n;
      }
    }
  }
  return count;
}

void CollectAllNames(const Graph& graph, std::set<std::string>& out) {
  for (const auto& vi : graph.inputs) out.insert(vi.name);
  for (const auto& vi : graph.outputs) out.insert(vi.name);
  for (const auto& vi : graph.value_infos) out.insert(vi.name);
  for (const auto& [name, t] : graph.initializers) out.insert(name);
  for (const Node& n : graph.nodes) {
    out.insert(n.inputs.begin(), n.inputs.end());
    out.insert(n.outputs.begin(), n.outputs.end());
    for (const auto& [key, a] : n.attributes) {
      if (a.g) CollectAllNames(*a.g, out);
      for (const auto& sg : a.graphs) CollectAllNames(*sg, out);
    }
  }
}

}  // namespace

Result<int64_t> ForEachGraph(Model& model, const GraphFn& fn) {
  return VisitGraph(model.graph, true, fn);
}

NameAllocator::NameAllocator(const Model& model) { CollectAllNames(model.graph, used_); }

std::string NameAllocator::Fresh(const std::string& base) {
  std::string name = base;
  for (int i = 1; used_.count(name); ++i) name = base + "_" + std::to_string(i);
  used_.insert(name);
  return name;
}

}  // namespace privedge::optimize_internal
