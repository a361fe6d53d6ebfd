// Checks a node against the ONNX operator schema of its opset: input and output counts,
// required attributes, and attribute types. Kernels read attributes without a type check, so a
// model that stores, say, `axis` as a list must be refused here, with a clear message.
#pragma once

#include "model/graph.h"
#include "privedge/status.h"

namespace privedge {

// OK for nodes outside the default domain and operators ONNX has no schema for (the kernel
// lookup reports those). `opset` is the model's default-domain version.
Status CheckNodeSchema(const Node& node, int64_t opset);

}  // namespace privedge
