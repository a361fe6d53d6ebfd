#include "keystore/tpm2/tpm2_util.h"

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <cstdio>

namespace privedge::keystore::tpm2 {
namespace {

// Commands are small and ECC is fast even on slow TPMs: a TPM silent this long is stuck.
constexpr int32_t kTpmTimeoutMs = 30000;

StatusCode CodeFor(TSS2_RC rc, StatusCode fallback) {
  const TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
  if (layer == TSS2_TCTI_RC_LAYER) return StatusCode::kIoError;
  if (layer == TSS2_ESAPI_RC_LAYER || layer == TSS2_SYS_RC_LAYER) {
    const TSS2_RC base = rc & 0xffff;
    if (base == TSS2_BASE_RC_RSP_AUTH_FAILED) return StatusCode::kUnauthenticated;
    if (base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_NO_CONNECTION ||
        base == TSS2_BASE_RC_TRY_AGAIN) {
      return StatusCode::kIoError;
    }
    return fallback;
  }
  if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER) return fallback;
  // Format-one codes carry a handle, session or parameter number in their high bits.
  const TSS2_RC base = (rc & TPM2_RC_FMT1) ? (rc & (TPM2_RC_FMT1 | 0x3f)) : (rc & 0xfff);
  switch (base) {
    case TPM2_RC_AUTH_FAIL:
    case TPM2_RC_BAD_AUTH:
    case TPM2_RC_INTEGRITY:
    case TPM2_RC_POLICY_FAIL:
      return StatusCode::kUnauthenticated;
    case TPM2_RC_LOCKOUT:
      return StatusCode::kPermissionDenied;
    case TPM2_RC_MEMORY:
    case TPM2_RC_OBJECT_MEMORY:
    case TPM2_RC_SESSION_MEMORY:
    case TPM2_RC_OBJECT_HANDLES:
    case TPM2_RC_SESSION_HANDLES:
    case TPM2_RC_CONTEXT_GAP:
      return StatusCode::kResourceExhausted;
    default:
      return fallback;
  }
}

}  // namespace

std::string HexString(const uint8_t* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[bytes[i] >> 4];
    s += kDigits[bytes[i] & 15];
  }
  return s;
}

bool ParseHex(std::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != 2 * n) return false;
  for (size_t i = 0; i < 2 * n; ++i) {
    const char c = hex[i];
    int nibble;
    if (c >= '0' && c <= '9') {
      nibble = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      nibble = c - 'a' + 10;
    } else {
      return false;
    }
    if (i % 2 == 0) {
      out[i / 2] = static_cast<uint8_t>(nibble << 4);
    } else {
      out[i / 2] = static_cast<uint8_t>(out[i / 2] | nibble);
    }
  }
  return true;
}

Status TssStatus(const char* call, TSS2_RC rc, StatusCode fallback) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%x", static_cast<unsigned>(rc));
  return Status(CodeFor(rc, fallback),
                detail::Concat(call, ": ", Tss2_RC_Decode(rc), " (rc ", hex, ")"));
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& tcti) {
  std::unique_ptr<Connection> c(new Connection());
  c->tcti_ = tcti;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &c->tcti_context_);
  if (rc != TSS2_RC_SUCCESS) {
    c->tcti_context_ = nullptr;
    return TssStatus("Tss2_TctiLdr_Initialize", rc, StatusCode::kIoError)
        .WithContext("cannot reach the TPM at '" + tcti + "'");
  }
  rc = Esys_Initialize(&c->esys_, c->tcti_context_, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    c->esys_ = nullptr;
    return TssStatus("Esys_Initialize", rc, StatusCode::kIoError)
        .WithContext("TPM at '" + tcti + "'");
  }
  rc = Esys_SetTimeout(c->esys_, kTpmTimeoutMs);
  if (rc != TSS2_RC_SUCCESS) return TssStatus("Esys_SetTimeout", rc, StatusCode::kInternal);
  return c;
}

Connection::~Connection() {
  if (esys_ != nullptr) Esys_Finalize(&esys_);
  if (tcti_context_ != nullptr) Tss2_TctiLdr_Finalize(&tcti_context_);
}

ScopedHandle& ScopedHandle::operator=(ScopedHandle&& other) noexcept {
  if (this != &other) {
    Flush();
    esys_ = other.esys_;
    handle_ = other.handle_;
    other.handle_ = ESYS_TR_NONE;
  }
  return *this;
}

void ScopedHandle::Flush() {
  // A failed flush leaves nothing to do: the TPM dropped the handle or the link is gone.
  if (handle_ != ESYS_TR_NONE && esys_ != nullptr) Esys_FlushContext(esys_, handle_);
  handle_ = ESYS_TR_NONE;
}

}  // namespace privedge::keystore::tpm2
