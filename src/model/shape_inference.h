// Static type and shape inference over the graph IR.
//
// Propagates each value's TypeInfo (element type and dims, every dim a known extent, a named
// symbol such as "batch", or unknown) from the graph inputs and initializers through the nodes
// in topological order. Symbols survive every operator that does not change the axis they name
// (Conv keeps "batch", MatMul [batch,seq,128]x[128,64] gives [batch,seq,64]), and small integer
// tensors that describe shapes (Shape -> Gather -> Concat -> Reshape) are tracked element by
// element, symbols included, so shape arithmetic written into the graph resolves too.
//
// The result is advisory: kernels compute and check the real shapes at run time. Inference
// therefore never fails on a bad model: an operator it does not know, an attribute it cannot
// trust (a stride of 0, an axis out of range, a huge pad) or an input it knows nothing about
// just leaves the output unknown (or knows only its element type or rank). It never reads a
// constant tensor of more than a few dozen elements and allocates nothing in proportion to
// tensor sizes, so it is safe on hostile models.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "model/graph.h"
#include "privedge/status.h"

namespace privedge {

// Infers the types of every node output of `graph` (default-domain opset `opset`) and writes
// them to `graph.value_infos`: an existing entry is merged (a known extent wins over a symbol,
// a symbol over unknown), a value it learns nothing about gets no entry, and graph inputs and
// outputs keep their declared types (they are not added to value_infos). Subgraphs (If, Loop,
// Scan bodies) are inferred the same way, seeing the enclosing graph's values; the outputs of
// the control-flow nodes themselves stay unknown.
//
// When `types` is given it receives the type of every value of the main graph (inputs,
// initializers, node outputs, graph outputs as inferred and merged with their declarations).
// Returns an error only for an internal failure (an exception); callers may ignore it, as
// graph.value_infos then holds whatever was inferred before it.
Status InferGraphTypes(Graph& graph, int64_t opset,
                       std::map<std::string, TypeInfo>* types = nullptr);

}  // namespace privedge
