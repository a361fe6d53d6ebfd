// libFuzzer target: the federated task configuration text (ParseTaskConfig). The server reads
// it from the operator's file and the coordinator again from its round store. A parsed
// configuration must survive SerializeTaskConfig and parse back to the same text. For
// dpfedavg tasks, the privacy ledger the server keeps is then made and asked about a round
// (the RDP accountant on whatever noise and sampling rate the text sets).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fl/dp.h"
#include "privedge/federated.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace privedge::fl;
  auto config = ParseTaskConfig(std::string(reinterpret_cast<const char*>(data), size));
  if (!config.ok()) return 0;
  const std::string text = SerializeTaskConfig(*config);
  auto again = ParseTaskConfig(text);
  if (!again.ok() || SerializeTaskConfig(*again) != text) __builtin_trap();
  if (config->strategy.name == "dpfedavg") {
    // A population of 4 cohorts (bounded: the config's counts may be near INT64_MAX).
    const int64_t population = std::min<int64_t>(config->clients_per_round, int64_t{1} << 40) * 4;
    auto ledger = PrivacyLedger::Create(*config, population);
    if (ledger.ok()) {
      (void)ledger->NextRoundFits();
      if (ledger->RecordRound(config->min_clients).ok()) (void)ledger->Epsilon();
    }
  }
  return 0;
}
