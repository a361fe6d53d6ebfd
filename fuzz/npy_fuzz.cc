// libFuzzer target: the NumPy .npy reader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/tensor_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto t = privedge::ParseNpy(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npy");
  (void)t;
  return 0;
}
