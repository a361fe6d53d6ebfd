#include "crypto/prg.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

namespace privedge::crypto {
namespace {

TEST(PrgTest, IsAes256CtrFromZeroCounter) {
  // AES-256 of the all-zero block under the all-zero key (FIPS-197 style known answer).
  std::array<uint8_t, 32> seed{};
  std::array<uint8_t, 16> block{};
  ASSERT_TRUE(PrgBytes(seed, block).ok());
  const std::array<uint8_t, 16> expected = {0xdc, 0x95, 0xc0, 0x78, 0xa2, 0x40, 0x89, 0x89,
                                            0xad, 0x48, 0xa2, 0x14, 0x92, 0x84, 0x20, 0x87};
  EXPECT_EQ(block, expected);
}

TEST(PrgTest, MaskWordsAreTheKeystreamAndSubtractUndoesAdd) {
  std::array<uint8_t, 32> seed{};
  seed[0] = 7;
  std::vector<uint8_t> stream(8 * 5000);
  ASSERT_TRUE(PrgBytes(seed, stream).ok());
  for (uint32_t bits : {16u, 32u, 40u, 64u}) {
    std::vector<uint64_t> acc(5000, 3);
    ASSERT_TRUE(AddPrgMask(seed, bits, false, acc).ok());
    for (size_t i : {size_t{0}, size_t{1}, size_t{4095}, size_t{4999}}) {
      uint64_t w = 0;
      std::memcpy(&w, stream.data() + i * (bits <= 32 ? 4 : 8), bits <= 32 ? 4 : 8);
      EXPECT_EQ(acc[i], 3 + w) << "bits " << bits << " index " << i;
    }
    ASSERT_TRUE(AddPrgMask(seed, bits, true, acc).ok());
    EXPECT_EQ(acc, std::vector<uint64_t>(5000, 3));
  }
}

TEST(PrgTest, DifferentSeedsGiveDifferentStreamsAndBadArgumentsFail) {
  std::array<uint8_t, 32> a{}, b{};
  b[31] = 1;
  std::vector<uint64_t> x(64), y(64);
  ASSERT_TRUE(AddPrgMask(a, 64, false, x).ok());
  ASSERT_TRUE(AddPrgMask(b, 64, false, y).ok());
  EXPECT_NE(x, y);
  std::array<uint8_t, 16> short_seed{};
  EXPECT_FALSE(AddPrgMask(short_seed, 32, false, x).ok());
  EXPECT_FALSE(AddPrgMask(a, 0, false, x).ok());
  EXPECT_FALSE(AddPrgMask(a, 65, false, x).ok());
}

}  // namespace
}  // namespace privedge::crypto
