// libFuzzer target: the secure store's files as it reads them back (src/protect/secure_store*):
// the silo key file and the silo log (header, record headers, torn-tail recovery, the scan for
// records after damage). Records are authenticated under a random key, so the input is not the
// files themselves but edits to a real store made at start-up (a few puts, an append, a
// delete): 4-byte operations [op, lo, hi, value] with pos = lo | hi << 8:
//   op % 4 == 0: log byte pos % size = value     1: the same in the key file
//   op % 4 == 2: log resized to pos % (size + 256) bytes (new bytes = value)   3: key file
// Each input gets a fresh copy of the edited files. When the silo opens, what was recovered
// must accept a new record that a reopened store then reads back.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "privedge/secure_store.h"
#include "testing/memory_keystore.h"

namespace {

std::string dir;
std::string key_name, log_name;
std::vector<uint8_t> key_bytes, log_bytes;
std::shared_ptr<privedge::testing::MemoryKeystore> keystore;
privedge::SecureStoreOptions options;

std::span<const uint8_t> Bytes(const char* s) {
  return {reinterpret_cast<const uint8_t*>(s), std::strlen(s)};
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return {s.begin(), s.end()};
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// Removes every file of the store directory but LOCK.
void Clear() {
  DIR* d = opendir(dir.c_str());
  if (!d) std::abort();
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != ".." && name != "LOCK") unlink((dir + "/" + name).c_str());
  }
  closedir(d);
}

void Check(const privedge::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "secure_store fuzz setup: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

void Resize(std::vector<uint8_t>& v, size_t pos, uint8_t value, size_t original) {
  v.resize(pos % (original + 256), value);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // In memory when /dev/shm is there: the store's file operations are most of the cost.
  struct stat st;
  std::string tmpl =
      stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
          ? "/dev/shm/privedge-fuzz-store-XXXXXX"
          : "/tmp/privedge-fuzz-store-XXXXXX";
  if (!mkdtemp(tmpl.data())) std::abort();
  dir = tmpl;
  keystore = std::make_shared<privedge::testing::MemoryKeystore>();
  options.sync = false;
  options.max_record_bytes = 4096;
  {
    auto store = privedge::SecureStore::Open(dir, keystore, options);
    Check(store.status(), "open");
    auto& s = **store;
    Check(s.CreateSilo("s"), "create");
    Check(s.Put("s", Bytes("k0"), Bytes("value zero")), "put");
    Check(s.Append("s", Bytes("appended")).status(), "append");
    Check(s.Put("s", Bytes("k1"), Bytes(std::string(300, 'x').c_str())), "put");
    Check(s.Delete("s", Bytes("k1")), "delete");
    Check(s.Put("s", Bytes("k0"), Bytes("value zero, again")), "put");
  }
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".key") == 0) key_name = name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0) log_name = name;
  }
  closedir(d);
  if (key_name.empty() || log_name.empty()) std::abort();
  key_bytes = ReadFile(dir + "/" + key_name);
  log_bytes = ReadFile(dir + "/" + log_name);
  std::atexit([] {
    Clear();
    unlink((dir + "/LOCK").c_str());
    rmdir(dir.c_str());
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> key = key_bytes, log = log_bytes;
  for (size_t i = 0; i + 4 <= size; i += 4) {
    const uint8_t op = data[i] % 4, value = data[i + 3];
    const size_t pos = data[i + 1] | size_t{data[i + 2]} << 8;
    std::vector<uint8_t>& file = op % 2 == 0 ? log : key;
    const size_t original = op % 2 == 0 ? log_bytes.size() : key_bytes.size();
    if (op < 2) {
      if (!file.empty()) file[pos % file.size()] = value;
    } else {
      Resize(file, pos, value, original);
    }
  }
  Clear();
  WriteFile(dir + "/" + key_name, key);
  WriteFile(dir + "/" + log_name, log);
  bool opened = false;
  {
    auto store = privedge::SecureStore::Open(dir, keystore, options);
    if (!store.ok()) return 0;
    auto& s = **store;
    (void)s.ListSilos();
    auto stats = s.Stats("s");
    if (!stats.ok()) return 0;
    (void)s.Get("s", Bytes("k0"));
    (void)s.Scan("s", [](const privedge::SecureRecord&) { return privedge::Status::OK(); });
    opened = s.Put("s", Bytes("fuzz-new"), Bytes("fresh")).ok();
  }
  if (!opened) __builtin_trap();  // a silo that opened must take a new record
  auto store = privedge::SecureStore::Open(dir, keystore, options);
  if (!store.ok()) __builtin_trap();
  auto value = (*store)->Get("s", Bytes("fuzz-new"));
  if (!value.ok() || value->size() != 5 || std::memcmp(value->data(), "fresh", 5) != 0)
    __builtin_trap();
  return 0;
}
