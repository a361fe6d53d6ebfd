// Reading and writing tensors in files: NumPy .npy and ONNX protobuf .pb (TensorProto,
// SequenceProto, OptionalProto). Every reader treats the file as untrusted.
#pragma once

#include <string>

#include "core/value.h"
#include "privedge/status.h"
#include "privedge/tensor.h"

namespace privedge {

// NumPy format versions 1-3, little-endian, C order; dtypes f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1.
Result<Tensor> ReadNpy(const std::string& path);
Result<Tensor> ParseNpy(const std::string& bytes, const std::string& label);
Status WriteNpy(const std::string& path, const Tensor& tensor);

// ONNX TensorProto file (as in the ONNX backend test data).
Result<Tensor> ReadTensorProtoFile(const std::string& path);
// The same from bytes in memory; `label` names the source in errors.
Result<Tensor> ParseTensorProto(const std::string& bytes, const std::string& label);
// An ONNX test-data file holding a TensorProto, SequenceProto or OptionalProto, chosen by
// `kind` (as declared by the model input): "tensor", "sequence" or "optional".
Result<Value> ReadValueProtoFile(const std::string& path, const std::string& kind);

// Reads a tensor from .npy or .pb, by extension.
Result<Tensor> ReadTensorFile(const std::string& path);

}  // namespace privedge
