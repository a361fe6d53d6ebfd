#include "model/onnx_convert.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>

namespace privedge {
namespace {

constexpr int kMaxGraphDepth = 32;  // nested subgraphs deeper than this are refused

// Names end up in one-line error messages; a newline or escape sequence in one would let a
// model forge or split those lines, so such names are refused outright.
Status CheckPrintable(const std::string& text, const std::string& what) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f)
      return InvalidModel(what, " contains a control character (byte ", static_cast<int>(c), ")");
  return Status::OK();
}

// Parses a non-negative decimal integer (an external-data offset or length) strictly.
Result<int64_t> ParseByteCount(const std::string& text, const std::string& label,
                               const char* key) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v < 0 || !std::isdigit(text[0]))
    return InvalidModel(label, ": external data ", key, " '", text,
                        "' is not a non-negative integer");
  return static_cast<int64_t>(v);
}

std::string TensorLabel(const onnx::TensorProto& p) {
  return p.name().empty() ? std::string("tensor") : "tensor '" + p.name() + "'";
}

// Resolves an external data location inside `base_dir`, refusing anything that leaves it.
Result<std::string> ResolveExternalPath(const std::string& base_dir, const std::string& location,
                                        const std::string& label) {
  if (base_dir.empty())
    return InvalidModel(label, ": external data '", location,
                        "' cannot be used for a model loaded from memory");
  if (location.empty() || location[0] == '/')
    return InvalidModel(label, ": external data path '", location,
                        "' must be relative to the model's folder");
  size_t start = 0;
  while (start <= location.size()) {
    size_t end = location.find('/', start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0)
      return InvalidModel(label, ": external data path '", location,
                          "' may not contain '..' (must stay inside the model's folder)");
    start = end + 1;
  }
  std::string full = base_dir + "/" + location;
  char real_base[PATH_MAX], real_full[PATH_MAX];
  if (!realpath(base_dir.c_str(), real_base))
    return IoError(label, ": cannot resolve model folder '", base_dir, "'");
  if (!realpath(full.c_str(), real_full))
    return NotFound(label, ": external data file '", location, "' not found next to the model");
  std::string rb(real_base), rf(real_full);
  if (rf == rb)
    return InvalidModel(label, ": external data '", location, "' is not a regular file");
  if (rf.compare(0, rb.size(), rb) != 0 || rf.size() <= rb.size() || rf[rb.size()] != '/')
    return InvalidModel(label, ": external data '", location,
                        "' resolves outside the model's folder (symlink?)");
  return rf;
}

// Where an external tensor's bytes are, checked against the file before anything is allocated.
struct ExternalSource {
  std::string path;
  std::string location;
  int64_t offset = 0;
};

Result<ExternalSource> LocateExternalData(const onnx::TensorProto& p, const TensorLoadContext& ctx,
                                          const Shape& shape, int64_t need) {
  ExternalSource src;
  int64_t length = -1;
  const std::string label = TensorLabel(p);
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") {
      src.location = kv.value();
      PE_RETURN_IF_ERROR(CheckPrintable(src.location, label + ": external data location"));
    } else if (kv.key() == "offset") {
      PE_ASSIGN_OR_RETURN(src.offset, ParseByteCount(kv.value(), label, "offset"));
    } else if (kv.key() == "length") {
      PE_ASSIGN_OR_RETURN(length, ParseByteCount(kv.value(), label, "length"));
    }
  }
  PE_ASSIGN_OR_RETURN(src.path, ResolveExternalPath(ctx.base_dir, src.location, label));
  struct stat st;
  if (stat(src.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return InvalidModel(label, ": external data '", src.location, "' is not a regular file");
  if (length >= 0 && length != need)
    return InvalidModel(label, ": external data length ", length, " does not match shape ",
                        ShapeToString(shape), " (expected ", need, " bytes)");
  if (src.offset > st.st_size || st.st_size - src.offset < need)
    return InvalidModel(label, ": external data '", src.location, "' is too short: needs ", need,
                        " bytes at offset ", src.offset, ", file has ", st.st_size);
  return src;
}

Status ReadExternalData(const ExternalSource& src, const std::string& label, Tensor& t) {
  std::ifstream in(src.path, std::ios::binary);
  in.seekg(src.offset);
  in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
  if (!in) return IoError(label, ": failed reading external data '", src.location, "'");
  return Status::OK();
}

// Number of values in the typed field that holds `dtype` elements, and the field's name.
int64_t TypedFieldCount(const onnx::TensorProto& p, DType dtype, const char** name) {
  switch (dtype) {
    case DType::kFloat32: *name = "float_data"; return p.float_data_size();
    case DType::kFloat64: *name = "double_data"; return p.double_data_size();
    case DType::kInt64: *name = "int64_data"; return p.int64_data_size();
    case DType::kUInt32:
    case DType::kUInt64: *name = "uint64_data"; return p.uint64_data_size();
    case DType::kString: *name = "string_data"; return p.string_data_size();
    default: *name = "int32_data"; return p.int32_data_size();
  }
}

template <class Field, class T>
Status CopyTypedField(const Field& field, Tensor& t, const std::string& label, const char* name) {
  if (static_cast<int64_t>(field.size()) != t.numel())
    return InvalidModel(label, ": ", name, " holds ", field.size(), " values but shape ",
                        ShapeToString(t.shape()), " needs ", t.numel());
  T* out = static_cast<T*>(t.raw_data());
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<T>(field.Get(i));
  return Status::OK();
}

}  // namespace

Result<Tensor> TensorFromProto(const onnx::TensorProto& p, const TensorLoadContext& ctx) {
  PE_RETURN_IF_ERROR(CheckPrintable(p.name(), "a tensor name"));
  const std::string label = TensorLabel(p);
  if (!IsValidDType(p.data_type()))
    return NotImplemented(label, ": data type ", p.data_type(), " is not supported");
  const DType dtype = static_cast<DType>(p.data_type());
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) return InvalidModel(label, ": negative dimension in shape ", ShapeToString(shape));
  if (ShapeElementCount(shape) < 0)
    return InvalidModel(label, ": element count of shape ", ShapeToString(shape),
                        " overflows int64");
  if (p.has_segment()) return NotImplemented(label, ": segmented tensors are not supported");
  const int64_t numel = ShapeElementCount(shape);
  const size_t elem = DTypeSize(dtype);
  if (static_cast<uint64_t>(numel) > ctx.max_tensor_bytes / elem)
    return OutOfRange(label, ": tensor of shape ", ShapeToString(shape), " and type ",
                      DTypeName(dtype), " needs more than the ", ctx.max_tensor_bytes,
                      "-byte limit");
  PE_RETURN_IF_ERROR(CheckShapeExtents(shape, ctx.max_tensor_bytes, label));
  // The data must be there before memory is committed: a few bytes of protobuf must not be
  // able to make privedge allocate (and zero) gigabytes only to fail afterwards.
  const int64_t nbytes = numel * static_cast<int64_t>(elem);
  const bool external = p.data_location() == onnx::TensorProto::EXTERNAL;
  ExternalSource source;
  if (external) {
    if (dtype == DType::kString) return InvalidModel(label, ": string tensors cannot be external");
    PE_ASSIGN_OR_RETURN(source, LocateExternalData(p, ctx, shape, nbytes));
  } else if (p.has_raw_data()) {
    if (dtype == DType::kString) return InvalidModel(label, ": string tensors cannot use raw_data");
    if (static_cast<int64_t>(p.raw_data().size()) != nbytes)
      return InvalidModel(label, ": raw_data has ", p.raw_data().size(), " bytes but shape ",
                          ShapeToString(shape), " of ", DTypeName(dtype), " needs ", nbytes);
  } else {
    const char* field = nullptr;
    const int64_t count = TypedFieldCount(p, dtype, &field);
    if (count != numel)
      return InvalidModel(label, ": ", field, " holds ", count, " values but shape ",
                          ShapeToString(shape), " needs ", numel);
  }
  auto created = Tensor::Create(dtype, shape, ctx.max_tensor_bytes);
  if (!created.ok()) return created.status().WithContext(label);
  Tensor t = std::move(created).value();

  if (external) {
    PE_RETURN_IF_ERROR(ReadExternalData(source, label, t));
    return t;
  }
  if (p.has_raw_data()) {
    if (t.nbytes()) std::memcpy(t.raw_data(), p.raw_data().data(), t.nbytes());
    if (dtype == DType::kBool) {  // normalize to 0/1 so bool reads are well defined
      auto* b = static_cast<uint8_t*>(t.raw_data());
      for (int64_t i = 0; i < t.numel(); ++i) b[i] = b[i] ? 1 : 0;
    }
    return t;
  }
  switch (dtype) {
    case DType::kFloat32:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.float_data()), float>(p.float_data(), t, label, "float_data")));
      break;
    case DType::kFloat64:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.double_data()), double>(p.double_data(), t, label, "double_data")));
      break;
    case DType::kInt64:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.int64_data()), int64_t>(p.int64_data(), t, label, "int64_data")));
      break;
    case DType::kUInt32:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.uint64_data()), uint32_t>(p.uint64_data(), t, label, "uint64_data")));
      break;
    case DType::kUInt64:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.uint64_data()), uint64_t>(p.uint64_data(), t, label, "uint64_data")));
      break;
    case DType::kInt32:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.int32_data()), int32_t>(p.int32_data(), t, label, "int32_data")));
      break;
    case DType::kInt16:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.int32_data()), int16_t>(p.int32_data(), t, label, "int32_data")));
      break;
    case DType::kInt8:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.int32_data()), int8_t>(p.int32_data(), t, label, "int32_data")));
      break;
    case DType::kUInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.int32_data()), uint16_t>(p.int32_data(), t, label, "int32_data")));
      break;
    case DType::kUInt8:
      PE_RETURN_IF_ERROR((CopyTypedField<decltype(p.int32_data()), uint8_t>(p.int32_data(), t, label, "int32_data")));
      break;
    case DType::kBool: {
      if (static_cast<int64_t>(p.int32_data_size()) != t.numel())
        return InvalidModel(label, ": int32_data holds ", p.int32_data_size(), " values but shape ",
                            ShapeToString(shape), " needs ", t.numel());
      for (int64_t i = 0; i < t.numel(); ++i) t.data<bool>()[i] = p.int32_data(static_cast<int>(i)) != 0;
      break;
    }
    case DType::kString: {
      if (static_cast<int64_t>(p.string_data_size()) != t.numel())
        return InvalidModel(label, ": string_data holds ", p.string_data_size(),
                            " values but shape ", ShapeToString(shape), " needs ", t.numel());
      for (int64_t i = 0; i < t.numel(); ++i) t.data<std::string>()[i] = p.string_data(static_cast<int>(i));
      break;
    }
    default:
      return NotImplemented(label, ": data type ", DTypeName(dtype), " is not supported");
  }
  return t;
}

TypeInfo TypeFromProto(const onnx::TypeProto& proto) {
  TypeInfo info;
  if (proto.has_tensor_type()) {
    info.kind = TypeInfo::Kind::kTensor;
    const auto& tt = proto.tensor_type();
    info.elem_type = static_cast<DType>(tt.elem_type());
    if (tt.has_shape()) {
      info.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        else if (d.has_dim_param()) dim.symbol = d.dim_param();
        info.dims.push_back(dim);
      }
    }
  } else if (proto.has_sequence_type()) {
    info.kind = TypeInfo::Kind::kSequence;
    info.inner = std::make_shared<TypeInfo>(TypeFromProto(proto.sequence_type().elem_type()));
    info.elem_type = info.inner->elem_type;
  } else if (proto.has_optional_type()) {
    info.kind = TypeInfo::Kind::kOptional;
    info.inner = std::make_shared<TypeInfo>(TypeFromProto(proto.optional_type().elem_type()));
    info.elem_type = info.inner->elem_type;
  }
  return info;
}

namespace {

Result<Attribute> AttributeFromProto(const onnx::AttributeProto& a, const TensorLoadContext& ctx,
                                     int depth) {
  Attribute out;
  using A = onnx::AttributeProto;
  switch (a.type()) {
    case A::FLOAT: out.kind = Attribute::Kind::kFloat; out.f = a.f(); break;
    case A::INT: out.kind = Attribute::Kind::kInt; out.i = a.i(); break;
    case A::STRING: out.kind = Attribute::Kind::kString; out.s = a.s(); break;
    case A::FLOATS:
      out.kind = Attribute::Kind::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case A::INTS:
      out.kind = Attribute::Kind::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case A::STRINGS:
      out.kind = Attribute::Kind::kStrings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case A::TENSOR: {
      out.kind = Attribute::Kind::kTensor;
      PE_ASSIGN_OR_RETURN(out.t, TensorFromProto(a.t(), ctx));
      break;
    }
    case A::TENSORS:
      out.kind = Attribute::Kind::kTensors;
      for (const auto& t : a.tensors()) {
        PE_ASSIGN_OR_RETURN(Tensor x, TensorFromProto(t, ctx));
        out.tensors.push_back(std::move(x));
      }
      break;
    case A::GRAPH: {
      out.kind = Attribute::Kind::kGraph;
      PE_ASSIGN_OR_RETURN(Graph g, GraphFromProto(a.g(), ctx, depth + 1));
      out.g = std::make_shared<Graph>(std::move(g));
      break;
    }
    case A::GRAPHS:
      out.kind = Attribute::Kind::kGraphs;
      for (const auto& gp : a.graphs()) {
        PE_ASSIGN_OR_RETURN(Graph g, GraphFromProto(gp, ctx, depth + 1));
        out.graphs.push_back(std::make_shared<Graph>(std::move(g)));
      }
      break;
    case A::TYPE_PROTO:
      out.kind = Attribute::Kind::kTypeProto;
      out.type_proto = TypeFromProto(a.tp());
      break;
    case A::SPARSE_TENSOR:
    case A::SPARSE_TENSORS:
      return NotImplemented("attribute '", a.name(), "': sparse tensors are not supported");
    default:
      return InvalidModel("attribute '", a.name(), "' has unknown type ", a.type());
  }
  return out;
}

ValueInfo ValueInfoFromProto(const onnx::ValueInfoProto& v) {
  return ValueInfo{v.name(), TypeFromProto(v.type())};
}

}  // namespace

Result<Graph> GraphFromProto(const onnx::GraphProto& proto, const TensorLoadContext& ctx,
                             int depth) {
  if (depth > kMaxGraphDepth)
    return InvalidModel("subgraphs nested deeper than ", kMaxGraphDepth, " levels");
  Graph g;
  PE_RETURN_IF_ERROR(CheckPrintable(proto.name(), "a graph name"));
  g.name = proto.name();
  for (const auto& init : proto.initializer()) {
    if (init.name().empty()) return InvalidModel("graph '", g.name, "' has an unnamed initializer");
    PE_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(init, ctx));
    if (!g.initializers.emplace(init.name(), std::move(t)).second)
      return InvalidModel("graph '", g.name, "': initializer '", init.name(),
                          "' is defined twice");
  }
  for (const auto* infos : {&proto.input(), &proto.output(), &proto.value_info()})
    for (const auto& vi : *infos)
      PE_RETURN_IF_ERROR(CheckPrintable(vi.name(), "graph '" + g.name + "': a value name"));
  if (proto.sparse_initializer_size() > 0)
    return NotImplemented("graph '", g.name, "': sparse initializers are not supported");
  for (const auto& in : proto.input()) {
    if (g.initializers.count(in.name())) {
      g.overridable_initializers.push_back(in.name());
      continue;
    }
    g.inputs.push_back(ValueInfoFromProto(in));
  }
  for (const auto& out : proto.output()) g.outputs.push_back(ValueInfoFromProto(out));
  for (const auto& vi : proto.value_info()) g.value_infos.push_back(ValueInfoFromProto(vi));
  g.nodes.reserve(proto.node_size());
  for (const auto& np : proto.node()) {
    const std::string where = "graph '" + g.name + "': node #" + std::to_string(g.nodes.size());
    PE_RETURN_IF_ERROR(CheckPrintable(np.name(), where + " name"));
    PE_RETURN_IF_ERROR(CheckPrintable(np.op_type(), where + " op_type"));
    PE_RETURN_IF_ERROR(CheckPrintable(np.domain(), where + " domain"));
    for (const auto* names : {&np.input(), &np.output()})
      for (const auto& name : *names)
        PE_RETURN_IF_ERROR(CheckPrintable(name, where + " input or output name"));
    for (const auto& a : np.attribute())
      PE_RETURN_IF_ERROR(CheckPrintable(a.name(), where + " attribute name"));
    Node n;
    n.name = np.name();
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? std::string() : np.domain();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      if (!a.ref_attr_name().empty())
        return NotImplemented(n.Describe(), ": attribute references are only valid in functions");
      auto attr = AttributeFromProto(a, ctx, depth);
      // Errors from a nested node already name it; naming every enclosing node as well
      // would make one line per nesting level.
      if (!attr.ok()) {
        if (attr.status().message().rfind("node ", 0) == 0) return attr.status();
        return attr.status().WithContext(n.Describe());
      }
      n.attributes[a.name()] = std::move(attr).value();
    }
    g.nodes.push_back(std::move(n));
  }
  return g;
}

}  // namespace privedge
