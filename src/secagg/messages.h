// The messages of a SecAgg+ round and their byte encoding.
//
//   std::vector<uint8_t> bytes = secagg::Serialize(message);
//   PE_ASSIGN_OR_RETURN(secagg::Message back, secagg::Parse(bytes));
//
// Stages (Bonawitz et al. 2017 / Bell et al. 2020, semi-honest variant):
//   0 advertise keys  client -> server AdvertiseKeys; server -> client NeighbourKeys
//   1 share keys      client -> server ShareKeys;     server -> client ForwardedShares
//   2 masked input    client -> server MaskedInput;   server -> client UnmaskRequest
//   3 unmasking       client -> server UnmaskResponse
// and AbortNotice from the server at any time. Clients are numbered 0..n-1 within a round.
//
// Encoding: "PSA" 0x01, a type byte, then fields little-endian; vectors and strings carry a
// u32 count that is checked against the bytes left before anything is allocated. Parse treats
// its input as hostile: every error is a one-line InvalidArgument naming the field and offset;
// trailing bytes are an error. This is the in-process encoding until the wire protobuf lands.
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "privedge/status.h"
#include "secagg/shamir.h"

namespace privedge::secagg {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

inline constexpr size_t kMaxDeviceIdBytes = 256;
inline constexpr size_t kMaxCiphertextBytes = 1024;
inline constexpr size_t kMaxReasonBytes = 1024;

enum class Stage : uint8_t { kAdvertiseKeys = 0, kShareKeys = 1, kMaskedInput = 2, kUnmask = 3 };
const char* StageName(Stage stage);

struct AdvertiseKeys {
  uint32_t from = 0;
  std::string device_id;       // the enrolled identity whose Ed25519 key signed this
  PublicKey encryption_key{};  // X25519, for the share ciphertexts
  PublicKey mask_key{};        // X25519, for the pairwise masks
  Signature signature{};       // Ed25519 over AdvertisementBytes(round_id, this)
};

struct NeighbourKeys {
  uint32_t to = 0;
  std::vector<AdvertiseKeys> neighbours;
};

struct EncryptedShare {
  uint32_t peer = 0;  // recipient in ShareKeys, sender in ForwardedShares
  std::vector<uint8_t> ciphertext;
};

struct ShareKeys {
  uint32_t from = 0;
  std::vector<EncryptedShare> shares;
};

struct ForwardedShares {
  uint32_t to = 0;
  std::vector<EncryptedShare> shares;
};

struct MaskedInput {
  uint32_t from = 0;
  uint32_t bits = 0;  // elements are 4 bytes on the wire when bits <= 32, else 8
  std::vector<uint64_t> values;
};

struct UnmaskRequest {
  uint32_t to = 0;
  std::vector<uint32_t> survivors;  // neighbours whose self-mask seed share is asked
  std::vector<uint32_t> dropped;    // neighbours whose mask-key share is asked
};

enum class ShareKind : uint8_t { kSelfMaskSeed = 0, kMaskKey = 1 };

struct RevealedShare {
  uint32_t owner = 0;
  ShareKind kind = ShareKind::kSelfMaskSeed;
  ShamirShare share;
};

struct UnmaskResponse {
  uint32_t from = 0;
  std::vector<RevealedShare> shares;
};

struct AbortNotice {
  uint32_t to = 0;
  std::string reason;
};

using Message = std::variant<AdvertiseKeys, NeighbourKeys, ShareKeys, ForwardedShares, MaskedInput,
                             UnmaskRequest, UnmaskResponse, AbortNotice>;

// The client a message comes from (client -> server) or goes to (server -> client).
uint32_t Endpoint(const Message& message);
const char* MessageName(const Message& message);

std::vector<uint8_t> Serialize(const Message& message);
Result<Message> Parse(std::span<const uint8_t> bytes);

// The bytes an advertisement's signature covers: a domain tag, the round id, the client index,
// the device id and both public keys.
std::vector<uint8_t> AdvertisementBytes(uint64_t round_id, const AdvertiseKeys& keys);

}  // namespace privedge::secagg
