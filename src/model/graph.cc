#include "model/graph.h"

namespace privedge {

int64_t ShapeExtentProduct(const Shape& shape) {
  int64_t product = 1;
  for (int64_t d : shape)
    if (d > 0 && __builtin_mul_overflow(product, d, &product)) return -1;
  return product;
}

Status CheckShapeExtents(const Shape& shape, size_t limit, const std::string& what) {
  const int64_t product = ShapeExtentProduct(shape);
  if (product >= 0 && static_cast<uint64_t>(product) <= limit) return Status::OK();
  return OutOfRange(what, " has shape ", ShapeToString(shape),
                    ": its non-zero extents multiply to more than the ", limit,
                    "-element limit (SessionOptions::max_tensor_bytes), even though it is empty");
}

std::string TypeInfo::ToString() const {
  switch (kind) {
    case Kind::kUnknown: return "unknown";
    case Kind::kSequence: return "seq(" + (inner ? inner->ToString() : std::string("?")) + ")";
    case Kind::kOptional: return "optional(" + (inner ? inner->ToString() : std::string("?")) + ")";
    case Kind::kTensor: break;
  }
  std::string s = DTypeName(elem_type);
  if (!has_shape) return s + "[?]";
  s += "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    if (dims[i].known()) s += std::to_string(dims[i].value);
    else s += dims[i].symbol.empty() ? "?" : dims[i].symbol;
  }
  return s + "]";
}

std::string Node::Describe() const {
  std::string who = name.empty() ? (outputs.empty() ? std::string("<unnamed>") : "producing '" + outputs[0] + "'")
                                 : "'" + name + "'";
  return "node " + who + " (" + (domain.empty() ? "" : domain + ".") + op_type + ")";
}

int64_t Model::OpsetVersion(const std::string& domain) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const OpsetImport& o : opsets) {
    const std::string od = o.domain == "ai.onnx" ? "" : o.domain;
    if (od == d) return o.version;
  }
  return 0;
}

}  // namespace privedge
