// libFuzzer target: the IDX dataset reader (ParseIdx), plain or gzip-compressed, and the gzip
// inflation every dataset reader shares (InflateIfGzip).
#include <cstddef>
#include <cstdint>
#include <span>

#include "privedge/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  privedge::DataLimits limits;  // the defaults, as the loaders use them
  auto t = privedge::ParseIdx(bytes, "fuzz.idx", limits);
  if (t.ok() && t->nbytes() > limits.max_bytes) __builtin_trap();
  // A small limit makes the "inflates above the limit" path reachable from small inputs.
  limits.max_bytes = 4096;
  auto inflated = privedge::InflateIfGzip(bytes, "fuzz.gz", limits);
  if (inflated.ok() && inflated->size() > limits.max_bytes) __builtin_trap();
  (void)privedge::ParseIdx(bytes, "fuzz.idx", limits);
  return 0;
}
