#include "keystore/tpm2/tpm2_blob.h"

#include <tss2/tss2_mu.h>

#include <cstring>

#include "keystore/tpm2/tpm2_util.h"

namespace privedge::keystore::tpm2 {
namespace {

constexpr uint8_t kMagic[8] = {'P', 'E', 'T', 'P', 'M', '2', 'W', 'K'};
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderBytes = sizeof kMagic + 1 + kKeyIdBytes;

constexpr TPMA_OBJECT kSealedAttributes =
    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA;

}  // namespace

std::vector<uint8_t> EncodeWrappedKey(const WrappedKey& key) {
  std::vector<uint8_t> blob(kHeaderBytes + sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE));
  std::memcpy(blob.data(), kMagic, sizeof kMagic);
  blob[sizeof kMagic] = kVersion;
  std::memcpy(blob.data() + sizeof kMagic + 1, key.key_id.data(), kKeyIdBytes);
  size_t offset = kHeaderBytes;
  // The buffer holds the largest possible structures, so marshaling cannot run out of room.
  Tss2_MU_TPM2B_PUBLIC_Marshal(&key.public_area, blob.data(), blob.size(), &offset);
  Tss2_MU_TPM2B_PRIVATE_Marshal(&key.private_area, blob.data(), blob.size(), &offset);
  blob.resize(offset);
  return blob;
}

Result<WrappedKey> DecodeWrappedKey(std::span<const uint8_t> blob) {
  const char* what = "TPM wrapped key";
  if (blob.size() < kHeaderBytes) {
    return InvalidArgument(what, ": ", blob.size(), " bytes, shorter than its ", kHeaderBytes,
                           "-byte header");
  }
  if (std::memcmp(blob.data(), kMagic, sizeof kMagic) != 0) {
    return InvalidArgument(what, ": bad magic ", HexString(blob.data(), sizeof kMagic),
                           ", expected ", HexString(kMagic, sizeof kMagic), " (\"PETPM2WK\")");
  }
  if (blob[sizeof kMagic] != kVersion) {
    return InvalidArgument(what, ": version ", int{blob[sizeof kMagic]}, ", expected ",
                           int{kVersion});
  }
  WrappedKey key;
  std::memcpy(key.key_id.data(), blob.data() + sizeof kMagic + 1, kKeyIdBytes);
  size_t offset = kHeaderBytes;
  const size_t public_start = offset;
  TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob.data(), blob.size(), &offset, &key.public_area);
  if (rc != TSS2_RC_SUCCESS) {
    return TssStatus("Tss2_MU_TPM2B_PUBLIC_Unmarshal", rc, StatusCode::kInvalidArgument)
        .WithContext(detail::Concat(what, ": public area at offset ", offset));
  }
  // tss2-mu does not check a TPM2B_PUBLIC's size against the structure it holds.
  if (offset < public_start + 2 || key.public_area.size != offset - public_start - 2) {
    return InvalidArgument(what, ": the public area at offset ", public_start, " declares ",
                           key.public_area.size, " bytes but does not parse to that size");
  }
  rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob.data(), blob.size(), &offset, &key.private_area);
  if (rc != TSS2_RC_SUCCESS) {
    return TssStatus("Tss2_MU_TPM2B_PRIVATE_Unmarshal", rc, StatusCode::kInvalidArgument)
        .WithContext(detail::Concat(what, ": private area at offset ", offset));
  }
  if (offset != blob.size()) {
    return InvalidArgument(what, ": ", blob.size() - offset, " unexpected bytes after offset ",
                           offset);
  }
  // Only one encoding is accepted, so no bit of the blob can change without an error.
  if (EncodeWrappedKey(key) != std::vector<uint8_t>(blob.begin(), blob.end())) {
    return InvalidArgument(what, ": not in canonical TPM encoding");
  }
  return key;
}

TPM2B_PUBLIC SealedObjectTemplate() {
  TPM2B_PUBLIC t{};
  t.publicArea.type = TPM2_ALG_KEYEDHASH;
  t.publicArea.nameAlg = TPM2_ALG_SHA256;
  t.publicArea.objectAttributes = kSealedAttributes;
  t.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  return t;
}

Status CheckSealedObjectPublic(const TPMT_PUBLIC& p) {
  if (p.type != TPM2_ALG_KEYEDHASH || p.nameAlg != TPM2_ALG_SHA256 ||
      p.objectAttributes != kSealedAttributes || p.authPolicy.size != 0 ||
      p.parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL ||
      p.unique.keyedHash.size != 32) {
    return Unauthenticated(
        "TPM wrapped key: the sealed object's public area is not one privedge creates (type 0x",
        std::hex, p.type, ", nameAlg 0x", p.nameAlg, ", attributes 0x", p.objectAttributes,
        "): the blob was altered");
  }
  return Status::OK();
}

}  // namespace privedge::keystore::tpm2
