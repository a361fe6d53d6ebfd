// Helpers shared by the optimizer passes: who uses a value, which values are constant, walking
// subgraphs copy-on-write, fresh names.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "model/graph.h"
#include "privedge/status.h"

namespace privedge::optimize_internal {

bool IsDefaultDomain(const std::string& domain);
bool HasSubgraph(const Node& node);

// How the values of one graph are used. Names referenced anywhere inside a node's subgraphs
// count as used by the graph and never "only used once": passes leave them alone.
struct GraphUses {
  std::map<std::string, int> consumers;  // occurrences as an input of this graph's nodes
  std::set<std::string> nested;          // referenced inside subgraphs of this graph's nodes
  std::set<std::string> outputs;         // this graph's outputs
  explicit GraphUses(const Graph& graph);
  bool Used(const std::string& name) const;
  // Exactly one input slot of one node of this graph reads `name`, and nothing else does.
  bool SingleUse(const std::string& name) const;
  int Consumers(const std::string& name) const;
};

// Every name a graph and its subgraphs reference: inputs of nodes and outputs of graphs.
void CollectReferencedNames(const Graph& graph, std::set<std::string>& out);

// The tensor behind `name` when it is a constant of `graph`: an initializer the caller cannot
// override (main-graph overridable initializers are inputs). nullptr otherwise.
const Tensor* FindConstant(const Graph& graph, bool main_graph, const std::string& name);

// Declared or inferred type of each value of `graph`: inputs, value_infos, outputs.
std::map<std::string, const TypeInfo*> KnownTypes(const Graph& graph);

// Drops the nodes whose flag is set, keeping the order of the others.
void RemoveNodes(Graph& graph, const std::vector<bool>& remove);

// Runs `fn` on the main graph and then on every subgraph, depth first. Each subgraph is copied
// before `fn` sees it, so graphs shared with another Model are never changed. Sums the counts.
using GraphFn = std::function<Result<int64_t>(Graph& graph, bool main_graph)>;
Result<int64_t> ForEachGraph(Model& model, const GraphFn& fn);

// Hands out names that no graph of the model uses yet: "<base>", "<base>_1", ...
class NameAllocator {
 public:
  explicit NameAllocator(const Model& model);
  std::string Fresh(const std::string& base);

 private:
  std::set<std::string> used_;
};

}  // namespace privedge::optimize_internal
