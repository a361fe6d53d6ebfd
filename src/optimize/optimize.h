// Graph optimizer: rewrites an imported Model into an equivalent one that runs faster.
//
// Every pass keeps the graph's meaning: the same graph inputs and outputs (names included), the
// same values on them up to floating-point rounding. Passes recurse into subgraphs (If, Loop,
// Scan bodies), copying a subgraph before changing it, so a Model copied before optimizing
// (Graph attributes are shared pointers) stays intact and can serve as a fallback.
//
// optimize/ does not depend on kernels: constant folding evaluates nodes through an Evaluator
// that the runtime supplies (it runs the reference kernel).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/graph.h"
#include "privedge/status.h"

namespace privedge {

// Evaluates one node on constant inputs (nullptr for an omitted optional input) at the given
// opset of the node's domain; returns one tensor per node output (undefined for an omitted
// output). An error only means "do not fold this node".
using Evaluator = std::function<Result<std::vector<Tensor>>(
    const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs)>;

struct OptimizeOptions {
  // Passes to run; all on by default.
  bool eliminate_dead_nodes = true;
  bool eliminate_identities = true;
  bool fold_constants = true;
  bool fold_conv_batchnorm = true;
  bool fuse_matmul_add = true;
  bool fuse_conv_add = true;
  bool fuse_conv_activation = true;
  bool fuse_layer_norm = true;
  bool fuse_matmul_bias = true;
  // A folded node whose outputs are larger than its inputs by more than this stays in the graph
  // (ConstantOfShape, Expand, Tile would otherwise blow up the model). Constant nodes are exempt.
  size_t max_fold_growth_bytes = size_t{1} << 20;
  // Rounds of all passes, stopping early once a round changes nothing.
  int max_rounds = 8;
};

// What one pass did over all rounds: the number of rewrites it made.
struct PassCount {
  std::string pass;
  int64_t count = 0;
};

struct OptimizeStats {
  std::vector<PassCount> passes;  // in the order the passes run
  int rounds = 0;
  int64_t nodes_before = 0;  // subgraph nodes included
  int64_t nodes_after = 0;
};

// Runs the enabled passes over `model` to a fixed point (at most options.max_rounds rounds),
// then drops initializers nothing uses. `evaluate` may be empty: constant folding is then
// skipped. On error `model` may be partly rewritten: optimize a copy to keep the original.
Result<OptimizeStats> OptimizeGraph(Model& model, const OptimizeOptions& options,
                                    const Evaluator& evaluate);

// Total number of nodes of `graph`, nodes of its subgraphs included.
int64_t CountNodes(const Graph& graph);

// ---- single passes, exposed for tests; each returns the number of rewrites it made ----

// Removes default-domain nodes none of whose outputs is used (by a node, a subgraph or as a
// graph output). Nodes of other domains are kept: they may have effects privedge cannot see.
Result<int64_t> EliminateDeadNodes(Model& model);
// Removes Identity nodes and inference-mode Dropout nodes whose mask is unused, wiring their
// consumers to the input. A graph output keeps its name (the producer is renamed instead).
Result<int64_t> EliminateIdentities(Model& model);
// Replaces nodes whose inputs are all constant (and Constant nodes, and Shape of a main-graph
// input with a fully known declared shape) by initializers holding their results.
Result<int64_t> FoldConstants(Model& model, const OptimizeOptions& options,
                              const Evaluator& evaluate);
// Folds an inference BatchNormalization into the Conv feeding it (constant W, B and BN
// parameters, the Conv output used by nothing else): W' = W * s, B' = (B - mean) * s + beta
// with s = gamma / sqrt(var + eps) per output channel, computed in double.
Result<int64_t> FoldConvBatchNorm(Model& model);
// Rewrites MatMul(A, W) + b into Gemm(A, W, b) when A has rank 2 (declared or inferred), W is a
// constant matrix and b a constant 1-D bias, and nothing else uses the MatMul output.
Result<int64_t> FuseMatMulAdd(Model& model);
// The domain of privedge's own operators (com.privedge.FusedConv), imported at version 1 by the
// passes that write them.
inline constexpr char kPrivedgeDomain[] = "com.privedge";
// Merges an Add into the float32 Conv (constant weights) feeding one of its operands when nothing
// else reads the Conv output: com.privedge.FusedConv(X, W, B, Z) with the Conv's attributes and
// no activation computes Conv(X, W, B) + Z, Z being the Add's other operand (broadcast as by
// Add). The fused node takes the Add's place and output name. ResNet and MobileNetV2 residuals.
Result<int64_t> FuseConvAdd(Model& model);
// Merges a Relu, LeakyRelu, Clip (constant bounds) or Sigmoid into the float32 Conv (constant
// weights), or FusedConv without activation, feeding it when nothing else reads the Conv
// output: the Conv becomes com.privedge.FusedConv with the Conv's attributes plus activation =
// "Relu" | "LeakyRelu" | "Clip" | "Sigmoid" and activation_params {} | {alpha} | {min, max} |
// {}, and takes over the activation's output name. Mul(c, Sigmoid(c)) on a Conv output c read
// by nothing else becomes activation "Swish" the same way.
Result<int64_t> FuseConvActivation(Model& model);
// Rewrites the LayerNorm that exporters decompose for opsets before 17,
//   d = Sub(x, ReduceMean(x)); y = Add(Mul(Div(d, Sqrt(Add(ReduceMean(Pow(d, 2)), eps))), g), b)
// (ReduceMean over axes [-1] with keepdims; Mul and Add operands in either order; g and b
// float32 1-D constants as long as x's last axis, which must be declared or inferred; every
// intermediate read only inside the pattern), into
// com.privedge.LayerNormalization(x, g, b) with axis -1 and epsilon eps: ONNX's
// LayerNormalization under privedge's domain.
Result<int64_t> FuseLayerNorm(Model& model);
// Rewrites Add(MatMul(A, W), b), optionally followed by Relu, with W a float32 constant matrix
// [K, N], b a float32 constant of N values and each intermediate read once, into
// com.privedge.FusedMatMul(A, W, b) with activation = "Relu" | "": MatMul of A of any rank, plus
// b on the last axis, then the activation. (Rank-2 A is taken by FuseMatMulAdd first.)
Result<int64_t> FuseMatMulBias(Model& model);
// Removes initializers of any graph that nothing references (overridable ones are inputs and
// stay).
int64_t RemoveUnusedInitializers(Model& model);

}  // namespace privedge
