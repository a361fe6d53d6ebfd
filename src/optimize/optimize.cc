// The pass manager: runs the passes in rounds until nothing changes.
#include "optimize/optimize.h"

#include <algorithm>
#include <exception>
#include <set>

#include "optimize/graph_util.h"

namespace privedge {

using namespace optimize_internal;

int64_t CountNodes(const Graph& graph) {
  int64_t count = static_cast<int64_t>(graph.nodes.size());
  for (const Node& n : graph.nodes) {
    for (const auto& [key, a] : n.attributes) {
      if (a.g) count += CountNodes(*a.g);
      for (const auto& sg : a.graphs) count += CountNodes(*sg);
    }
  }
  return count;
}

int64_t RemoveUnusedInitializers(Model& model) {
  auto removed = ForEachGraph(model, [](Graph& graph, bool main_graph) -> Result<int64_t> {
    std::set<std::string> referenced;
    CollectReferencedNames(graph, referenced);
    if (main_graph)
      referenced.insert(graph.overridable_initializers.begin(),
                        graph.overridable_initializers.end());
    int64_t count = 0;
    for (auto it = graph.initializers.begin(); it != graph.initializers.end();) {
      if (referenced.count(it->first)) {
        ++it;
      } else {
        it = graph.initializers.erase(it);
        ++count;
      }
    }
    return count;
  });
  return removed.ok() ? *removed : 0;
}

namespace {

Result<OptimizeStats> RunPasses(Model& model, const OptimizeOptions& options,
                                const Evaluator& evaluate) {
  struct Pass {
    const char* name;
    bool enabled;
    std::function<Result<int64_t>()> run;
  };
  // Folding first exposes constant weights to the fusions; identities go before the fusions
  // so a Dropout between Conv and BatchNormalization does not hide the pair; dead nodes last
  // clean up after all of them.
  const std::vector<Pass> passes = {
      {"constant folding", options.fold_constants && evaluate != nullptr,
       [&] { return FoldConstants(model, options, evaluate); }},
      {"identity elimination", options.eliminate_identities,
       [&] { return EliminateIdentities(model); }},
      {"conv+batchnorm folding", options.fold_conv_batchnorm,
       [&] { return FoldConvBatchNorm(model); }},
      {"matmul+add to gemm", options.fuse_matmul_add, [&] { return FuseMatMulAdd(model); }},
      {"conv+add fusion", options.fuse_conv_add, [&] { return FuseConvAdd(model); }},
      {"conv+activation fusion", options.fuse_conv_activation,
       [&] { return FuseConvActivation(model); }},
      {"layernorm fusion", options.fuse_layer_norm, [&] { return FuseLayerNorm(model); }},
      {"matmul+bias(+relu) fusion", options.fuse_matmul_bias,
       [&] { return FuseMatMulBias(model); }},
      {"dead node elimination", options.eliminate_dead_nodes,
       [&] { return EliminateDeadNodes(model); }},
  };
  OptimizeStats stats;
  stats.nodes_before = CountNodes(model.graph);
  for (const Pass& p : passes) stats.passes.push_back({p.name, 0});
  for (int round = 0; round < std::max(1, options.max_rounds); ++round) {
    ++stats.rounds;
    int64_t changes = 0;
    for (size_t i = 0; i < passes.size(); ++i) {
      if (!passes[i].enabled) continue;
      auto n = passes[i].run();
      if (!n.ok()) return n.status().WithContext(std::string("optimizer pass ") + passes[i].name);
      stats.passes[i].count += *n;
      changes += *n;
    }
    if (changes == 0) break;
  }
  stats.passes.push_back({"unused initializers removed", RemoveUnusedInitializers(model)});
  stats.nodes_after = CountNodes(model.graph);
  return stats;
}

}  // namespace

Result<OptimizeStats> OptimizeGraph(Model& model, const OptimizeOptions& options,
                                    const Evaluator& evaluate) {
  // A pass that runs out of memory on a hostile model fails the optimization, not the caller.
  try {
    return RunPasses(model, options, evaluate);
  } catch (const std::exception& e) {
    return Internal("graph optimizer: ", e.what());
  }
}

}  // namespace privedge
