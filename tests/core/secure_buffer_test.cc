#include "privedge/secure_buffer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace privedge {
namespace {

// The VmFlags line of the mapping that contains `p`, from /proc/self/smaps.
std::string VmFlagsOf(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  bool in_range = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    char dash = 0;
    std::istringstream is(line);
    if (line.find('-') != std::string::npos && (is >> std::hex >> lo >> dash >> hi) && dash == '-') {
      in_range = addr >= lo && addr < hi;
      continue;
    }
    if (in_range && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

TEST(SecureBufferTest, ZeroedMappedOutOfDumpsAndMovable) {
  auto buf = SecureBuffer::Allocate(100);
  ASSERT_TRUE(buf.ok()) << buf.status().ToString();
  ASSERT_EQ(buf->size(), 100u);
  for (size_t i = 0; i < buf->size(); ++i) ASSERT_EQ(buf->data()[i], 0);
  const std::string flags = VmFlagsOf(buf->data());
  EXPECT_NE(flags.find(" dd"), std::string::npos) << flags;  // MADV_DONTDUMP
#ifndef __SANITIZE_ADDRESS__  // AddressSanitizer's mlock interceptor returns 0 and locks nothing
  if (buf->locked()) {
    EXPECT_NE(flags.find(" lo"), std::string::npos) << flags;
  }
#endif
  buf->data()[7] = 42;
  SecureBuffer moved = std::move(*buf);
  EXPECT_EQ(buf->size(), 0u);
  EXPECT_EQ(moved.data()[7], 42);
  moved.Reset();
  EXPECT_TRUE(moved.empty());
}

TEST(SecureBufferTest, EmptyAllocation) {
  auto buf = SecureBuffer::Allocate(0);
  ASSERT_TRUE(buf.ok());
  EXPECT_TRUE(buf->empty());
}

TEST(SecureBufferTest, HugeSizeIsAnErrorNotACrash) {
  auto buf = SecureBuffer::Allocate(SIZE_MAX - 10);
  ASSERT_FALSE(buf.ok());
  EXPECT_EQ(buf.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace privedge
