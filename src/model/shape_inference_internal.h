// Shared pieces of the shape inference (shape_inference*.cc): what is known about a value, the
// per-node context operator rules read and write, and dim arithmetic. Private to src/model.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/graph.h"

namespace privedge::shape_inference {

// Integer tensors of at most this many elements (rank 0 or 1) have their values tracked.
constexpr size_t kMaxTrackedElements = 64;
// Larger ranks are treated as unknown (no real model comes close; hostile ones may).
constexpr size_t kMaxRank = 256;

using Dims = std::vector<Dim>;

// One element of a tracked integer tensor: a known value (of any sign), a symbol, or unknown.
struct Scalar {
  bool known = false;
  int64_t value = 0;
  std::string symbol;
};
using Data = std::vector<Scalar>;

Scalar KnownScalar(int64_t value);
Scalar ScalarFromDim(const Dim& d);
// The extent a scalar names; a negative value is unknown.
Dim DimFromScalar(const Scalar& s);

// Everything inference knows about one value.
struct Known {
  TypeInfo type;
  // Element values of a small rank-0/1 integer tensor, when tracked (Shape of a [batch,3]
  // input holds {batch, 3}).
  std::optional<Data> data;
};

// What a constant tensor tells: its exact type, and its values when it is a small integer
// tensor whose values cannot change (`values_fixed`: not an overridable initializer).
Known KnownFromTensor(const Tensor& t, bool values_fixed);

Dim KnownDim(int64_t value);
TypeInfo TensorType(DType elem_type, Dims dims);
TypeInfo TensorOfRank(DType elem_type, size_t rank);  // every dim unknown
TypeInfo TensorWithoutShape(DType elem_type);

// The dim both `a` and `b` must be (the same axis seen twice): known wins, then a symbol.
Dim UnifyDims(const Dim& a, const Dim& b);
// NumPy broadcasting of two shapes; nullopt when two known extents (neither 1) disagree.
std::optional<Dims> Broadcast(const Dims& a, const Dims& b);
// Product of dims: known when all are, one symbol when the rest multiply to 1, else unknown.
Dim ProductOfDims(Dims::const_iterator begin, Dims::const_iterator end);
// `axis` counted from the end when negative; false when outside [-rank, rank).
bool NormalizeAxis(int64_t axis, int64_t rank, int64_t* out);
// Checked int64 arithmetic; false on overflow.
bool CheckedAdd(int64_t a, int64_t b, int64_t* out);
bool CheckedMul(int64_t a, int64_t b, int64_t* out);

// One node's view of the values around it. Operator rules read inputs and attributes and set
// outputs; anything they do not set stays unknown.
class InferContext {
 public:
  InferContext(const Node& node, int64_t opset, std::vector<const Known*> inputs)
      : node_(node), opset_(opset), inputs_(std::move(inputs)), outputs_(node.outputs.size()) {}

  const Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i]; }

  // Input `i`'s type; nullptr when the input is absent or nothing is known about it.
  const TypeInfo* type(size_t i) const;
  // Element type of tensor input `i`, kUndefined when unknown.
  DType elem_type(size_t i) const;
  // Dims of tensor input `i` when its rank is known, else nullptr.
  const Dims* dims(size_t i) const;
  // Tracked element values of input `i` (symbols allowed), else nullptr.
  const Data* data(size_t i) const;
  // Input `i`'s values when tracked and all known.
  std::optional<std::vector<int64_t>> ints(size_t i) const;

  int64_t attr_int(const std::string& name, int64_t def) const;
  // nullptr when the attribute is absent or not a list of ints.
  const std::vector<int64_t>* attr_ints(const std::string& name) const;
  std::string attr_string(const std::string& name, const std::string& def) const;

  // Integer list given by input `input` when present (nullopt unless constant), else by the
  // attribute `attr` (absent: `absent` is set).
  std::optional<std::vector<int64_t>> ints_from_input_or_attr(size_t input, const std::string& attr,
                                                              bool* absent) const;

  void set_type(size_t i, TypeInfo type);
  void set_data(size_t i, Data data);
  std::vector<Known>& outputs() { return outputs_; }

 private:
  const Node& node_;
  int64_t opset_;
  std::vector<const Known*> inputs_;
  std::vector<Known> outputs_;
};

using InferFn = void (*)(InferContext&);
using RuleTable = std::map<std::string, InferFn>;

// Operator rules by family, each adding its operators to the table.
void AddElementwiseRules(RuleTable& table);  // shape_inference_ops.cc
void AddNnRules(RuleTable& table);           // shape_inference_ops.cc
void AddShapeRules(RuleTable& table);        // shape_inference_shape_ops.cc

}  // namespace privedge::shape_inference
