// Runs one operator through the registry without a model: for per-family kernel tests.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace privedge::testing {

// Builds a node with `num_outputs` outputs, runs the registered kernel for `op_type` at
// `opset` (of `domain`) on `inputs` (an undefined Tensor means an omitted optional input) and
// returns the outputs as tensors.
Result<std::vector<Tensor>> RunOp(const std::string& op_type, const std::vector<Tensor>& inputs,
                                  const std::map<std::string, Attribute>& attributes = {},
                                  int num_outputs = 1, int64_t opset = 17,
                                  const std::string& domain = "");

// The elements of `t` as a vector (T must match the tensor's type).
template <class T>
std::vector<T> Values(const Tensor& t) {
  const T* p = t.data<T>();
  return p ? std::vector<T>(p, p + t.numel()) : std::vector<T>{};
}
inline std::vector<float> Floats(const Tensor& t) { return Values<float>(t); }
inline std::vector<int64_t> Ints(const Tensor& t) { return Values<int64_t>(t); }

// max |fast - ref| / max |ref| over two float32 tensors (the absolute error when ref is all
// zeros); a shape mismatch is a test failure and infinity.
double RelativeError(const Tensor& fast, const Tensor& ref);

Attribute IntAttr(int64_t v);
Attribute FloatAttr(float v);
Attribute StringAttr(const std::string& v);
Attribute IntsAttr(const std::vector<int64_t>& v);
Attribute FloatsAttr(const std::vector<float>& v);

}  // namespace privedge::testing
