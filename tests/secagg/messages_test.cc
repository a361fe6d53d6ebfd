#include "secagg/messages.h"

#include <gtest/gtest.h>

#include <random>

namespace privedge::secagg {
namespace {

std::vector<Message> Samples() {
  AdvertiseKeys ad{3, "device-3", {}, {}, {}};
  ad.encryption_key[0] = 1;
  ad.mask_key[31] = 2;
  ad.signature[5] = 9;
  std::vector<Message> out;
  out.emplace_back(ad);
  out.emplace_back(NeighbourKeys{4, {ad, ad}});
  out.emplace_back(ShareKeys{3, {{1, {1, 2, 3}}, {2, std::vector<uint8_t>(128, 7)}}});
  out.emplace_back(ForwardedShares{3, {{1, {4, 5}}}});
  out.emplace_back(MaskedInput{3, 32, {1, 2, 0xffffffffu}});
  out.emplace_back(MaskedInput{3, 40, {1, uint64_t{1} << 39}});
  out.emplace_back(UnmaskRequest{3, {1, 2}, {5}});
  RevealedShare r{7, ShareKind::kMaskKey, {}};
  r.share.x = 4;
  r.share.y = {1, 2, 3, 4, kFieldPrime - 1};
  out.emplace_back(UnmaskResponse{3, {r, r}});
  out.emplace_back(AbortNotice{3, "too few survivors"});
  return out;
}

TEST(MessagesTest, RoundTrip) {
  for (const Message& m : Samples()) {
    const auto bytes = Serialize(m);
    auto back = Parse(bytes);
    ASSERT_TRUE(back.ok()) << MessageName(m) << ": " << back.status().ToString();
    EXPECT_EQ(Serialize(*back), bytes) << MessageName(m);
    EXPECT_EQ(back->index(), m.index());
  }
}

TEST(MessagesTest, RandomMutationsNeverCrashAndGiveOneLineErrors) {
  std::mt19937 rng(42);
  int rejected = 0;
  for (const Message& m : Samples()) {
    const auto good = Serialize(m);
    for (int trial = 0; trial < 2000; ++trial) {
      std::vector<uint8_t> bytes = good;
      const int kind = trial % 4;
      if (kind == 0 && !bytes.empty()) {
        bytes[rng() % bytes.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
      } else if (kind == 1) {
        bytes.resize(rng() % (bytes.size() + 1));
      } else if (kind == 2) {
        bytes.insert(bytes.begin() + rng() % (bytes.size() + 1), static_cast<uint8_t>(rng()));
      } else {
        for (int i = 0; i < 4 && bytes.size() > 9; ++i)
          bytes[5 + rng() % (bytes.size() - 5)] = 0xff;
      }
      auto parsed = Parse(bytes);
      if (!parsed.ok()) {
        ++rejected;
        EXPECT_EQ(parsed.status().message().find('\n'), std::string::npos);
        EXPECT_FALSE(parsed.status().message().empty());
      }
    }
  }
  EXPECT_GT(rejected, 1000);
}

TEST(MessagesTest, HugeCountsAreRejectedBeforeAllocation) {
  // A MaskedInput claiming 2^32-1 values in a 20-byte message.
  std::vector<uint8_t> bytes = {'P', 'S', 'A', 1, 4,    0,    0,    0,   0,
                                32,  0,   0,   0, 0xff, 0xff, 0xff, 0xff};
  auto parsed = Parse(bytes);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("masked_input.values"), std::string::npos);
  EXPECT_FALSE(Parse(std::vector<uint8_t>{}).ok());
  EXPECT_FALSE(Parse(std::vector<uint8_t>{'P', 'S', 'A', 1, 99}).ok());
}

}  // namespace
}  // namespace privedge::secagg
