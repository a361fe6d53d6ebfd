// Publisher keys: generation, the two key file formats, signing and verification.
#include "crypto/signing.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace privedge {
namespace {

namespace fs = std::filesystem;

class SigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pe_signing_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    key_ = (dir_ / "p.key").string();
    pub_ = (dir_ / "p.pub").string();
    ASSERT_TRUE(GenerateSigningKey(key_, pub_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
  }
  std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  fs::path dir_;
  std::string key_, pub_;
};

TEST_F(SigningTest, KeyFilesHaveTheDocumentedFormatAndModes) {
  struct stat st;
  ASSERT_EQ(stat(key_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string secret = ReadFile(key_), pub = ReadFile(pub_);
  EXPECT_EQ(secret.rfind("privedge-ed25519-secret-v1 ", 0), 0u);
  EXPECT_EQ(secret.size(), 27u + 128 + 1);
  EXPECT_EQ(pub.rfind("privedge-ed25519-public-v1 ", 0), 0u);
  EXPECT_EQ(pub.size(), 27u + 64 + 1);
  EXPECT_FALSE(GenerateSigningKey(key_, pub_).ok()) << "overwrote an existing key";
}

TEST_F(SigningTest, SignVerifyAndHexPublicKeys) {
  auto key = LoadSigningKey(key_);
  ASSERT_TRUE(key.ok()) << key.status().message();
  auto pub = LoadPublicKey(pub_);
  ASSERT_TRUE(pub.ok()) << pub.status().message();
  EXPECT_EQ(*pub, key->public_key());
  auto from_hex = LoadPublicKey(ToHex(*pub));
  ASSERT_TRUE(from_hex.ok());
  EXPECT_EQ(*from_hex, *pub);
  const std::vector<uint8_t> msg = {1, 2, 3, 4};
  Signature sig = key->Sign(msg);
  EXPECT_TRUE(Verify(*pub, msg, sig).ok());
  std::vector<uint8_t> altered = msg;
  altered[0] ^= 1;
  EXPECT_EQ(Verify(*pub, altered, sig).code(), StatusCode::kUnauthenticated);
  sig[10] ^= 1;
  EXPECT_EQ(Verify(*pub, msg, sig).code(), StatusCode::kUnauthenticated);
}

TEST_F(SigningTest, MalformedKeyFilesGiveOneLineErrors) {
  const std::string bad = (dir_ / "bad").string();
  for (const std::string& text :
       {std::string(""), std::string("privedge-ed25519-public-v1 zz\n"),
        ReadFile(pub_).substr(0, 50), "privedge-ed25519-secret-v1 " + std::string(128, 'g'),
        ReadFile(pub_) + "extra"}) {
    WriteFile(bad, text);
    auto k = LoadSigningKey(bad);
    auto p = LoadPublicKey(bad);
    EXPECT_FALSE(k.ok());
    EXPECT_FALSE(p.ok());
    if (!p.ok()) {
      EXPECT_EQ(p.status().message().find('\n'), std::string::npos);
    }
  }
  EXPECT_FALSE(LoadSigningKey(pub_).ok()) << "a public key file is not a secret key";
  EXPECT_FALSE(LoadPublicKey((dir_ / "missing").string()).ok());
}

}  // namespace
}  // namespace privedge
