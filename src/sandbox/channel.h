// The two ends' shared plumbing: control messages over the socket, the mapped region.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sandbox/wire.h"

namespace privedge::sandbox {

// Sends one control message; false when the peer is gone.
bool SendMessage(int fd, const ControlMessage& message);
// Receives one control message. Returns 1 on success, 0 when the peer closed the channel,
// -1 on a malformed message or error, -2 when `timeout_ms` (>= 0) passed without one.
int ReceiveMessage(int fd, ControlMessage& message, int timeout_ms);

// A MAP_SHARED mapping of the region's memfd that can grow (mremap).
class RegionMapping {
 public:
  RegionMapping() = default;
  ~RegionMapping();
  RegionMapping(const RegionMapping&) = delete;
  RegionMapping& operator=(const RegionMapping&) = delete;

  // Maps (or remaps) `fd` to `size` bytes; the file must already be at least that large.
  Status Map(int fd, size_t size);
  void Unmap();
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  RegionHeader* header() const { return reinterpret_cast<RegionHeader*>(data_); }
  uint8_t* payload() const { return data_ + kPayloadOffset; }
  size_t payload_capacity() const { return size_ > kPayloadOffset ? size_ - kPayloadOffset : 0; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace privedge::sandbox
