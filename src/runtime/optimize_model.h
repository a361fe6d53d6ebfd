// The runtime's side of the graph optimizer: constant folding evaluates nodes with the
// reference kernels (optimize/ does not depend on kernels).
#pragma once

#include "kernels/kernel.h"
#include "model/graph.h"
#include "optimize/optimize.h"
#include "privedge/session.h"

namespace privedge {

// Evaluates a node with its reference kernel from KernelRegistry::Global(), after the schema
// check the executor would make. No tensor it creates may exceed limits.max_tensor_bytes, nor
// the node's input bytes plus `max_growth_bytes` (Constant nodes excepted), so folding cannot
// allocate more than the model could make the session allocate.
Evaluator MakeReferenceEvaluator(const KernelLimits& limits, size_t max_growth_bytes);

// Optimizes `model` in place as a session created with `options` would.
Result<OptimizeStats> OptimizeForSession(Model& model, const SessionOptions& options);

}  // namespace privedge
