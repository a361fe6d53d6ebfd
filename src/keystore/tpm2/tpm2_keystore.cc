#include "keystore/tpm2/tpm2_keystore.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>

#include "keystore/tpm2/tpm2_blob.h"
#include "keystore/tpm2/tpm2_state.h"
#include "keystore/tpm2/tpm2_util.h"

namespace privedge::keystore {
namespace {

using tpm2::Connection;
using tpm2::EsysPtr;
using tpm2::Generation;
using tpm2::ScopedHandle;
using tpm2::TssStatus;

constexpr size_t kMaxKeyBytes = 64;
constexpr char kContextDomain[] = "privedge tpm2 keystore context v1";

std::string ResolveTcti(const KeystoreOptions& options) {
  if (!options.tpm_tcti.empty()) return options.tpm_tcti;
  const char* env = std::getenv("PRIVEDGE_TPM_TCTI");
  if (env != nullptr && *env != '\0') return env;
  return "device:/dev/tpmrm0";
}

// The storage primary key of one generation: an ECC P-256 restricted decryption key in the
// owner hierarchy. The TPM derives it from the owner seed and this template, so the
// generation's random `unique` selects a key that only this TPM can re-create.
TPM2B_PUBLIC PrimaryTemplate(const std::array<uint8_t, 32>& unique) {
  TPM2B_PUBLIC t{};
  TPMT_PUBLIC& p = t.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                       TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.eccDetail.symmetric.keyBits.aes = 128;
  p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  p.unique.ecc.x.size = 32;
  std::memcpy(p.unique.ecc.x.buffer, unique.data(), unique.size());
  p.unique.ecc.y.size = 32;
  return t;
}

// The authValue of a sealed object: SHA-256 of a domain tag and the context, so the TPM
// itself refuses to unseal under any other context.
TPM2B_AUTH ContextAuth(std::string_view context) {
  TPM2B_AUTH auth{};
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, reinterpret_cast<const uint8_t*>(kContextDomain),
                            sizeof kContextDomain);  // with its NUL, as a separator
  crypto_hash_sha256_update(&state, reinterpret_cast<const uint8_t*>(context.data()),
                            context.size());
  crypto_hash_sha256_final(&state, auth.buffer);
  auth.size = crypto_hash_sha256_BYTES;
  return auth;
}

Result<ScopedHandle> CreatePrimary(ESYS_CONTEXT* esys, const std::array<uint8_t, 32>& unique) {
  const TPM2B_SENSITIVE_CREATE sensitive{};
  const TPM2B_PUBLIC in_public = PrimaryTemplate(unique);
  const TPM2B_DATA outside_info{};
  const TPML_PCR_SELECTION creation_pcr{};
  ESYS_TR handle = ESYS_TR_NONE;
  const TSS2_RC rc = Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                        ESYS_TR_NONE, &sensitive, &in_public, &outside_info,
                                        &creation_pcr, &handle, nullptr, nullptr, nullptr, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    const Status s = TssStatus("Esys_CreatePrimary", rc, StatusCode::kInternal);
    return s.WithContext(s.code() == StatusCode::kUnauthenticated
                             ? "deriving the keystore's primary key in the owner hierarchy "
                               "(privedge needs the owner authorization to be empty)"
                             : "deriving the keystore's primary key in the owner hierarchy");
  }
  return ScopedHandle(esys, handle);
}

// Key id: the first 16 bytes of the SHA-256 digest in the primary's TPM name, i.e. a hash of
// its public area (the public key differs on every TPM and for every generation).
Result<std::string> KeyIdOf(ESYS_CONTEXT* esys, ESYS_TR handle) {
  TPM2B_NAME* raw = nullptr;
  const TSS2_RC rc = Esys_TR_GetName(esys, handle, &raw);
  if (rc != TSS2_RC_SUCCESS) return TssStatus("Esys_TR_GetName", rc, StatusCode::kInternal);
  const EsysPtr<TPM2B_NAME> name(raw);
  if (name->size != 2 + 32) {
    return Internal("TPM keystore: primary key name of ", name->size, " bytes, expected 34");
  }
  return tpm2::HexString(name->name + 2, tpm2::kKeyIdBytes);
}

Result<Generation> NewGeneration(ESYS_CONTEXT* esys) {
  Generation g;
  randombytes_buf(g.unique.data(), g.unique.size());
  PE_ASSIGN_OR_RETURN(ScopedHandle primary, CreatePrimary(esys, g.unique));
  PE_ASSIGN_OR_RETURN(g.key_id, KeyIdOf(esys, primary.get()));
  return g;
}

// An unbound HMAC session salted to `salt_key` (ECDH with the primary), so its session key
// and the parameters it encrypts (AES-128-CFB) are hidden from anyone on the TPM bus.
Result<ScopedHandle> StartSaltedSession(ESYS_CONTEXT* esys, ESYS_TR salt_key) {
  TPMT_SYM_DEF symmetric{};
  symmetric.algorithm = TPM2_ALG_AES;
  symmetric.keyBits.aes = 128;
  symmetric.mode.aes = TPM2_ALG_CFB;
  ESYS_TR session = ESYS_TR_NONE;
  const TSS2_RC rc =
      Esys_StartAuthSession(esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            nullptr, TPM2_SE_HMAC, &symmetric, TPM2_ALG_SHA256, &session);
  if (rc != TSS2_RC_SUCCESS) {
    return TssStatus("Esys_StartAuthSession", rc, StatusCode::kInternal);
  }
  return ScopedHandle(esys, session);
}

// Sets which parameters the session encrypts on the next command; the session stays open
// (ScopedHandle flushes it).
Status SetSessionAttributes(ESYS_CONTEXT* esys, ESYS_TR session, TPMA_SESSION extra) {
  const TSS2_RC rc =
      Esys_TRSess_SetAttributes(esys, session, TPMA_SESSION_CONTINUESESSION | extra, 0xff);
  if (rc != TSS2_RC_SUCCESS) {
    return TssStatus("Esys_TRSess_SetAttributes", rc, StatusCode::kInternal);
  }
  return Status::OK();
}

Status CreateDirectoryIfMissing(const std::string& dir) {
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create keystore directory '", dir, "': ", ec.message());
  if (created && chmod(dir.c_str(), 0700) != 0) {
    return IoError("cannot restrict keystore directory '", dir, "' to its owner");
  }
  return Status::OK();
}

class Tpm2Keystore final : public Keystore {
 public:
  // Opens the keystore and checks that the TPM re-derives the current generation's key.
  static Result<std::unique_ptr<Tpm2Keystore>> Open(const KeystoreOptions& options);

  std::string backend() const override { return "tpm2"; }
  std::string key_id() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return slots_[current_].generation.key_id;
  }
  Result<std::vector<uint8_t>> Wrap(std::span<const uint8_t> key,
                                    std::string_view context) override;
  Result<SecureBuffer> Unwrap(std::span<const uint8_t> wrapped, std::string_view context) override;
  Result<std::string> Rotate();

 private:
  struct Slot {
    Generation generation;
    // The primary key saved by TPM2_ContextSave: reloading it is much cheaper than deriving
    // it again. Invalid after a TPM reset, and then derived again.
    std::optional<TPMS_CONTEXT> saved;
  };

  Tpm2Keystore(std::unique_ptr<Connection> tpm, std::string dir,
               std::vector<Generation> generations)
      : tpm_(std::move(tpm)), dir_(std::move(dir)) {
    for (Generation& g : generations) slots_.push_back({std::move(g), std::nullopt});
    current_ = slots_.size() - 1;
  }

  ESYS_CONTEXT* esys() const { return tpm_->esys(); }
  Result<ScopedHandle> LoadPrimary(size_t index);
  Result<size_t> FindGeneration(const std::string& key_id);

  mutable std::mutex mu_;
  std::unique_ptr<Connection> tpm_;
  std::string dir_;
  std::vector<Slot> slots_;  // oldest first
  size_t current_ = 0;       // the generation Wrap uses
};

Result<std::unique_ptr<Tpm2Keystore>> Tpm2Keystore::Open(const KeystoreOptions& options) {
  if (options.dir.empty()) return InvalidArgument("TPM keystore: options.dir is empty");
  if (sodium_init() < 0) return Internal("libsodium failed to initialize");
  const std::string path = tpm2::GenerationsPath(options.dir);
  Result<std::vector<Generation>> generations = tpm2::ReadGenerations(path);
  if (!generations.ok() && generations.status().code() == StatusCode::kNotFound &&
      !options.create_if_missing) {
    return NotFound("no TPM keystore in '", options.dir,
                    "'; run `privedge keys init` to create one");
  }
  if (!generations.ok() && generations.status().code() != StatusCode::kNotFound) {
    return generations.status();
  }
  PE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> tpm, Connection::Open(ResolveTcti(options)));
  if (!generations.ok()) {
    PE_RETURN_IF_ERROR(CreateDirectoryIfMissing(options.dir));
    PE_ASSIGN_OR_RETURN(tpm2::DirLock lock, tpm2::DirLock::Acquire(options.dir));
    generations = tpm2::ReadGenerations(path);  // another process may have won the race
    if (!generations.ok() && generations.status().code() == StatusCode::kNotFound) {
      PE_ASSIGN_OR_RETURN(Generation first, NewGeneration(tpm->esys()));
      PE_RETURN_IF_ERROR(tpm2::WriteGenerations(path, {first}));
      generations = std::vector<Generation>{std::move(first)};
    }
    if (!generations.ok()) return generations.status();
  }
  std::unique_ptr<Tpm2Keystore> ks(
      new Tpm2Keystore(std::move(tpm), options.dir, std::move(generations).value()));
  PE_ASSIGN_OR_RETURN(ScopedHandle primary, ks->LoadPrimary(ks->current_));
  return ks;
}

Result<ScopedHandle> Tpm2Keystore::LoadPrimary(size_t index) {
  Slot& slot = slots_[index];
  if (slot.saved) {
    ESYS_TR handle = ESYS_TR_NONE;
    if (Esys_ContextLoad(esys(), &*slot.saved, &handle) == TSS2_RC_SUCCESS) {
      return ScopedHandle(esys(), handle);
    }
    slot.saved.reset();
  }
  PE_ASSIGN_OR_RETURN(ScopedHandle primary, CreatePrimary(esys(), slot.generation.unique));
  PE_ASSIGN_OR_RETURN(std::string id, KeyIdOf(esys(), primary.get()));
  if (id != slot.generation.key_id) {
    return PermissionDenied("the TPM at '", tpm_->tcti(), "' derives key id ", id,
                            " for key generation ", index + 1, " of the keystore in '", dir_,
                            "', which recorded key id ", slot.generation.key_id,
                            ": the TPM was cleared or is not the one this keystore was made on");
  }
  TPMS_CONTEXT* saved = nullptr;
  if (Esys_ContextSave(esys(), primary.get(), &saved) == TSS2_RC_SUCCESS) {
    slot.saved = *saved;
    Esys_Free(saved);
  }
  return primary;
}

Result<size_t> Tpm2Keystore::FindGeneration(const std::string& key_id) {
  auto find = [&]() -> std::optional<size_t> {
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].generation.key_id == key_id) return i;
    }
    return std::nullopt;
  };
  if (auto i = find()) return *i;
  // Another process may have rotated since this keystore opened: rotation only appends, so
  // take the generations the file adds after ours (each is checked when first derived).
  Result<std::vector<Generation>> on_disk = tpm2::ReadGenerations(tpm2::GenerationsPath(dir_));
  if (on_disk.ok() && on_disk->size() > slots_.size()) {
    bool same_prefix = true;
    for (size_t i = 0; i < slots_.size(); ++i) {
      same_prefix &= (*on_disk)[i].unique == slots_[i].generation.unique &&
                     (*on_disk)[i].key_id == slots_[i].generation.key_id;
    }
    for (size_t i = slots_.size(); same_prefix && i < on_disk->size(); ++i) {
      slots_.push_back({(*on_disk)[i], std::nullopt});
    }
    if (auto i = find()) return *i;
  }
  return PermissionDenied("the key was wrapped for device key ", key_id,
                          ", but this device's TPM key is ", slots_[current_].generation.key_id,
                          (slots_.size() > 1 ? " (or one of its retired generations)" : ""),
                          ": it was made on another device or by another keystore");
}

Result<std::vector<uint8_t>> Tpm2Keystore::Wrap(std::span<const uint8_t> key,
                                                std::string_view context) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return InvalidArgument("TPM keystore: key to wrap is ", key.size(), " bytes, expected 1 to ",
                           kMaxKeyBytes);
  }
  std::lock_guard<std::mutex> lock(mu_);
  PE_ASSIGN_OR_RETURN(ScopedHandle primary, LoadPrimary(current_));
  PE_ASSIGN_OR_RETURN(ScopedHandle session, StartSaltedSession(esys(), primary.get()));
  // The key travels to the TPM encrypted under the salted session.
  PE_RETURN_IF_ERROR(SetSessionAttributes(esys(), session.get(), TPMA_SESSION_DECRYPT));

  TPM2B_SENSITIVE_CREATE sensitive{};
  sensitive.sensitive.userAuth = ContextAuth(context);
  sensitive.sensitive.data.size = static_cast<UINT16>(key.size());
  std::memcpy(sensitive.sensitive.data.buffer, key.data(), key.size());
  const TPM2B_PUBLIC in_public = tpm2::SealedObjectTemplate();
  const TPM2B_DATA outside_info{};
  const TPML_PCR_SELECTION creation_pcr{};
  TPM2B_PRIVATE* out_private = nullptr;
  TPM2B_PUBLIC* out_public = nullptr;
  const TSS2_RC rc = Esys_Create(esys(), primary.get(), session.get(), ESYS_TR_NONE, ESYS_TR_NONE,
                                 &sensitive, &in_public, &outside_info, &creation_pcr, &out_private,
                                 &out_public, nullptr, nullptr, nullptr);
  sodium_memzero(&sensitive, sizeof sensitive);
  const EsysPtr<TPM2B_PRIVATE> private_guard(out_private);
  const EsysPtr<TPM2B_PUBLIC> public_guard(out_public);
  if (rc != TSS2_RC_SUCCESS) {
    return TssStatus("Esys_Create", rc, StatusCode::kInternal)
        .WithContext("TPM keystore: sealing the key");
  }
  tpm2::WrappedKey wrapped;
  tpm2::ParseHex(slots_[current_].generation.key_id, wrapped.key_id.data(), tpm2::kKeyIdBytes);
  wrapped.public_area = *out_public;
  wrapped.private_area = *out_private;
  return tpm2::EncodeWrappedKey(wrapped);
}

Result<SecureBuffer> Tpm2Keystore::Unwrap(std::span<const uint8_t> blob, std::string_view context) {
  PE_ASSIGN_OR_RETURN(tpm2::WrappedKey wrapped, tpm2::DecodeWrappedKey(blob));
  std::lock_guard<std::mutex> lock(mu_);
  PE_ASSIGN_OR_RETURN(size_t generation,
                      FindGeneration(tpm2::HexString(wrapped.key_id.data(), tpm2::kKeyIdBytes)));
  PE_RETURN_IF_ERROR(tpm2::CheckSealedObjectPublic(wrapped.public_area.publicArea));
  PE_ASSIGN_OR_RETURN(ScopedHandle primary, LoadPrimary(generation));
  PE_ASSIGN_OR_RETURN(ScopedHandle session, StartSaltedSession(esys(), primary.get()));
  PE_RETURN_IF_ERROR(SetSessionAttributes(esys(), session.get(), 0));

  ESYS_TR object_handle = ESYS_TR_NONE;
  TSS2_RC rc = Esys_Load(esys(), primary.get(), session.get(), ESYS_TR_NONE, ESYS_TR_NONE,
                         &wrapped.private_area, &wrapped.public_area, &object_handle);
  if (rc != TSS2_RC_SUCCESS) {
    return TssStatus("Esys_Load", rc, StatusCode::kUnauthenticated)
        .WithContext(
            "TPM keystore: the TPM refused the wrapped key (altered, or not sealed "
            "by this keystore)");
  }
  const ScopedHandle object(esys(), object_handle);
  const TPM2B_AUTH auth = ContextAuth(context);
  rc = Esys_TR_SetAuth(esys(), object.get(), &auth);
  if (rc != TSS2_RC_SUCCESS) return TssStatus("Esys_TR_SetAuth", rc, StatusCode::kInternal);
  // The key comes back encrypted under the salted session.
  PE_RETURN_IF_ERROR(SetSessionAttributes(esys(), session.get(), TPMA_SESSION_ENCRYPT));
  TPM2B_SENSITIVE_DATA* raw = nullptr;
  rc = Esys_Unseal(esys(), object.get(), session.get(), ESYS_TR_NONE, ESYS_TR_NONE, &raw);
  if (rc != TSS2_RC_SUCCESS) {
    return TssStatus("Esys_Unseal", rc, StatusCode::kInternal)
        .WithContext("TPM keystore: unsealing refused (wrong context, or altered blob)");
  }
  const EsysPtr<TPM2B_SENSITIVE_DATA> data(raw);
  Result<SecureBuffer> key = SecureBuffer::Allocate(data->size);
  if (key.ok()) std::memcpy(key->data(), data->buffer, data->size);
  sodium_memzero(data->buffer, sizeof data->buffer);
  return key;
}

Result<std::string> Tpm2Keystore::Rotate() {
  std::lock_guard<std::mutex> lock(mu_);
  PE_ASSIGN_OR_RETURN(tpm2::DirLock dir_lock, tpm2::DirLock::Acquire(dir_));
  const std::string path = tpm2::GenerationsPath(dir_);
  PE_ASSIGN_OR_RETURN(std::vector<Generation> generations, tpm2::ReadGenerations(path));
  PE_ASSIGN_OR_RETURN(Generation next, NewGeneration(esys()));
  generations.push_back(next);
  PE_RETURN_IF_ERROR(tpm2::WriteGenerations(path, generations));
  slots_.clear();
  for (Generation& g : generations) slots_.push_back({std::move(g), std::nullopt});
  current_ = slots_.size() - 1;
  return next.key_id;
}

}  // namespace

Result<std::unique_ptr<Keystore>> OpenTpm2Keystore(const KeystoreOptions& options) {
  PE_ASSIGN_OR_RETURN(std::unique_ptr<Tpm2Keystore> ks, Tpm2Keystore::Open(options));
  return std::unique_ptr<Keystore>(std::move(ks));
}

Result<std::string> RotateTpm2Key(const KeystoreOptions& options) {
  KeystoreOptions existing = options;
  existing.create_if_missing = false;
  PE_ASSIGN_OR_RETURN(std::unique_ptr<Tpm2Keystore> ks, Tpm2Keystore::Open(existing));
  return ks->Rotate();
}

Status ProbeTpm2(const KeystoreOptions& options) {
  PE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> tpm, Connection::Open(ResolveTcti(options)));
  TPMS_CAPABILITY_DATA* raw = nullptr;
  const TSS2_RC rc =
      Esys_GetCapability(tpm->esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                         TPM2_CAP_TPM_PROPERTIES, TPM2_PT_FAMILY_INDICATOR, 1, nullptr, &raw);
  const EsysPtr<TPMS_CAPABILITY_DATA> capabilities(raw);
  if (rc != TSS2_RC_SUCCESS) {
    return TssStatus("Esys_GetCapability", rc, StatusCode::kIoError)
        .WithContext("no TPM 2.0 answers at '" + tpm->tcti() + "'");
  }
  return Status::OK();
}

}  // namespace privedge::keystore
