// The TPM keystore's only file: the list of key generations in options.dir/tpm2-keys.
//
//   privedge-tpm2-keystore 1
//   <unique: 64 hex digits> <key id: 32 hex digits>     one line per generation, oldest first
//
// A generation's `unique` is the random value put in the template of its primary key; it is
// not secret (the key itself is derived inside the TPM from the owner hierarchy seed). The key
// id is recorded so that a cleared or swapped TPM is detected, and so that retired generations
// are known without deriving their keys. The last line is the current generation.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "privedge/status.h"

namespace privedge::keystore::tpm2 {

struct Generation {
  std::array<uint8_t, 32> unique{};
  std::string key_id;  // 32 lowercase hex digits
};

// Path of the generation file in `dir`.
std::string GenerationsPath(const std::string& dir);

// Reads and strictly checks the file. Errors: missing (NotFound), unreadable (IoError),
// malformed (InvalidArgument naming the line).
Result<std::vector<Generation>> ReadGenerations(const std::string& path);

// Replaces the file atomically (temporary file, fsync, rename, fsync of the directory).
Status WriteGenerations(const std::string& path, const std::vector<Generation>& generations);

// An exclusive advisory lock on `dir` for read-modify-write of the file (create, rotate),
// released on destruction.
class DirLock {
 public:
  static Result<DirLock> Acquire(const std::string& dir);
  ~DirLock();
  DirLock(DirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirLock& operator=(DirLock&&) = delete;
  DirLock(const DirLock&) = delete;

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace privedge::keystore::tpm2
