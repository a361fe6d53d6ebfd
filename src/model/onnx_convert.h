// Conversions from ONNX protobuf messages to privedge types. Private to src/model.
#pragma once

#include <string>

#include "model/graph.h"
#include "onnx/onnx_pb.h"
#include "privedge/status.h"

namespace privedge {

struct TensorLoadContext {
  std::string base_dir;  // folder for external data; empty forbids external data
  size_t max_tensor_bytes = size_t{1} << 32;
};

Result<Tensor> TensorFromProto(const onnx::TensorProto& proto, const TensorLoadContext& ctx);
TypeInfo TypeFromProto(const onnx::TypeProto& proto);
Result<Graph> GraphFromProto(const onnx::GraphProto& proto, const TensorLoadContext& ctx,
                             int depth);

}  // namespace privedge
