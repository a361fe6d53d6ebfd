// libFuzzer target: the federated task configuration text (ParseTaskConfig). The server reads
// it from the operator's file and the coordinator again from its round store. A parsed
// configuration must survive SerializeTaskConfig and parse back to the same text. For
// dpfedavg tasks, the privacy ledger the server keeps is then made and asked about a round
// (the RDP accountant on whatever noise and sampling rate the text sets).
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
    auto ledger = PrivacyLedger::Create(*config, config->clients_per_round * 4);
    if (ledger.ok()) {
      (void)ledger->NextRoundFits();
      if (ledger->RecordRound(config->min_clients).ok()) (void)ledger->Epsilon();
    }
  }
  return 0;
}
