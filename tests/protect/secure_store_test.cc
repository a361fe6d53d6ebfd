#include "privedge/secure_store.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "protect/secure_store.h"
#include "protect/secure_store_test_util.h"
#include "testing/memory_keystore.h"

namespace privedge::testing {
namespace {

namespace fs = std::filesystem;

class SecureStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keystore_ = std::make_shared<MemoryKeystore>();
    dir_ = tmp_.path() + "/store";
  }
  std::unique_ptr<SecureStore> OpenStore(bool create = true) {
    SecureStoreOptions options;
    options.create_if_missing = create;
    auto store = SecureStore::Open(dir_, keystore_, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  ScopedTempDir tmp_;
  std::shared_ptr<MemoryKeystore> keystore_;
  std::string dir_;
};

TEST_F(SecureStoreTest, AppendPutGetDeleteSurviveReopen) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->CreateSilo("keyboard").ok());
    ASSERT_TRUE(store->CreateSilo("health").ok());
    EXPECT_EQ(*store->Append("keyboard", Bytes("first")), 0u);
    EXPECT_EQ(*store->Append("keyboard", Bytes("")), 1u);
    ASSERT_TRUE(store->Put("keyboard", Bytes("k1"), Bytes("v1")).ok());
    ASSERT_TRUE(store->Put("keyboard", Bytes("k2"), Bytes("v2")).ok());
    ASSERT_TRUE(store->Put("keyboard", Bytes("k1"), Bytes("v1-new")).ok());
    ASSERT_TRUE(store->Delete("keyboard", Bytes("k2")).ok());
    ASSERT_TRUE(store->Put("health", Bytes("hr"), Bytes("61")).ok());
    EXPECT_EQ(*store->Count("keyboard"), 3u);
  }
  auto store = OpenStore(false);
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->ListSilos(), (std::vector<std::string>{"health", "keyboard"}));
  using KV = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(AllRecords(*store, "keyboard"), (KV{{"", "first"}, {"", ""}, {"k1", "v1-new"}}));
  EXPECT_EQ(Str(store->Get("keyboard", Bytes("k1"))->span()), "v1-new");
  EXPECT_EQ(store->Get("keyboard", Bytes("k2")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Delete("keyboard", Bytes("k2")).code(), StatusCode::kNotFound);
  EXPECT_EQ(Str(store->Get("health", Bytes("hr"))->span()), "61");
  const SiloStats stats = *store->Stats("keyboard");
  EXPECT_EQ(stats.live_records, 3u);
  EXPECT_EQ(stats.log_records, 6u);
  EXPECT_EQ(stats.recovered_tail_bytes, 0u);
  EXPECT_EQ(stats.log_bytes, fs::file_size(LogOf(dir_, "keyboard")));
  // Scan hands out the position of each record and stops at the visitor's error.
  std::vector<uint64_t> seqs;
  Status st = store->Scan("keyboard", [&](const SecureRecord& r) {
    seqs.push_back(r.seq);
    return seqs.size() == 2 ? Aborted("enough") : Status::OK();
  });
  EXPECT_EQ(st.code(), StatusCode::kAborted);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{0, 1}));
}

TEST_F(SecureStoreTest, BadInputsAreClearErrors) {
  SecureStoreOptions no_create;
  EXPECT_EQ(SecureStore::Open(dir_, keystore_, no_create).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(SecureStore::Open(dir_, nullptr, no_create).status().code(),
            StatusCode::kInvalidArgument);
  auto store = OpenStore();
  ASSERT_TRUE(store);
  // One SecureStore per directory, also across processes (flock).
  auto second = SecureStore::Open(dir_, keystore_);
  EXPECT_EQ(second.status().code(), StatusCode::kIoError);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  for (const char* bad : {"", "../x", "a.b", "a/b", "with space"}) {
    EXPECT_EQ(store->CreateSilo(bad).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store->CreateSilo(std::string(65, 'a')).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->CreateSilo("s").ok());
  EXPECT_EQ(store->CreateSilo("s").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Append("nope", Bytes("x")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->DeleteSilo("nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(store->Put("s", Bytes(""), Bytes("x")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Put("s", Bytes(std::string(64 * 1024 + 1, 'k')), Bytes("x")).code(),
            StatusCode::kInvalidArgument);
  store.reset();
  SecureStoreOptions small;
  small.max_record_bytes = 16;
  auto limited = SecureStore::Open(dir_, keystore_, small);
  ASSERT_TRUE(limited.ok());
  EXPECT_TRUE((*limited)->Append("s", Bytes(std::string(16, 'v'))).ok());
  EXPECT_EQ((*limited)->Append("s", Bytes(std::string(17, 'v'))).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*limited)->Put("s", Bytes("k"), Bytes(std::string(16, 'v'))).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(*(*limited)->Count("s"), 1u);
}

TEST_F(SecureStoreTest, AnotherDeviceCannotOpenSilos) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->CreateSilo("s").ok());
    ASSERT_TRUE(store->Append("s", Bytes("x")).ok());
  }
  auto other = SecureStore::Open(dir_, std::make_shared<MemoryKeystore>());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->Count("s").status().code(), StatusCode::kPermissionDenied);
}

TEST_F(SecureStoreTest, KeyFileMovedToAnotherSiloFailsToUnwrap) {
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->CreateSilo("a").ok());
    ASSERT_TRUE(store->CreateSilo("b").ok());
  }
  fs::copy_file(dir_ + "/a.key", dir_ + "/b.key", fs::copy_options::overwrite_existing);
  auto store = OpenStore(false);
  EXPECT_EQ(store->Count("b").status().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(store->Count("a").ok());
}

// Damage before the tail is reported with the record and offset, never skipped.
TEST_F(SecureStoreTest, DamagedOrReorderedRecordsAreReported) {
  const size_t record = protect::RecordDiskBytes(0, 10);
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->CreateSilo("s").ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(store->Append("s", Bytes("record-00" + std::to_string(i))).ok());
    }
  }
  const fs::path log = LogOf(dir_, "s");
  const std::vector<uint8_t> good = ReadFileBytes(log);
  ASSERT_EQ(good.size(), protect::kLogHeaderBytes + 5 * record);
  const size_t r2 = protect::kLogHeaderBytes + 2 * record;
  struct Case {
    const char* what;
    std::function<void(std::vector<uint8_t>&)> damage;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"ciphertext bit", [&](auto& b) { b[r2 + protect::kRecordHeaderBytes + 3] ^= 1; },
       "record 2 at offset " + std::to_string(r2)},
      {"nonce bit", [&](auto& b) { b[r2 + 9] ^= 0x80; }, "record 2 at offset"},
      {"length", [&](auto& b) { b[r2] ^= 1; }, "record 2 at offset " + std::to_string(r2)},
      {"swapped records",
       [&](auto& b) {
         std::swap_ranges(b.begin() + r2, b.begin() + r2 + record, b.begin() + r2 + record);
       },
       "record 2 at offset"},
      {"log header", [&](auto& b) { b[12] ^= 1; }, "another silo"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> bytes = good;
    c.damage(bytes);
    WriteFileBytes(log, bytes);
    auto store = OpenStore(false);
    auto count = store->Count("s");
    ASSERT_FALSE(count.ok()) << c.what;
    EXPECT_EQ(count.status().code(), StatusCode::kUnauthenticated) << c.what;
    EXPECT_NE(count.status().message().find(c.expect), std::string::npos)
        << c.what << ": " << count.status().message();
    EXPECT_EQ(fs::file_size(log), bytes.size()) << c.what << ": the log must not be cut";
  }
  // A record replaced by a copy of one from another position does not authenticate either,
  // and a record changed after the silo was opened is caught when it is read.
  WriteFileBytes(log, good);
  auto store = OpenStore(false);
  ASSERT_EQ(*store->Count("s"), 5u);
  std::vector<uint8_t> bytes = good;
  bytes[r2 + protect::kRecordHeaderBytes] ^= 1;
  WriteFileBytes(log, bytes);
  Status st = store->Scan("s", [](const SecureRecord&) { return Status::OK(); });
  EXPECT_EQ(st.code(), StatusCode::kUnauthenticated);
}

// Decrypts the first record of a log copy with a candidate silo key, following the format in
// docs/secure-store.md independently of the implementation.
bool DecryptsFirstRecord(const std::vector<uint8_t>& log, const uint8_t* silo_key) {
  const size_t pos = protect::kLogHeaderBytes;
  if (log.size() < pos + protect::kRecordHeaderBytes) return false;
  uint32_t len;
  std::memcpy(&len, log.data() + pos, 4);
  if (log.size() < pos + protect::kRecordHeaderBytes + len + 16) return false;
  uint8_t key[32];
  crypto_kdf_derive_from_key(key, sizeof key, 1, "PEsilorc", silo_key);
  uint8_t ad[44] = {};
  std::memcpy(ad, log.data() + 8, 32);  // silo id, epoch; then seq 0, length
  std::memcpy(ad + 40, &len, 4);
  std::vector<uint8_t> plain(len);
  return crypto_aead_xchacha20poly1305_ietf_decrypt(
             plain.data(), nullptr, nullptr, log.data() + pos + protect::kRecordHeaderBytes,
             len + 16, ad, sizeof ad, log.data() + pos + 8, key) == 0;
}

// Tries every 32-byte window of every file under `root` as the silo key.
bool AnyFileHoldsTheKey(const std::string& root, const std::vector<uint8_t>& log) {
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const std::vector<uint8_t> bytes = ReadFileBytes(e.path());
    for (size_t i = 0; i + 32 <= bytes.size(); ++i) {
      if (DecryptsFirstRecord(log, bytes.data() + i)) return true;
    }
  }
  return false;
}

SecureBuffer UnwrapSiloKey(Keystore& ks, const std::string& dir, const std::string& silo) {
  const std::vector<uint8_t> file = ReadFileBytes(dir + "/" + silo + ".key");
  char id[33], epoch[33];
  sodium_bin2hex(id, sizeof id, file.data() + 8, 16);
  sodium_bin2hex(epoch, sizeof epoch, file.data() + 24, 16);
  const std::string context = "privedge-silo-v1:" + silo + ":" + id + ":" + epoch;
  auto key = ks.Unwrap(std::span(file).subspan(44), context);
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return key.ok() ? std::move(key).value() : SecureBuffer();
}

TEST_F(SecureStoreTest, DeleteSiloShredsTheKeySoACopiedLogIsUseless) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateSilo("health").ok());
  ASSERT_TRUE(store->CreateSilo("other").ok());
  ASSERT_TRUE(store->Append("health", Bytes("blood pressure 120/80")).ok());
  ASSERT_TRUE(store->Append("other", Bytes("kept")).ok());
  const fs::path log = LogOf(dir_, "health");
  const std::vector<uint8_t> copy = ReadFileBytes(log);
  // Control: the key the keystore unwraps from the key file does decrypt the copy.
  SecureBuffer key = UnwrapSiloKey(*keystore_, dir_, "health");
  ASSERT_EQ(key.size(), 32u);
  ASSERT_TRUE(DecryptsFirstRecord(copy, key.data()));
  key.Reset();

  ASSERT_TRUE(store->DeleteSilo("health").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/health.key"));
  EXPECT_FALSE(fs::exists(log));
  EXPECT_EQ(*store->ListSilos(), std::vector<std::string>{"other"});
  EXPECT_EQ(store->Count("health").status().code(), StatusCode::kNotFound);
  // Nothing left in the store decrypts the copy, and a restored copy is not taken back.
  EXPECT_FALSE(AnyFileHoldsTheKey(dir_, copy));
  store.reset();
  WriteFileBytes(log, copy);
  store = OpenStore(false);
  EXPECT_FALSE(fs::exists(log)) << "an orphaned log is removed at open";
  EXPECT_EQ(*store->ListSilos(), std::vector<std::string>{"other"});
  EXPECT_EQ(AllRecords(*store, "other").at(0).second, "kept");
  // A silo created again under the same name has a new key: the old log does not open in it.
  ASSERT_TRUE(store->CreateSilo("health").ok());
  store.reset();
  WriteFileBytes(LogOf(dir_, "health"), copy);
  store = OpenStore(false);
  EXPECT_EQ(store->Count("health").status().code(), StatusCode::kUnauthenticated);
}

TEST_F(SecureStoreTest, CompactDropsDeadRecordsAndRekeys) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateSilo("s").ok());
  ASSERT_TRUE(store->Put("s", Bytes("pin"), Bytes("secret-old-value")).ok());
  ASSERT_TRUE(store->Append("s", Bytes("example-1")).ok());
  ASSERT_TRUE(store->Put("s", Bytes("pin"), Bytes("new")).ok());
  ASSERT_TRUE(store->Put("s", Bytes("gone"), Bytes("x")).ok());
  ASSERT_TRUE(store->Delete("s", Bytes("gone")).ok());
  const fs::path old_log = LogOf(dir_, "s");
  const std::vector<uint8_t> old_copy = ReadFileBytes(old_log);
  fs::create_directory(tmp_.path() + "/before");
  for (const auto& e : fs::directory_iterator(dir_)) {
    fs::copy_file(e.path(), tmp_.path() + "/before/" + e.path().filename().string());
  }

  ASSERT_TRUE(store->Compact("s").ok());
  const fs::path new_log = LogOf(dir_, "s");
  EXPECT_NE(new_log, old_log);
  EXPECT_FALSE(fs::exists(old_log));
  using KV = std::vector<std::pair<std::string, std::string>>;
  const KV expected = {{"", "example-1"}, {"pin", "new"}};
  EXPECT_EQ(AllRecords(*store, "s"), expected);
  const SiloStats stats = *store->Stats("s");
  EXPECT_EQ(stats.log_records, 2u);
  EXPECT_EQ(stats.log_bytes, protect::kLogHeaderBytes + protect::RecordDiskBytes(0, 9) +
                                 protect::RecordDiskBytes(3, 3));
  EXPECT_FALSE(AnyFileHoldsTheKey(dir_, old_copy)) << "the old key must be destroyed";
  ASSERT_TRUE(store->Append("s", Bytes("after")).ok());
  store.reset();
  store = OpenStore(false);
  EXPECT_EQ(*store->Count("s"), 3u);
  store.reset();

  // A crash before the key switch: the old key, the old log and an orphaned new log.
  const std::string before = tmp_.path() + "/before";
  fs::copy_file(new_log, before + "/" + new_log.filename().string());
  {
    auto crashed = SecureStore::Open(before, keystore_);
    ASSERT_TRUE(crashed.ok());
    EXPECT_FALSE(fs::exists(before + "/" + new_log.filename().string()));
    EXPECT_EQ(*(*crashed)->Count("s"), 2u);
    EXPECT_EQ(Str((*crashed)->Get("s", Bytes("pin"))->span()), "new");
  }
  // A crash after the switch, before the old key was shredded.
  fs::copy_file(before + "/s.key", dir_ + "/s.key.old");
  store = OpenStore(false);
  EXPECT_FALSE(fs::exists(dir_ + "/s.key.old"));
  EXPECT_EQ(*store->Count("s"), 3u);
}

TEST_F(SecureStoreTest, NoPlaintextReachesTheDisk) {
  ScopedTempDir tmpdir;
  const char* saved = getenv("TMPDIR");
  const std::string saved_tmpdir = saved ? saved : "";
  setenv("TMPDIR", tmpdir.path().c_str(), 1);
  uint8_t rnd[8];
  randombytes_buf(rnd, sizeof rnd);
  char hex[17];
  sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
  const std::string marker = std::string("PLAINTEXT-MARKER-") + hex;
  {
    auto store = OpenStore();
    for (const char* silo : {"keyboard", "health"}) {
      ASSERT_TRUE(store->CreateSilo(silo).ok());
      for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(store->Append(silo, Bytes(marker + " value " + std::to_string(i))).ok());
        ASSERT_TRUE(store
                        ->Put(silo, Bytes(marker + "key" + std::to_string(i % 3)),
                              Bytes(marker + " keyed " + std::to_string(i)))
                        .ok());
      }
      ASSERT_TRUE(store->Delete(silo, Bytes(marker + "key1")).ok());
    }
    ASSERT_TRUE(store->Compact("keyboard").ok());
    ASSERT_TRUE(store->Append("keyboard", Bytes(marker)).ok());
    ASSERT_TRUE(store->DeleteSilo("health").ok());
    EXPECT_EQ(*store->Count("keyboard"), 23u);  // still readable: the marker is really stored
  }
  if (saved) {
    setenv("TMPDIR", saved_tmpdir.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
  size_t files = 0;
  for (const std::string& root : {dir_, tmpdir.path()}) {
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (!e.is_regular_file()) continue;
      ++files;
      const std::vector<uint8_t> bytes = ReadFileBytes(e.path());
      const std::string text(bytes.begin(), bytes.end());
      EXPECT_EQ(text.find("PLAINTEXT-MARKER"), std::string::npos) << e.path();
      EXPECT_EQ(text.find(hex), std::string::npos) << e.path();
    }
  }
  EXPECT_GE(files, 3u);  // LOCK, keyboard.key, keyboard log
}

TEST_F(SecureStoreTest, ConcurrentWritersAndReaders) {
  auto store = OpenStore();
  ASSERT_TRUE(store->CreateSilo("a").ok());
  ASSERT_TRUE(store->CreateSilo("b").ok());
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string silo = t % 2 ? "a" : "b";
      for (int i = 0; i < 25; ++i) {
        const std::string value = std::to_string(t * 1000 + i);
        if (!store->Append(silo, Bytes(value)).ok()) ++errors;
        if (!store->Count(silo).ok()) ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(*store->Count("a"), 50u);
  EXPECT_EQ(*store->Count("b"), 50u);
}

}  // namespace
}  // namespace privedge::testing
