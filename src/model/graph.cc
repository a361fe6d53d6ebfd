#include "model/graph.h"

namespace privedge {

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
