// Helpers shared by the secure store tests: temporary directories, file bytes, byte strings.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "privedge/secure_store.h"

namespace privedge::testing {

inline std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string Str(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// A fresh directory under /tmp, removed with everything in it at the end of the scope.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    char tmpl[] = "/tmp/privedge-store-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~ScopedTempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}
inline void WriteFileBytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// The one log file of `silo` in a store directory ("" when there is none).
inline std::filesystem::path LogOf(const std::string& dir, const std::string& silo) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(silo + ".", 0) == 0 && name.size() == silo.size() + 1 + 32 + 4 &&
        name.substr(name.size() - 4) == ".log") {
      return e.path();
    }
  }
  return {};
}

// Every live record of a silo as (key, value) strings, in order.
inline std::vector<std::pair<std::string, std::string>> AllRecords(SecureStore& store,
                                                                   const std::string& silo) {
  std::vector<std::pair<std::string, std::string>> out;
  Status st = store.Scan(silo, [&](const SecureRecord& r) {
    out.emplace_back(Str(r.key), Str(r.value));
    return Status::OK();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

}  // namespace privedge::testing
