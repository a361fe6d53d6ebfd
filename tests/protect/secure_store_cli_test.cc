// privedge store: the command line over the secure store (runs the real binary).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "protect/secure_store_test_util.h"

namespace privedge::testing {
namespace {

struct Output {
  int code;
  std::string text;  // stdout and stderr
};

Output Sh(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  Output out{-1, ""};
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.text.append(buf, n);
  const int status = pclose(p);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(SecureStoreCliTest, PutGetCountListDelete) {
  ScopedTempDir tmp;
  const std::string bin = std::string(PRIVEDGE_BINARY_DIR) + "/privedge";
  const std::string store = bin + " store --keystore-dir " + tmp.path() + "/keys ";
  const std::string dir = tmp.path() + "/store";
  const std::string input = tmp.path() + "/input.bin";
  std::ofstream(input) << "CLI-PLAINTEXT-MARKER record body";

  Output o = Sh(store + "put " + dir + " notes " + input);
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_EQ(o.text, "appended record 0 to silo notes\n");
  o = Sh("printf 'hello' | " + store + "put " + dir + " notes - --key greet");
  ASSERT_EQ(o.code, 0) << o.text;
  o = Sh(store + "get " + dir + " notes --key greet");
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.text, "hello");
  o = Sh(store + "get " + dir + " notes --seq 0 --out " + tmp.path() + "/out.bin");
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_EQ(ReadFileBytes(tmp.path() + "/out.bin"), ReadFileBytes(input));
  o = Sh(store + "count " + dir + " notes");
  EXPECT_EQ(o.text, "2\n");
  o = Sh(store + "list " + dir);
  EXPECT_EQ(o.code, 0);
  EXPECT_NE(o.text.find("notes"), std::string::npos) << o.text;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::vector<uint8_t> bytes = ReadFileBytes(e.path());
    EXPECT_EQ(std::string(bytes.begin(), bytes.end()).find("CLI-PLAINTEXT-MARKER"),
              std::string::npos)
        << e.path();
  }

  o = Sh(store + "delete-silo " + dir + " notes");
  EXPECT_EQ(o.code, 0) << o.text;
  o = Sh(store + "count " + dir + " notes");
  EXPECT_EQ(o.code, 1);
  EXPECT_EQ(o.text, "privedge store: silo 'notes' does not exist\n");
}

TEST(SecureStoreCliTest, BadUsageIsAOneLineError) {
  ScopedTempDir tmp;
  const std::string store =
      std::string(PRIVEDGE_BINARY_DIR) + "/privedge store --keystore-dir " + tmp.path() + "/keys ";
  for (const std::string& args :
       {std::string("frob x"), std::string("get ") + tmp.path() + " s",
        std::string("count ") + tmp.path() + "/none s", std::string("put ") + tmp.path(),
        std::string("put ") + tmp.path() + "/s bad.name " + tmp.path() + "/missing"}) {
    const Output o = Sh(store + args);
    EXPECT_EQ(o.code, 1) << args << ": " << o.text;
    EXPECT_EQ(std::count(o.text.begin(), o.text.end(), '\n'), 1) << args << ": " << o.text;
    EXPECT_EQ(o.text.rfind("privedge store: ", 0), 0u) << args << ": " << o.text;
  }
  EXPECT_EQ(Sh(store + "--help").code, 0);
}

}  // namespace
}  // namespace privedge::testing
