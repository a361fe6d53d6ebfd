// libFuzzer target: the SecAgg+ message codec (secagg::Parse), which the server applies to
// every client message and each client to every server message. The first byte selects the
// message type (the "PSA\x01" header is added), or with its top bit set the rest is parsed as
// is. A parsed message must serialize back to exactly the bytes it came from.
// With PRIVEDGE_FUZZ_SEEDS=DIR set, the target first writes one valid message of each type into
// DIR (fuzz/run.sh does it), so the seeds always match the current encoding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "secagg/messages.h"

namespace {

using namespace privedge::secagg;

AdvertiseKeys Advertise(uint32_t from) {
  AdvertiseKeys a;
  a.from = from;
  a.device_id = "device-" + std::to_string(from);
  a.encryption_key.fill(static_cast<uint8_t>(1 + from));
  a.mask_key.fill(static_cast<uint8_t>(2 + from));
  a.signature.fill(static_cast<uint8_t>(3 + from));
  return a;
}

void WriteSeeds(const std::string& dir) {
  const std::vector<EncryptedShare> shares = {{1, std::vector<uint8_t>(40, 7)},
                                              {2, std::vector<uint8_t>(40, 9)}};
  RevealedShare revealed;
  revealed.owner = 2;
  revealed.kind = ShareKind::kMaskKey;
  revealed.share.x = 3;
  revealed.share.y = {1, 2, 3, 4, kFieldPrime - 1};
  const Message messages[] = {
      Advertise(0),
      NeighbourKeys{1, {Advertise(0), Advertise(2)}},
      ShareKeys{0, shares},
      ForwardedShares{1, shares},
      MaskedInput{2, 16, {1, 2, 65535}},
      MaskedInput{2, 40, {uint64_t{1} << 39, 5}},
      UnmaskRequest{0, {1, 2}, {3}},
      UnmaskResponse{1, {revealed, revealed}},
      AbortNotice{3, "round deadline passed"},
  };
  int i = 0;
  for (const Message& m : messages) {
    const std::vector<uint8_t> bytes = Serialize(m);
    std::ofstream out(dir + "/" + MessageName(m) + std::to_string(i++), std::ios::binary);
    // The selector byte of the typed form, then the body after the 5-byte header.
    out.put(static_cast<char>(bytes[4]));
    out.write(reinterpret_cast<const char*>(bytes.data() + 5),
              static_cast<std::streamsize>(bytes.size() - 5));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("PRIVEDGE_FUZZ_SEEDS")) WriteSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::vector<uint8_t> bytes;
  if (data[0] & 0x80) {
    bytes.assign(data + 1, data + size);
  } else {
    bytes = {'P', 'S', 'A', 1, static_cast<uint8_t>(data[0] % 8)};
    bytes.insert(bytes.end(), data + 1, data + size);
  }
  auto message = privedge::secagg::Parse(bytes);
  if (!message.ok()) return 0;
  (void)privedge::secagg::Endpoint(*message);
  (void)privedge::secagg::MessageName(*message);
  if (privedge::secagg::Serialize(*message) != bytes) __builtin_trap();
  return 0;
}
