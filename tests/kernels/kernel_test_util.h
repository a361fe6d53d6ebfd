// Runs one operator through the registry without a model: for per-family kernel tests.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace privedge::testing {

// Builds a node with `num_outputs` outputs, runs the registered kernel for `op_type` at
// `opset` on `inputs` (an undefined Tensor means an omitted optional input) and returns the
// outputs as tensors.
Result<std::vector<Tensor>> RunOp(const std::string& op_type, const std::vector<Tensor>& inputs,
                                  const std::map<std::string, Attribute>& attributes = {},
                                  int num_outputs = 1, int64_t opset = 17);

Attribute IntAttr(int64_t v);
Attribute FloatAttr(float v);
Attribute StringAttr(const std::string& v);
Attribute IntsAttr(const std::vector<int64_t>& v);
Attribute FloatsAttr(const std::vector<float>& v);

}  // namespace privedge::testing
