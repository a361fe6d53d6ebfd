#include "secagg/protocol.h"

#include <sodium.h>

#include <cstring>

#include "crypto/key_agreement.h"

namespace privedge::secagg {

namespace {

constexpr size_t kSharePlainBytes = 8 + 2 * 8 * kShareChunks;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{p[i]} << (8 * i);
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

Status DeriveForPair(const char* tag, uint64_t round_id, std::span<const uint8_t> secret,
                     const PublicKey& peer, uint32_t a, uint32_t b, std::span<uint8_t> out) {
  uint8_t salt[40] = {};
  const size_t tag_len = std::strlen(tag);
  std::memcpy(salt, tag, tag_len);
  PutU64(salt + tag_len, round_id);
  uint8_t info[8];
  PutU32(info, std::min(a, b));
  PutU32(info + 4, std::max(a, b));
  return crypto::DeriveSharedKeyInto(secret, peer, {salt, tag_len + 8}, info, out);
}

std::array<uint8_t, 16> AssociatedData(uint64_t round_id, uint32_t owner, uint32_t holder) {
  std::array<uint8_t, 16> ad{};
  PutU64(ad.data(), round_id);
  PutU32(ad.data() + 8, owner);
  PutU32(ad.data() + 12, holder);
  return ad;
}

}  // namespace

Status ValidateConfig(const RoundConfig& c) {
  if (c.num_clients < 3 || c.num_clients > kMaxClients) {
    return InvalidArgument("secagg round: num_clients ", c.num_clients, " outside 3..",
                           kMaxClients);
  }
  const bool complete = c.degree + 1 == c.num_clients;
  if (c.degree < 2 || c.degree >= c.num_clients || (!complete && c.degree % 2 != 0)) {
    return InvalidArgument("secagg round: degree ", c.degree, " must be even in 2..",
                           c.num_clients - 2, " or ", c.num_clients - 1, " (complete graph)");
  }
  if (2 * c.threshold <= c.degree || c.threshold > c.degree) {
    return InvalidArgument("secagg round: threshold ", c.threshold, " must be in ",
                           c.degree / 2 + 1, "..", c.degree, " for degree ", c.degree,
                           " (at most half would let the server learn both shares of a client)");
  }
  if (c.bits < 1 || c.bits > 64)
    return InvalidArgument("secagg round: bits ", c.bits, " not 1..64");
  if (c.length < 1 || c.length > kMaxLength) {
    return InvalidArgument("secagg round: length ", c.length, " outside 1..", kMaxLength);
  }
  return Status::OK();
}

std::optional<PublicKey> InMemoryDeviceRegistry::SigningKey(const std::string& device_id) const {
  auto it = keys_.find(device_id);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

Signer Ed25519Signer(std::shared_ptr<const SecureBuffer> secret_key) {
  return [key = std::move(secret_key)](std::span<const uint8_t> message) -> Result<Signature> {
    if (!key || key->size() != crypto_sign_SECRETKEYBYTES) {
      return InvalidArgument("Ed25519 secret key: expected ", crypto_sign_SECRETKEYBYTES, " bytes");
    }
    Signature sig{};
    if (crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), key->data()) !=
        0) {
      return Internal("Ed25519 signing failed");
    }
    return sig;
  };
}

Status VerifyAdvertisement(uint64_t round_id, const DeviceRegistry& registry,
                           const AdvertiseKeys& keys) {
  const std::optional<PublicKey> enrolled = registry.SigningKey(keys.device_id);
  if (!enrolled) {
    return Unauthenticated("client ", keys.from, " advertised keys for device '", keys.device_id,
                           "', which is not enrolled");
  }
  const std::vector<uint8_t> bytes = AdvertisementBytes(round_id, keys);
  if (crypto_sign_verify_detached(keys.signature.data(), bytes.data(), bytes.size(),
                                  enrolled->data()) != 0) {
    return Unauthenticated("client ", keys.from, " (device '", keys.device_id,
                           "'): advertised keys do not verify against the enrolled key (forged "
                           "or altered)");
  }
  return Status::OK();
}

Status PairwiseMaskSeed(uint64_t round_id, std::span<const uint8_t> my_mask_secret,
                        const PublicKey& peer_mask_key, uint32_t a, uint32_t b,
                        std::span<uint8_t> seed_out) {
  return DeriveForPair("privedge-secagg-mask-v1", round_id, my_mask_secret, peer_mask_key, a, b,
                       seed_out);
}

Status ShareEncryptionKey(uint64_t round_id, std::span<const uint8_t> my_encryption_secret,
                          const PublicKey& peer_encryption_key, uint32_t a, uint32_t b,
                          std::span<uint8_t> key_out) {
  return DeriveForPair("privedge-secagg-share-v1", round_id, my_encryption_secret,
                       peer_encryption_key, a, b, key_out);
}

Result<std::vector<uint8_t>> EncryptSharePair(uint64_t round_id, std::span<const uint8_t> key,
                                              const SharePair& pair) {
  if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES) {
    return InvalidArgument("share key: expected 32 bytes, got ", key.size());
  }
  uint8_t plain[kSharePlainBytes];
  PutU32(plain, pair.owner);
  PutU32(plain + 4, pair.holder);
  for (size_t c = 0; c < kShareChunks; ++c) {
    PutU64(plain + 8 + 8 * c, pair.mask_key.y[c]);
    PutU64(plain + 8 + 8 * (kShareChunks + c), pair.self_seed.y[c]);
  }
  const auto ad = AssociatedData(round_id, pair.owner, pair.holder);
  std::vector<uint8_t> out(kNonceBytes + kSharePlainBytes + kTagBytes);
  randombytes_buf(out.data(), kNonceBytes);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kNonceBytes, &written, plain,
                                             sizeof plain, ad.data(), ad.size(), nullptr,
                                             out.data(), key.data());
  sodium_memzero(plain, sizeof plain);
  return out;
}

Result<SharePair> DecryptSharePair(uint64_t round_id, std::span<const uint8_t> key, uint32_t owner,
                                   uint32_t holder, std::span<const uint8_t> ciphertext) {
  if (ciphertext.size() != kNonceBytes + kSharePlainBytes + kTagBytes) {
    return Unauthenticated("share ciphertext from client ", owner, ": expected ",
                           kNonceBytes + kSharePlainBytes + kTagBytes, " bytes, got ",
                           ciphertext.size());
  }
  const auto ad = AssociatedData(round_id, owner, holder);
  uint8_t plain[kSharePlainBytes];
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &written, nullptr,
                                                 ciphertext.data() + kNonceBytes,
                                                 ciphertext.size() - kNonceBytes, ad.data(),
                                                 ad.size(), ciphertext.data(), key.data()) != 0) {
    return Unauthenticated("share ciphertext from client ", owner,
                           " failed authentication (tampered, or not for this client/round)");
  }
  SharePair pair;
  pair.owner = GetU32(plain);
  pair.holder = GetU32(plain + 4);
  pair.mask_key.x = pair.self_seed.x = holder + 1;
  bool in_field = true;
  for (size_t c = 0; c < kShareChunks; ++c) {
    pair.mask_key.y[c] = GetU64(plain + 8 + 8 * c);
    pair.self_seed.y[c] = GetU64(plain + 8 + 8 * (kShareChunks + c));
    in_field = in_field && pair.mask_key.y[c] < kFieldPrime && pair.self_seed.y[c] < kFieldPrime;
  }
  sodium_memzero(plain, sizeof plain);
  if (pair.owner != owner || pair.holder != holder || !in_field) {
    return Unauthenticated("share ciphertext from client ", owner,
                           " holds shares for another pair or outside the field");
  }
  return pair;
}

}  // namespace privedge::secagg
