#include "crypto/key_agreement.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace privedge::crypto {
namespace {

std::vector<uint8_t> Hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

TEST(HkdfSha256Test, Rfc5869TestCase1) {
  const auto ikm = Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  const auto salt = Hex("000102030405060708090a0b0c");
  const auto info = Hex("f0f1f2f3f4f5f6f7f8f9");
  std::vector<uint8_t> okm(42);
  ASSERT_TRUE(HkdfSha256(ikm, salt, info, okm).ok());
  EXPECT_EQ(okm, Hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                     "34007208d5b887185865"));
}

TEST(HkdfSha256Test, RejectsEmptyAndOversizedOutput) {
  std::vector<uint8_t> none;
  EXPECT_FALSE(HkdfSha256(none, none, none, none).ok());
  std::vector<uint8_t> big(255 * 32 + 1);
  EXPECT_FALSE(HkdfSha256(none, none, none, big).ok());
}

TEST(KeyAgreementTest, BothSidesDeriveTheSameKeyAndOthersDoNot) {
  auto a = GenerateX25519KeyPair();
  auto b = GenerateX25519KeyPair();
  auto c = GenerateX25519KeyPair();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const std::vector<uint8_t> salt = {1, 2}, info = {3};
  auto ab = DeriveSharedKey(a->secret_key.span(), b->public_key, salt, info, 32);
  auto ba = DeriveSharedKey(b->secret_key.span(), a->public_key, salt, info, 32);
  auto ac = DeriveSharedKey(a->secret_key.span(), c->public_key, salt, info, 32);
  ASSERT_TRUE(ab.ok() && ba.ok() && ac.ok());
  EXPECT_TRUE(std::equal(ab->data(), ab->data() + 32, ba->data()));
  EXPECT_FALSE(std::equal(ab->data(), ab->data() + 32, ac->data()));
  auto pk = X25519PublicKeyOf(a->secret_key.span());
  ASSERT_TRUE(pk.ok());
  EXPECT_EQ(*pk, a->public_key);
}

TEST(KeyAgreementTest, RejectsLowOrderPointsAndWrongSizes) {
  auto a = GenerateX25519KeyPair();
  ASSERT_TRUE(a.ok());
  X25519PublicKey zero{};
  auto k = DeriveSharedKey(a->secret_key.span(), zero, {}, {}, 32);
  EXPECT_EQ(k.status().code(), StatusCode::kUnauthenticated);
  std::vector<uint8_t> short_key(31);
  EXPECT_EQ(DeriveSharedKey(a->secret_key.span(), short_key, {}, {}, 32).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace privedge::crypto
