// libFuzzer target: the CSV dataset reader (ParseCsv), plain or gzip-compressed. The first
// byte picks the options (header mode, delimiter, label column); the rest is the file.
#include <cstddef>
#include <cstdint>
#include <span>

#include "privedge/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using privedge::CsvOptions;
  const uint8_t pick = data[0];
  CsvOptions options;
  options.header = pick % 3 == 0   ? CsvOptions::Header::kAuto
                   : pick % 3 == 1 ? CsvOptions::Header::kPresent
                                   : CsvOptions::Header::kAbsent;
  static constexpr char kDelimiters[] = {',', ';', '\t', '|'};
  options.delimiter = kDelimiters[(pick >> 2) & 3];
  switch (pick >> 4 & 3) {
    case 0:
      break;
    case 1:
      options.has_label_index = true;
      options.label_index = -1;
      break;
    case 2:
      options.has_label_index = true;
      options.label_index = static_cast<int8_t>(pick) >> 6;  // -2 .. 1
      break;
    default:
      options.label_name = "label";
      break;
  }
  privedge::DataLimits limits;
  if (pick & 0x40) limits.max_bytes = 4096;  // reach the row limit with small inputs
  auto table =
      privedge::ParseCsv(std::span<const uint8_t>(data + 1, size - 1), "fuzz.csv", options, limits);
  if (table.ok()) {
    const auto& f = table->features;
    if (f.rank() != 2 || (table->labels.defined() && table->labels.dim(0) != f.dim(0)))
      __builtin_trap();
  }
  return 0;
}
