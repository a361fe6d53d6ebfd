// What the SecAgg+ client and server share: the round configuration, device identities
// (Ed25519 keys of enrolled devices), and the key derivations and share encryption of the
// protocol. See client.h and server.h for the state machines, docs/secagg.md for the design.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "privedge/secure_buffer.h"
#include "privedge/status.h"
#include "secagg/messages.h"
#include "secagg/shamir.h"

namespace privedge::secagg {

// The public parameters of one round, known to the server and every client beforehand.
struct RoundConfig {
  uint64_t round_id = 0;                 // unique per round: binds signatures, keys and ciphertexts
  uint32_t num_clients = 0;              // n; clients are 0..n-1
  uint32_t degree = 0;                   // k (n-1: complete graph, SecAgg); see ChooseGraphParams
  uint32_t threshold = 0;                // t, with k/2 < t <= k
  uint32_t bits = 32;                    // inputs and sums are mod 2^bits
  uint32_t length = 0;                   // d: elements per input vector
  std::array<uint8_t, 32> graph_seed{};  // public randomness for the random Harary graph
};

inline constexpr uint32_t kMaxClients = 1u << 24;
inline constexpr uint32_t kMaxLength = 1u << 28;

// Checks the ranges above. A client refuses a round whose threshold is at most half its
// degree: then the server could collect both kinds of share for a client.
Status ValidateConfig(const RoundConfig& config);

inline uint64_t ModulusMask(uint32_t bits) {
  return bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
}

// Device id -> enrolled Ed25519 public key. Implementations must be safe to call from the
// thread that drives the state machine.
class DeviceRegistry {
 public:
  virtual ~DeviceRegistry() = default;
  virtual std::optional<PublicKey> SigningKey(const std::string& device_id) const = 0;
};

// A registry held in memory (tests, simulation, and the server once loaded from its store).
class InMemoryDeviceRegistry : public DeviceRegistry {
 public:
  void Enroll(const std::string& device_id, const PublicKey& key) { keys_[device_id] = key; }
  std::optional<PublicKey> SigningKey(const std::string& device_id) const override;

 private:
  std::unordered_map<std::string, PublicKey> keys_;
};

// Signs the bytes of an advertisement with the device identity key.
using Signer = std::function<Result<Signature>(std::span<const uint8_t>)>;

// A Signer over a libsodium Ed25519 secret key (64 bytes, crypto_sign_SECRETKEYBYTES).
Signer Ed25519Signer(std::shared_ptr<const SecureBuffer> secret_key);

// OK when the advertisement's signature verifies against the enrolled key of its device id.
// Unauthenticated (unknown device or bad signature) otherwise.
Status VerifyAdvertisement(uint64_t round_id, const DeviceRegistry& registry,
                           const AdvertiseKeys& keys);

// The 32-byte seed of the pairwise mask between clients a and b:
// HKDF-SHA256(X25519(my mask secret key, peer mask public key), salt = tag || round id,
// info = min(a,b) || max(a,b)). Symmetric in (a, b).
Status PairwiseMaskSeed(uint64_t round_id, std::span<const uint8_t> my_mask_secret,
                        const PublicKey& peer_mask_key, uint32_t a, uint32_t b,
                        std::span<uint8_t> seed_out);

// The 32-byte XChaCha20-Poly1305 key for share ciphertexts between a and b (same derivation
// with another tag, from the encryption keys).
Status ShareEncryptionKey(uint64_t round_id, std::span<const uint8_t> my_encryption_secret,
                          const PublicKey& peer_encryption_key, uint32_t a, uint32_t b,
                          std::span<uint8_t> key_out);

// The plaintext of one share ciphertext: owner's shares of its mask key and self-mask seed,
// for holder. Both shares are at x = holder + 1.
struct SharePair {
  uint32_t owner = 0;
  uint32_t holder = 0;
  ShamirShare mask_key;
  ShamirShare self_seed;
};

// XChaCha20-Poly1305 with a random nonce; the associated data binds round, owner and holder.
Result<std::vector<uint8_t>> EncryptSharePair(uint64_t round_id, std::span<const uint8_t> key,
                                              const SharePair& pair);
// Unauthenticated when the tag, the binding or the shares' evaluation points do not check.
Result<SharePair> DecryptSharePair(uint64_t round_id, std::span<const uint8_t> key, uint32_t owner,
                                   uint32_t holder, std::span<const uint8_t> ciphertext);

}  // namespace privedge::secagg
