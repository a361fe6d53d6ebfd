#include "privedge/secure_buffer.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace privedge {

Result<SecureBuffer> SecureBuffer::Allocate(size_t size, bool require_lock) {
  SecureBuffer buf;
  if (size == 0) return buf;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (size > SIZE_MAX - page) {
    return ResourceExhausted("secure buffer: ", size, " bytes is larger than the address space");
  }
  const size_t mapped = (size + page - 1) / page * page;
  void* p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return ResourceExhausted("secure buffer: cannot map ", size, " bytes: ", strerror(errno));
  }
  buf.data_ = static_cast<uint8_t*>(p);
  buf.size_ = size;
  buf.mapped_ = mapped;
  // Best effort: these only fail on kernels without the flags; the mapping stays usable.
  (void)madvise(p, mapped, MADV_DONTDUMP);
  (void)madvise(p, mapped, MADV_DONTFORK);
  if (mlock(p, mapped) == 0) {
    buf.locked_ = true;
  } else if (require_lock) {
    const int err = errno;
    return PermissionDenied("secure buffer: cannot lock ", size,
                            " bytes in memory (mlock: ", strerror(err),
                            "); raise RLIMIT_MEMLOCK (ulimit -l) or run with CAP_IPC_LOCK");
  }
  return buf;
}

SecureBuffer::~SecureBuffer() { Reset(); }

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      locked_(std::exchange(other.locked_, false)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

void SecureBuffer::Reset() {
  if (data_ == nullptr) return;
  explicit_bzero(data_, mapped_);
  if (locked_) (void)munlock(data_, mapped_);
  munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
  locked_ = false;
}

}  // namespace privedge
