// Session internals shared with privedge's own tools (conformance runner, inspect).
#pragma once

#include <memory>
#include <optional>

#include "model/graph.h"
#include "privedge/session.h"
#include "protect/model_file.h"
#include "runtime/executor.h"

namespace privedge {

struct Session::Impl {
  // Set when the model came from a container (its tensors borrow the mapping or the decrypted
  // buffer, which they keep alive).
  std::optional<ContainerHeader> container;
  Model model;
  SessionOptions options;
  std::unique_ptr<GraphExecutor> executor;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;

  // Validates the inputs against the declared types and runs the graph.
  Result<std::vector<Value>> RunValues(const std::vector<std::pair<std::string, Value>>& inputs) const;
};

TensorInfo TensorInfoFromValueInfo(const ValueInfo& vi);

}  // namespace privedge
