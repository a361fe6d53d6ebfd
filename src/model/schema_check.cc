#include "model/schema_check.h"

#include "onnx/defs/schema.h"

namespace privedge {
namespace {

Attribute::Kind KindOf(onnx::AttributeProto::AttributeType t) {
  using A = onnx::AttributeProto;
  switch (t) {
    case A::FLOAT: return Attribute::Kind::kFloat;
    case A::INT: return Attribute::Kind::kInt;
    case A::STRING: return Attribute::Kind::kString;
    case A::TENSOR: return Attribute::Kind::kTensor;
    case A::GRAPH: return Attribute::Kind::kGraph;
    case A::FLOATS: return Attribute::Kind::kFloats;
    case A::INTS: return Attribute::Kind::kInts;
    case A::STRINGS: return Attribute::Kind::kStrings;
    case A::TENSORS: return Attribute::Kind::kTensors;
    case A::GRAPHS: return Attribute::Kind::kGraphs;
    case A::TYPE_PROTO: return Attribute::Kind::kTypeProto;
    default: return Attribute::Kind::kUndefined;
  }
}

const char* KindName(Attribute::Kind k) {
  switch (k) {
    case Attribute::Kind::kFloat: return "float";
    case Attribute::Kind::kInt: return "int";
    case Attribute::Kind::kString: return "string";
    case Attribute::Kind::kTensor: return "tensor";
    case Attribute::Kind::kGraph: return "graph";
    case Attribute::Kind::kFloats: return "list of floats";
    case Attribute::Kind::kInts: return "list of ints";
    case Attribute::Kind::kStrings: return "list of strings";
    case Attribute::Kind::kTensors: return "list of tensors";
    case Attribute::Kind::kGraphs: return "list of graphs";
    case Attribute::Kind::kTypeProto: return "type";
    case Attribute::Kind::kUndefined: break;
  }
  return "undefined";
}

}  // namespace

Status CheckNodeSchema(const Node& node, int64_t opset) {
  if (!node.domain.empty()) return Status::OK();
  const onnx::OpSchema* schema =
      onnx::OpSchemaRegistry::Schema(node.op_type, static_cast<int>(opset), "");
  if (!schema) return Status::OK();
  const int inputs = static_cast<int>(node.inputs.size());
  const int outputs = static_cast<int>(node.outputs.size());
  if (inputs < schema->min_input() || inputs > schema->max_input())
    return InvalidModel(node.Describe(), ": has ", inputs, " inputs; opset ", opset, " expects ",
                        schema->min_input(), schema->max_input() == schema->min_input()
                                                 ? std::string()
                                                 : " to " + std::to_string(schema->max_input()));
  if (outputs < schema->min_output() || outputs > schema->max_output())
    return InvalidModel(node.Describe(), ": has ", outputs, " outputs; opset ", opset,
                        " expects ", schema->min_output(),
                        schema->max_output() == schema->min_output()
                            ? std::string()
                            : " to " + std::to_string(schema->max_output()));
  for (const auto& [name, spec] : schema->attributes()) {
    const Attribute* a = node.FindAttribute(name);
    if (!a) {
      if (spec.required)
        return InvalidModel(node.Describe(), ": required attribute '", name, "' is missing");
      continue;
    }
    const Attribute::Kind want = KindOf(spec.type);
    if (want != Attribute::Kind::kUndefined && a->kind != want)
      return InvalidModel(node.Describe(), ": attribute '", name, "' has type ", KindName(a->kind),
                          ", expected ", KindName(want));
  }
  return Status::OK();
}

}  // namespace privedge
