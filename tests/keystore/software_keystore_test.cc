#include "keystore/software_keystore.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace privedge::keystore {
namespace {

class SoftwareKeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/privedge-ks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    options_.backend = "software";
    options_.dir = root_ + "/a/keys";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string root_;
  KeystoreOptions options_;
};

TEST_F(SoftwareKeystoreTest, MissingKeyIsAClearError) {
  auto ks = OpenKeystore(options_);
  ASSERT_FALSE(ks.ok());
  EXPECT_EQ(ks.status().code(), StatusCode::kNotFound);
  EXPECT_NE(ks.status().message().find("privedge keys init"), std::string::npos);
}

TEST_F(SoftwareKeystoreTest, InitCreatesPrivateFilesAndStableId) {
  options_.create_if_missing = true;
  auto ks = OpenKeystore(options_);
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_EQ((*ks)->backend(), "software");
  EXPECT_EQ((*ks)->key_id().size(), 16u);
  struct stat st;
  ASSERT_EQ(stat(options_.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((options_.dir + "/device-key.1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  options_.create_if_missing = false;
  auto again = OpenKeystore(options_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->key_id(), (*ks)->key_id());
}

TEST_F(SoftwareKeystoreTest, WrapIsBoundToDeviceContextAndBytes) {
  options_.create_if_missing = true;
  auto a = OpenKeystore(options_);
  KeystoreOptions other = options_;
  other.dir = root_ + "/b/keys";
  auto b = OpenKeystore(other);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_NE((*a)->key_id(), (*b)->key_id());
  std::vector<uint8_t> key(32);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  auto blob = (*a)->Wrap(key, "privedge-model-v1");
  ASSERT_TRUE(blob.ok());
  auto back = (*a)->Unwrap(*blob, "privedge-model-v1");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(std::vector<uint8_t>(back->data(), back->data() + back->size()), key);
  EXPECT_EQ((*a)->Unwrap(*blob, "privedge-store-v1").status().code(),
            StatusCode::kUnauthenticated);
  auto foreign = (*b)->Unwrap(*blob, "privedge-model-v1");
  ASSERT_EQ(foreign.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(foreign.status().message().find((*a)->key_id()), std::string::npos);
  EXPECT_NE(foreign.status().message().find((*b)->key_id()), std::string::npos);
  // Every single flipped bit is refused (the key id bytes give PermissionDenied).
  for (size_t byte = 0; byte < blob->size(); ++byte) {
    for (int bit = 0; bit < 8; bit += 3) {
      std::vector<uint8_t> bad = *blob;
      bad[byte] ^= static_cast<uint8_t>(1 << bit);
      EXPECT_FALSE((*a)->Unwrap(bad, "privedge-model-v1").ok()) << byte << ":" << bit;
    }
  }
  for (size_t n = 0; n < blob->size(); ++n) {
    std::vector<uint8_t> cut(blob->begin(), blob->begin() + n);
    EXPECT_FALSE((*a)->Unwrap(cut, "privedge-model-v1").ok()) << n;
  }
}

TEST_F(SoftwareKeystoreTest, PassphraseProtectsTheKeyFile) {
  options_.create_if_missing = true;
  options_.passphrase = "correct horse battery staple";
  auto ks = OpenKeystore(options_);
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  const std::vector<uint8_t> key(16, 0x5a);
  auto blob = (*ks)->Wrap(key, "ctx");
  ASSERT_TRUE(blob.ok());
  // The key file does not contain the device key in the clear: reopening without or with a
  // wrong passphrase fails.
  KeystoreOptions no_pass = options_;
  no_pass.passphrase.clear();
  EXPECT_EQ(OpenKeystore(no_pass).status().code(), StatusCode::kPermissionDenied);
  KeystoreOptions wrong = options_;
  wrong.passphrase = "Correct horse battery staple";
  auto w = OpenKeystore(wrong);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("wrong passphrase"), std::string::npos);
  auto right = OpenKeystore(options_);
  ASSERT_TRUE(right.ok());
  EXPECT_TRUE((*right)->Unwrap(*blob, "ctx").ok());
}

TEST_F(SoftwareKeystoreTest, RotateKeepsOldBlobsReadable) {
  options_.create_if_missing = true;
  auto ks = OpenKeystore(options_);
  ASSERT_TRUE(ks.ok());
  const std::string old_id = (*ks)->key_id();
  const std::vector<uint8_t> key(32, 3);
  auto old_blob = (*ks)->Wrap(key, "ctx");
  auto new_id = RotateSoftwareKey(options_);
  ASSERT_TRUE(new_id.ok()) << new_id.status().ToString();
  EXPECT_NE(*new_id, old_id);
  auto after = OpenKeystore(options_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->key_id(), *new_id);
  EXPECT_TRUE((*after)->Unwrap(*old_blob, "ctx").ok());
  auto new_blob = (*after)->Wrap(key, "ctx");
  EXPECT_EQ(std::string(new_blob->begin() + 5, new_blob->begin() + 13).size(), 8u);
  EXPECT_TRUE((*after)->Unwrap(*new_blob, "ctx").ok());
  // The old keystore instance (before rotation) does not know the new generation.
  EXPECT_EQ((*ks)->Unwrap(*new_blob, "ctx").status().code(), StatusCode::kPermissionDenied);
}

TEST_F(SoftwareKeystoreTest, CorruptKeyFileIsAClearError) {
  options_.create_if_missing = true;
  ASSERT_TRUE(OpenKeystore(options_).ok());
  {
    std::ofstream f(options_.dir + "/device-key.1", std::ios::binary | std::ios::trunc);
    f << "garbage";
  }
  options_.create_if_missing = false;
  auto ks = OpenKeystore(options_);
  ASSERT_FALSE(ks.ok());
  EXPECT_EQ(ks.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SoftwareKeystoreTest, UnknownBackendIsRejected) {
  options_.backend = "hsm";
  EXPECT_EQ(OpenKeystore(options_).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace privedge::keystore
