// GraphExecutor: runs an imported model's graph node by node on the reference kernels.
// Plans once (kernel lookup, value lifetimes) and runs many times; Run is const and
// re-entrant, each call keeping its values in its own scope.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/value.h"
#include "kernels/kernel.h"
#include "model/graph.h"

namespace privedge {

struct ExecutorOptions {
  KernelLimits limits;       // every kernel runs under these (tensor size, loop iterations)
  bool fast_kernels = true;  // false: reference kernels only (the oracle)
  int threads = 1;           // intra-op threads offered to fast kernels
  // Check each node against its ONNX schema. Containers skip it: their graph was checked when
  // it was converted, and the schema registry's first use costs more than loading them
  // (kernels still validate their inputs and attributes).
  bool check_schemas = true;
  // The weights are decrypted model bytes: kernels keep their packed copies in locked memory.
  bool sensitive_weights = false;
};

class GraphExecutor {
 public:
  // Looks up a kernel for every node (subgraphs included) and prepares fast kernels where one
  // handles the node; errors name unsupported operators.
  static Result<std::unique_ptr<GraphExecutor>> Create(const Model& model,
                                                       const KernelRegistry& registry,
                                                       const ExecutorOptions& options = {});

  // The kernel each node of the main graph runs: a fast kernel's name or "reference".
  std::vector<std::string> KernelNames() const;

  // Per-node timing of the main graph: while on, every Run records each node's wall time (one
  // uncontended lock and a vector append per node). Off by default; turning it on clears the
  // samples. Not to be called while a Run is in progress.
  void SetProfiling(bool on);
  struct NodeProfile {
    std::string node;     // the node's name, or its first output when it has none
    std::string op_type;  // domain-qualified for non-default domains
    std::string kernel;   // as KernelNames()
    int64_t calls = 0;
    double total_ms = 0;
    double median_ms = 0;  // robust against a run the scheduler stalled
  };
  // One entry per main-graph node, in graph order (empty while profiling is off). A node with
  // subgraphs (If, Loop, Scan) counts the time of its bodies.
  std::vector<NodeProfile> Profile() const;

  // Runs the main graph with `inputs` bound by name; returns the graph outputs in order.
  Result<std::vector<Value>> Run(const std::vector<std::pair<std::string, Value>>& inputs) const;

 private:
  struct Scope;
  struct GraphPlan {
    std::vector<KernelFn> kernels;                       // one per node
    std::vector<std::shared_ptr<const PreparedKernel>> prepared;  // per node; null: reference
    std::vector<int64_t> opsets;                         // one per node
    std::vector<std::vector<std::string>> release_after; // values dead after node i
    std::unordered_map<std::string, Value> initializers;
  };

  GraphExecutor(const Model& model, const ExecutorOptions& options)
      : model_(model), options_(options), limits_(options.limits) {}
  Status PlanGraph(const Graph& graph, const KernelRegistry& registry);
  Result<std::shared_ptr<const PreparedKernel>> PrepareFastKernel(
      const Graph& graph, const Node& node, int64_t opset, const KernelRegistry& registry) const;
  Result<std::vector<Value>> RunGraph(const Graph& graph, std::vector<Value> inputs,
                                      const std::vector<std::string>& input_names,
                                      const Scope* parent) const;

  const Model& model_;
  ExecutorOptions options_;
  KernelLimits limits_;
  std::unordered_map<const Graph*, GraphPlan> plans_;
  struct Counters {
    std::mutex mu;
    std::vector<double> ms;
  };
  std::unique_ptr<Counters[]> profile_;  // one per main-graph node while profiling
};

}  // namespace privedge
