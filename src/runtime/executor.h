// GraphExecutor: runs an imported model's graph node by node on the reference kernels.
// Plans once (kernel lookup, value lifetimes) and runs many times; Run is const and
// re-entrant, each call keeping its values in its own scope.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "core/value.h"
#include "kernels/kernel.h"
#include "model/graph.h"

namespace privedge {

class GraphExecutor {
 public:
  // Looks up a kernel for every node (subgraphs included); errors name unsupported operators.
  // Every kernel runs under `limits` (tensor size, loop iterations).
  static Result<std::unique_ptr<GraphExecutor>> Create(const Model& model,
                                                       const KernelRegistry& registry,
                                                       const KernelLimits& limits = {});

  // Runs the main graph with `inputs` bound by name; returns the graph outputs in order.
  Result<std::vector<Value>> Run(const std::vector<std::pair<std::string, Value>>& inputs) const;

 private:
  struct Scope;
  struct GraphPlan {
    std::vector<KernelFn> kernels;                       // one per node
    std::vector<int64_t> opsets;                         // one per node
    std::vector<std::vector<std::string>> release_after; // values dead after node i
    std::unordered_map<std::string, Value> initializers;
  };

  GraphExecutor(const Model& model, const KernelLimits& limits)
      : model_(model), limits_(limits) {}
  Status PlanGraph(const Graph& graph, const KernelRegistry& registry);
  Result<std::vector<Value>> RunGraph(const Graph& graph, std::vector<Value> inputs,
                                      const std::vector<std::string>& input_names,
                                      const Scope* parent) const;

  const Model& model_;
  KernelLimits limits_;
  std::unordered_map<const Graph*, GraphPlan> plans_;
};

}  // namespace privedge
