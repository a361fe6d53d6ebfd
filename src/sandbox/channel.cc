#include "sandbox/channel.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace privedge::sandbox {

bool SendMessage(int fd, const ControlMessage& message) {
  ssize_t n;
  do {
    n = send(fd, &message, sizeof(message), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof(message));
}

int ReceiveMessage(int fd, ControlMessage& message, int timeout_ms) {
  if (timeout_ms >= 0) {
    pollfd p{fd, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return -2;
    if (r < 0) return -1;
  }
  ssize_t n;
  do {
    n = recv(fd, &message, sizeof(message), 0);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return 0;
  if (n < 0) return errno == ECONNRESET ? 0 : -1;
  if (n != static_cast<ssize_t>(sizeof(message)) || message.magic != ControlMessage::kMagic)
    return -1;
  return 1;
}

RegionMapping::~RegionMapping() { Unmap(); }

Status RegionMapping::Map(int fd, size_t size) {
  if (size == size_) return Status::OK();
  void* p = data_ ? mremap(data_, size_, size, MREMAP_MAYMOVE)
                  : mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return Status(
        StatusCode::kResourceExhausted,
        "cannot map " + std::to_string(size) + " bytes of shared memory: " + std::strerror(errno));
  data_ = static_cast<uint8_t*>(p);
  size_ = size;
  return Status::OK();
}

void RegionMapping::Unmap() {
  if (data_) munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace privedge::sandbox
