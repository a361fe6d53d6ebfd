// Small helpers over tss2-esys for the TPM 2.0 keystore: TSS return codes as Status, an owned
// ESYS connection, and handles that are flushed from the TPM on every path.
#pragma once

#include <tss2/tss2_esys.h>

#include <memory>
#include <string>
#include <string_view>

#include "privedge/status.h"

namespace privedge::keystore::tpm2 {

// Lowercase hex of `n` bytes.
std::string HexString(const uint8_t* bytes, size_t n);

// Parses exactly 2*n lowercase hex digits into `out`; false when `hex` is anything else.
bool ParseHex(std::string_view hex, uint8_t* out, size_t n);

// One line for a failed TSS call: "<call>: <Tss2_RC_Decode text> (rc 0x...)". The code follows
// the RC: TCTI failures are IoError, authorization and integrity failures Unauthenticated, DA
// lockout PermissionDenied, full TPM memory ResourceExhausted; anything else is `fallback`.
Status TssStatus(const char* call, TSS2_RC rc, StatusCode fallback);

// An ESYS context over a TCTI chosen by a tctildr configuration string such as
// "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321". Not thread-safe.
class Connection {
 public:
  // Errors: the TCTI cannot be loaded or the TPM cannot be reached (IoError naming `tcti`).
  static Result<std::unique_ptr<Connection>> Open(const std::string& tcti);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  ESYS_CONTEXT* esys() const { return esys_; }
  const std::string& tcti() const { return tcti_; }

 private:
  Connection() = default;
  std::string tcti_;
  TSS2_TCTI_CONTEXT* tcti_context_ = nullptr;
  ESYS_CONTEXT* esys_ = nullptr;
};

// A transient object or session that is flushed from the TPM when this goes out of scope.
class ScopedHandle {
 public:
  ScopedHandle() = default;
  ScopedHandle(ESYS_CONTEXT* esys, ESYS_TR handle) : esys_(esys), handle_(handle) {}
  ~ScopedHandle() { Flush(); }
  ScopedHandle(ScopedHandle&& other) noexcept { *this = std::move(other); }
  ScopedHandle& operator=(ScopedHandle&& other) noexcept;
  ScopedHandle(const ScopedHandle&) = delete;
  ScopedHandle& operator=(const ScopedHandle&) = delete;

  ESYS_TR get() const { return handle_; }
  void Flush();

 private:
  ESYS_CONTEXT* esys_ = nullptr;
  ESYS_TR handle_ = ESYS_TR_NONE;
};

// Frees memory that ESYS returned (Esys_Free) at scope exit.
template <class T>
struct EsysDeleter {
  void operator()(T* p) const { Esys_Free(p); }
};
template <class T>
using EsysPtr = std::unique_ptr<T, EsysDeleter<T>>;

}  // namespace privedge::keystore::tpm2
