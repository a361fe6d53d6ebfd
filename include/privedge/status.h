// Status and Result<T>: how every fallible privedge call reports failure.
//
// A Status is either OK or an error carrying a code and a one-line message that says what
// failed, where, and what was expected versus what was found. Errors are values: privedge never
// throws across its public API and never aborts on bad input.
//
// Thread-safety: Status and Result are plain values; copies are independent.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace privedge {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something malformed (a bad tensor, a wrong name)
  kInvalidModel,     // the model file or graph is malformed or inconsistent
  kNotImplemented,   // valid input that privedge does not support yet (e.g. an operator)
  kNotFound,         // a file, input or output name that does not exist
  kIoError,          // the operating system refused a read or write
  kOutOfRange,       // an index, size or count outside what is allowed
  kInternal,         // a privedge bug; please report it
  kUnauthenticated,  // a signature, MAC or AEAD tag did not verify: data altered or wrong key
  kPermissionDenied, // the key, device or policy does not allow this (e.g. another device's model)
  kResourceExhausted,// a memory, time or size budget was exceeded
  kAborted,          // a protocol or worker stopped before completing (reason in the message)
};

const char* StatusCodeName(StatusCode code);

class Status {
 public:
  // An OK status.
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // The one-line message; empty for OK.
  const std::string& message() const { return message_; }
  // "InvalidModel: <message>" or "OK".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context + ": "` (no-op when OK). Used to
  // add where an error happened as it travels up: "node 'conv1' (Conv): ...".
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

namespace detail {
template <class... Args>
std::string Concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// Convenience constructors; arguments are streamed together: InvalidArgument("got ", n).
template <class... Args>
Status InvalidArgument(const Args&... args) {
  return Status(StatusCode::kInvalidArgument, detail::Concat(args...));
}
template <class... Args>
Status InvalidModel(const Args&... args) {
  return Status(StatusCode::kInvalidModel, detail::Concat(args...));
}
template <class... Args>
Status NotImplemented(const Args&... args) {
  return Status(StatusCode::kNotImplemented, detail::Concat(args...));
}
template <class... Args>
Status NotFound(const Args&... args) {
  return Status(StatusCode::kNotFound, detail::Concat(args...));
}
template <class... Args>
Status IoError(const Args&... args) {
  return Status(StatusCode::kIoError, detail::Concat(args...));
}
template <class... Args>
Status OutOfRange(const Args&... args) {
  return Status(StatusCode::kOutOfRange, detail::Concat(args...));
}
template <class... Args>
Status Internal(const Args&... args) {
  return Status(StatusCode::kInternal, detail::Concat(args...));
}
template <class... Args>
Status Unauthenticated(const Args&... args) {
  return Status(StatusCode::kUnauthenticated, detail::Concat(args...));
}
template <class... Args>
Status PermissionDenied(const Args&... args) {
  return Status(StatusCode::kPermissionDenied, detail::Concat(args...));
}
template <class... Args>
Status ResourceExhausted(const Args&... args) {
  return Status(StatusCode::kResourceExhausted, detail::Concat(args...));
}
template <class... Args>
Status Aborted(const Args&... args) {
  return Status(StatusCode::kAborted, detail::Concat(args...));
}

// Result<T> holds either a T or a non-OK Status.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "Result built from OK");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; OK when the result holds a value.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }
  // Precondition: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace privedge

#define PE_CONCAT_INNER_(a, b) a##b
#define PE_CONCAT_(a, b) PE_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define PE_RETURN_IF_ERROR(expr)                     \
  do {                                               \
    ::privedge::Status pe_status_ = (expr);          \
    if (!pe_status_.ok()) return pe_status_;         \
  } while (0)

// `PE_ASSIGN_OR_RETURN(auto x, SomeResult())` unwraps a Result or returns its Status.
// It expands to a declaration plus statements, so under an `if` or a loop it needs braces.
#define PE_ASSIGN_OR_RETURN(lhs, expr) \
  PE_ASSIGN_OR_RETURN_IMPL_(PE_CONCAT_(pe_result_, __LINE__), lhs, expr)
#define PE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
