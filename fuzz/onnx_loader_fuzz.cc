// libFuzzer target: an ONNX model from bytes (import, checks, optimization with constant
// folding, planning). Small limits keep each input fast.
#include <cstddef>
#include <cstdint>

#include "privedge/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  privedge::SessionOptions options;
  options.threads = 1;
  options.max_tensor_bytes = size_t{1} << 20;
  options.max_loop_iterations = 1000;
  auto session = privedge::Session::LoadFromBuffer(data, size, options);
  (void)session;
  return 0;
}
