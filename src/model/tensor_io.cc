#include "model/tensor_io.h"

#include <fstream>
#include <sstream>

#include "model/onnx_convert.h"
#include "onnx/onnx-data.pb.h"

namespace privedge {
namespace {

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open '", path, "'");
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return IoError("failed reading '", path, "'");
  return buf.str();
}

struct NpyType {
  const char* code;
  DType dtype;
};
constexpr NpyType kNpyTypes[] = {
    {"f2", DType::kFloat16}, {"f4", DType::kFloat32}, {"f8", DType::kFloat64},
    {"i1", DType::kInt8},    {"i2", DType::kInt16},   {"i4", DType::kInt32},
    {"i8", DType::kInt64},   {"u1", DType::kUInt8},   {"u2", DType::kUInt16},
    {"u4", DType::kUInt32},  {"u8", DType::kUInt64},  {"b1", DType::kBool},
};

// Value of `key` in the header dict: the text after "'key':" up to the next top-level comma.
std::string HeaderField(const std::string& header, const std::string& key) {
  size_t p = header.find("'" + key + "'");
  if (p == std::string::npos) return "";
  p = header.find(':', p);
  if (p == std::string::npos) return "";
  ++p;
  int depth = 0;
  size_t end = p;
  for (; end < header.size(); ++end) {
    char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' && depth == 0) || c == '}') break;
  }
  std::string v = header.substr(p, end - p);
  size_t a = v.find_first_not_of(" ");
  size_t b = v.find_last_not_of(" ");
  return a == std::string::npos ? "" : v.substr(a, b - a + 1);
}

}  // namespace

Result<Tensor> ParseNpy(const std::string& bytes, const std::string& label) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    return InvalidArgument(label, ": not a .npy file (missing \\x93NUMPY magic)");
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return InvalidArgument(label, ": truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    return InvalidArgument(label, ": unsupported .npy version ", major, " (expected 1-3)");
  }
  if (header_len > bytes.size() - header_start)
    return InvalidArgument(label, ": .npy header length ", header_len, " exceeds file size ",
                           bytes.size());
  const std::string header = bytes.substr(header_start, header_len);
  std::string descr = HeaderField(header, "descr");
  if (descr.size() < 4 || (descr.front() != '\'' && descr.front() != '"'))
    return InvalidArgument(label, ": .npy header has no dtype descr");
  descr = descr.substr(1, descr.size() - 2);
  const char order = descr[0];
  const std::string code = descr.substr(1);
  if (order == '>' && code != "i1" && code != "u1" && code != "b1")
    return NotImplemented(label, ": big-endian .npy data ('", descr, "') is not supported");
  DType dtype = DType::kUndefined;
  for (const auto& t : kNpyTypes)
    if (code == t.code) dtype = t.dtype;
  if (dtype == DType::kUndefined)
    return NotImplemented(label, ": .npy dtype '", descr, "' is not supported");
  if (HeaderField(header, "fortran_order") == "True")
    return NotImplemented(label, ": Fortran-order .npy arrays are not supported");
  std::string shape_text = HeaderField(header, "shape");
  if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')')
    return InvalidArgument(label, ": .npy header has no shape tuple");
  Shape shape;
  std::stringstream ss(shape_text.substr(1, shape_text.size() - 2));
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" ");
    if (a == std::string::npos) continue;
    char* end = nullptr;
    long long d = std::strtoll(item.c_str() + a, &end, 10);
    if (end == item.c_str() + a || d < 0)
      return InvalidArgument(label, ": bad dimension '", item, "' in .npy shape");
    shape.push_back(d);
  }
  // Compare the declared size with the bytes present before allocating: a tiny file must not
  // make privedge allocate gigabytes only to report it truncated.
  const int64_t numel = ShapeElementCount(shape);
  const size_t data_start = header_start + header_len;
  const size_t available = bytes.size() - data_start;
  size_t needed = 0;
  const bool overflow =
      numel < 0 || __builtin_mul_overflow(static_cast<uint64_t>(numel), DTypeSize(dtype), &needed);
  if (overflow || available != needed)
    return InvalidArgument(label, ": .npy data has ", available, " bytes but shape ",
                           ShapeToString(shape), " of ", DTypeName(dtype), " needs ",
                           overflow ? std::string("more than 2^64") : std::to_string(needed));
  PE_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(dtype, shape));
  if (t.nbytes()) std::memcpy(t.raw_data(), bytes.data() + data_start, t.nbytes());
  if (dtype == DType::kBool) {
    auto* b = static_cast<uint8_t*>(t.raw_data());
    for (int64_t i = 0; i < t.numel(); ++i) b[i] = b[i] ? 1 : 0;
  }
  return t;
}

Result<Tensor> ReadNpy(const std::string& path) {
  PE_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  return ParseNpy(bytes, path);
}

Status WriteNpy(const std::string& path, const Tensor& t) {
  const char* code = nullptr;
  for (const auto& x : kNpyTypes)
    if (x.dtype == t.dtype()) code = x.code;
  if (!code)
    return NotImplemented("cannot write ", DTypeName(t.dtype()), " tensor to .npy ('", path, "')");
  std::string shape = "(";
  for (size_t i = 0; i < t.rank(); ++i) shape += std::to_string(t.dim(i)) + (t.rank() == 1 ? "," : i + 1 < t.rank() ? ", " : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + (code[1] == '1' ? "|" : "<") + code +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) return IoError("cannot create '", path, "'");
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
  if (!out) return IoError("failed writing '", path, "'");
  return Status::OK();
}

Result<Tensor> ParseTensorProto(const std::string& bytes, const std::string& label) {
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes))
    return InvalidArgument(label, ": not a valid ONNX TensorProto");
  auto t = TensorFromProto(proto, TensorLoadContext{});
  if (!t.ok()) return t.status().WithContext(label);
  return t;
}

Result<Tensor> ReadTensorProtoFile(const std::string& path) {
  PE_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  return ParseTensorProto(bytes, path);
}

namespace {

Result<Value> ValueFromSequenceProto(const onnx::SequenceProto& seq, const std::string& path) {
  std::vector<Tensor> items;
  if (seq.elem_type() != onnx::SequenceProto::TENSOR && seq.elem_type() != onnx::SequenceProto::UNDEFINED)
    return NotImplemented(path, ": only sequences of tensors are supported");
  for (const auto& tp : seq.tensor_values()) {
    PE_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(tp, TensorLoadContext{}));
    items.push_back(std::move(t));
  }
  return Value::FromSequence(std::move(items));
}

}  // namespace

Result<Value> ReadValueProtoFile(const std::string& path, const std::string& kind) {
  PE_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  if (kind == "sequence") {
    onnx::SequenceProto seq;
    if (!seq.ParseFromString(bytes)) return InvalidArgument(path, ": not a valid SequenceProto");
    return ValueFromSequenceProto(seq, path);
  }
  if (kind == "optional") {
    onnx::OptionalProto opt;
    if (!opt.ParseFromString(bytes)) return InvalidArgument(path, ": not a valid OptionalProto");
    if (opt.has_tensor_value()) {
      PE_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(opt.tensor_value(), TensorLoadContext{}));
      return Value::FromTensor(std::move(t));
    }
    if (opt.has_sequence_value()) return ValueFromSequenceProto(opt.sequence_value(), path);
    return Value();
  }
  PE_ASSIGN_OR_RETURN(Tensor t, ReadTensorProtoFile(path));
  return Value::FromTensor(std::move(t));
}

Result<Tensor> ReadTensorFile(const std::string& path) {
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with(".npy")) return ReadNpy(path);
  if (ends_with(".pb")) return ReadTensorProtoFile(path);
  return InvalidArgument("input file '", path, "': unknown format (expected .npy or .pb)");
}

}  // namespace privedge
