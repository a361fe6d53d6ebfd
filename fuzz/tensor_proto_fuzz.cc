// libFuzzer target: the ONNX TensorProto (.pb) reader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/tensor_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t =
      privedge::ParseTensorProto(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pb");
  (void)t;
  return 0;
}
