// The graph IR: what an ONNX model becomes once imported. Owned by value, no protobuf types.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "privedge/tensor.h"

namespace privedge {

struct Graph;

// Product of the non-zero extents of `shape`, or -1 on int64 overflow. For a non-empty tensor
// this is its element count; for an empty one it is the work a kernel that loops over every
// axis but the empty one may still do, so hostile models are held to a bound on it too.
int64_t ShapeExtentProduct(const Shape& shape);
// An error when ShapeExtentProduct(shape) exceeds `limit` (an empty tensor like [2^20,0,2^20]
// would otherwise make kernels spin for hours); `what` names the tensor.
Status CheckShapeExtents(const Shape& shape, size_t limit, const std::string& what);

// One dimension of a static shape: a known extent, a named symbol ("batch"), or unknown.
struct Dim {
  int64_t value = -1;   // >= 0 when known
  std::string symbol;   // non-empty for a named symbolic dimension
  bool known() const { return value >= 0; }
};

// Static type of a graph value as declared or inferred.
struct TypeInfo {
  enum class Kind { kUnknown, kTensor, kSequence, kOptional };
  Kind kind = Kind::kUnknown;
  DType elem_type = DType::kUndefined;  // for tensors, and the innermost tensor of seq/optional
  bool has_shape = false;                // false: rank unknown
  std::vector<Dim> dims;
  std::shared_ptr<TypeInfo> inner;       // element type of a sequence or optional
  std::string ToString() const;
};

struct ValueInfo {
  std::string name;
  TypeInfo type;
};

struct Attribute {
  enum class Kind { kUndefined, kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings,
                    kTensors, kGraphs, kTypeProto };
  Kind kind = Kind::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  TypeInfo type_proto;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;                 // "" for the default ONNX domain
  std::vector<std::string> inputs;    // "" marks an omitted optional input
  std::vector<std::string> outputs;   // "" marks an omitted optional output
  std::map<std::string, Attribute> attributes;

  const Attribute* FindAttribute(const std::string& key) const {
    auto it = attributes.find(key);
    return it == attributes.end() ? nullptr : &it->second;
  }
  // "node 'conv1' (Conv)" or "node #3 (Conv)" when unnamed; for error messages.
  std::string Describe() const;
};

struct Graph {
  std::string name;
  std::vector<ValueInfo> inputs;        // graph inputs, initializers excluded
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_infos;   // declared or inferred types of intermediate values
  std::map<std::string, Tensor> initializers;
  // Initializers that are also listed as graph inputs (overridable defaults, IR < 4 style).
  std::vector<std::string> overridable_initializers;
  std::vector<Node> nodes;              // in topological order after import
};

struct OpsetImport {
  std::string domain;
  int64_t version = 0;
};

struct Model {
  int64_t ir_version = 0;
  std::vector<OpsetImport> opsets;
  std::string producer_name;
  std::string producer_version;
  Graph graph;
  // Opset version of `domain` ("" or "ai.onnx" for the default), 0 when not imported.
  int64_t OpsetVersion(const std::string& domain) const;
};

}  // namespace privedge
