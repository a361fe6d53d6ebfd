// libFuzzer target: the decoders the parent applies to what an isolated worker sends (model
// signature, output tensors, error status). The worker may be compromised, so these are a
// protocol parser facing hostile input.
#include <cstddef>
#include <cstdint>

#include "sandbox/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace privedge::sandbox;
  if (size == 0) return 0;
  Reader r(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      (void)DecodeTensorInfos(r);
      break;
    case 1:
      (void)DecodeTensors(r, size_t{1} << 20);
      break;
    case 2:
      (void)DecodeStatus(r);
      break;
    default:
      (void)DecodeLoadRequest(r);
      break;
  }
  return 0;
}
