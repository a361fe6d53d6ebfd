// ONNX import: parses an ONNX model (protobuf) into the graph IR, checking it on the way.
#pragma once

#include <string>

#include "model/graph.h"
#include "privedge/status.h"

namespace privedge {

struct ImportOptions {
  // Largest tensor (initializer, attribute, external data) accepted, in bytes.
  size_t max_tensor_bytes = size_t{1} << 32;
  // Run ONNX's static shape inference to annotate intermediate values (best effort). Off by
  // default: libonnx's inference trusts attribute values and dies with SIGFPE on some hostile
  // models (a pooling stride of 0, a DepthToSpace blocksize whose square overflows), and no
  // part of privedge needs the annotations yet. Enable only for models from a trusted source.
  bool infer_shapes = false;
};

// Reads and imports a model file. External data is resolved relative to the file's folder and
// may not leave it.
Result<Model> ImportOnnxFile(const std::string& path, const ImportOptions& options = {});
// Imports a model from memory. `base_dir` is where external data lives; empty forbids it.
Result<Model> ImportOnnxBuffer(const void* data, size_t size, const std::string& base_dir,
                               const ImportOptions& options = {});

// Sorts `graph.nodes` topologically and checks that every input is defined before use, by a
// graph input, an initializer, an earlier node, or one of `outer_names` (enclosing scopes).
// Recurses into subgraph attributes.
Status SortAndCheckGraph(Graph& graph, const std::vector<std::string>& outer_names);

}  // namespace privedge
