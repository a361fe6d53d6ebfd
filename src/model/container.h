// The body of a privedge model container (.pmc): an optimized Model in a compact, versioned,
// little-endian form whose tensor bytes sit 64-byte aligned in a weights section, so a parsed
// Model borrows them in place (no copy). The file envelope around it (header, encryption,
// signature) is protect/model_file.h; docs/container.md describes both byte by byte.
//
// Body layout (all integers little-endian):
//   u64 graph_size | graph section (graph_size bytes) | zero padding to 64 | weights section
// Tensor records in the graph section point into the weights section by (offset, nbytes),
// offsets relative to the start of the weights section and multiples of 64.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "model/graph.h"
#include "privedge/secure_buffer.h"

namespace privedge {

// Version of the body encoding written by SerializeModel (the envelope carries it).
inline constexpr uint32_t kContainerBodyVersion = 1;

struct ContainerParseLimits {
  size_t max_tensor_bytes = size_t{1} << 32;  // any one tensor
  int max_graph_depth = 32;                   // nesting of subgraphs and sequence/optional types
};

// Serializes `model` into a new SecureBuffer (so the plaintext of a model about to be
// encrypted never sits in ordinary heap pages). Errors: a tensor with an undefined type or an
// attribute kind the format does not know (InvalidArgument).
Result<SecureBuffer> SerializeModel(const Model& model);

// Parses a body made by SerializeModel. Numeric tensors borrow their bytes from `body`
// (Tensor::Borrow) and each holds `owner`, which must keep `body` alive and unchanged; `body`
// must be 64-byte aligned. Every count, size, offset, type, rank and name reference is checked
// against `body` and `limits`: a hostile body gives a one-line InvalidModel ("container
// body: ...") and never reads out of bounds.
Result<Model> ParseModel(std::span<const uint8_t> body, std::shared_ptr<void> owner,
                         const ContainerParseLimits& limits = {});

}  // namespace privedge
