// SecureBuffer: memory for secrets and decrypted private bytes (keys, decrypted model weights,
// decrypted local records).
//
//   PE_ASSIGN_OR_RETURN(privedge::SecureBuffer key, privedge::SecureBuffer::Allocate(32));
//   randombytes_buf(key.data(), key.size());
//
// The bytes live in their own anonymous page-aligned mapping that is
//   - locked in RAM (mlock) so it is never written to swap, when the OS allows it
//     (RLIMIT_MEMLOCK); locked() says whether it is,
//   - excluded from core dumps (MADV_DONTDUMP) and not inherited by fork()ed children
//     (MADV_DONTFORK),
//   - zero-filled when allocated and wiped (explicit_bzero) before it is unmapped.
// Allocate(size, /*require_lock=*/true) fails instead of returning unlocked memory.
//
// Thread-safety: a SecureBuffer is a move-only value; share it read-only between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "privedge/status.h"

namespace privedge {

class SecureBuffer {
 public:
  SecureBuffer() = default;
  // Allocates `size` zeroed bytes (size 0 gives an empty buffer). Errors: the mapping fails
  // (ResourceExhausted), or `require_lock` and mlock is refused (PermissionDenied, naming
  // RLIMIT_MEMLOCK and the size).
  static Result<SecureBuffer> Allocate(size_t size, bool require_lock = false);
  ~SecureBuffer();
  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool locked() const { return locked_; }
  std::span<uint8_t> span() { return {data_, size_}; }
  std::span<const uint8_t> span() const { return {data_, size_}; }

  // Wipes, unlocks and unmaps now; the buffer becomes empty.
  void Reset();

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
  bool locked_ = false;
};

}  // namespace privedge
