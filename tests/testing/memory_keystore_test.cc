#include "testing/memory_keystore.h"

#include <gtest/gtest.h>

namespace privedge::testing {
namespace {

TEST(MemoryKeystoreTest, RoundTripAndDeviceBinding) {
  MemoryKeystore a, b;
  const std::vector<uint8_t> key(32, 7);
  auto blob = a.Wrap(key, "ctx");
  ASSERT_TRUE(blob.ok());
  auto back = a.Unwrap(*blob, "ctx");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(std::vector<uint8_t>(back->data(), back->data() + back->size()), key);
  EXPECT_EQ(a.Unwrap(*blob, "other").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(b.Unwrap(*blob, "ctx").status().code(), StatusCode::kPermissionDenied);
  (*blob)[40] ^= 1;
  EXPECT_EQ(a.Unwrap(*blob, "ctx").status().code(), StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace privedge::testing
