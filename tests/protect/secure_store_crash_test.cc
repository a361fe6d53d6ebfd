// Crash safety of the secure store: writers killed with SIGKILL at random moments (real
// processes), and logs cut at every byte of their last record.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>
#include <tuple>

#include "privedge/keystore.h"
#include "privedge/secure_store.h"
#include "protect/secure_store.h"
#include "protect/secure_store_test_util.h"
#include "testing/memory_keystore.h"

namespace privedge::testing {
namespace {

namespace fs = std::filesystem;

// Record i: distinctive content, sizes from a few bytes to about 3 KiB so kills land at varied
// points (some records span page boundaries); every 16th is 256 KiB, so that a kill can land
// inside its write.
std::string RecordValue(uint64_t i) {
  std::string v = "rec-" + std::to_string(i) + ":";
  v.resize(v.size() + (i % 16 == 15 ? 256 * 1024 : (i * 373) % 3000),
           static_cast<char>('a' + i % 26));
  return v;
}

std::shared_ptr<Keystore> SoftwareKeystore(const std::string& dir) {
  KeystoreOptions options;
  options.backend = "software";
  options.dir = dir;
  options.create_if_missing = true;
  auto ks = OpenKeystore(options);
  return ks.ok() ? std::shared_ptr<Keystore>(std::move(ks).value()) : nullptr;
}

// The child: appends records first, first + 1, ... and reports each one on `report` only
// after Append returned (the record is committed).
[[noreturn]] void AppendUntilKilled(const std::string& ks_dir, const std::string& dir,
                                    uint64_t first, bool sync, int report) {
  std::shared_ptr<Keystore> ks = SoftwareKeystore(ks_dir);
  if (!ks) _exit(2);
  SecureStoreOptions options;
  options.sync = sync;
  auto store = SecureStore::Open(dir, ks, options);
  if (!store.ok()) _exit(3);
  for (uint64_t i = first;; ++i) {
    if (!(*store)->Append("log", Bytes(RecordValue(i))).ok()) _exit(4);
    if (write(report, &i, sizeof i) != sizeof i) _exit(5);
  }
}

TEST(SecureStoreCrashTest, KilledWritersNeverLoseCommittedRecords) {
  ScopedTempDir tmp;
  const std::string ks_dir = tmp.path() + "/keys";
  const std::string dir = tmp.path() + "/store";
  {
    std::shared_ptr<Keystore> ks = SoftwareKeystore(ks_dir);
    ASSERT_TRUE(ks);
    SecureStoreOptions options;
    options.create_if_missing = true;
    auto store = SecureStore::Open(dir, ks, options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->CreateSilo("log").ok());
  }
  std::mt19937 rng(20261125);
  uint64_t records = 0;
  uint64_t torn_rounds = 0;
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const bool sync = round % 2 == 0;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      AppendUntilKilled(ks_dir, dir, records, sync, fds[1]);
    }
    close(fds[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 40000));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "round " << round << ": the writer stopped by itself, status " << wstatus;
    uint64_t committed = records;  // one past the last record the child reported
    uint64_t index;
    while (read(fds[0], &index, sizeof index) == sizeof index) {
      ASSERT_EQ(index, committed) << "round " << round;
      ++committed;
    }
    close(fds[0]);

    auto store = SecureStore::Open(dir, SoftwareKeystore(ks_dir));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    const auto all = AllRecords(**store, "log");
    // Every reported record is there; at most one more (committed, killed before reporting).
    ASSERT_GE(all.size(), committed) << "round " << round;
    ASSERT_LE(all.size(), committed + 1) << "round " << round;
    for (uint64_t i = 0; i < all.size(); ++i) {
      ASSERT_EQ(all[i].second, RecordValue(i)) << "round " << round << " record " << i;
    }
    if ((*store)->Stats("log")->recovered_tail_bytes > 0) ++torn_rounds;
    records = all.size();
  }
  auto store = SecureStore::Open(dir, SoftwareKeystore(ks_dir));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Append("log", Bytes(RecordValue(records))).ok());
  EXPECT_EQ(*(*store)->Count("log"), records + 1);
  EXPECT_GT(records, 0u);
  std::cout << "[ info ] " << kRounds << " writers killed, " << records
            << " records committed, torn tails cut in " << torn_rounds << " rounds\n";
}

class TornLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/store";
    SecureStoreOptions options;
    options.create_if_missing = true;
    auto store = SecureStore::Open(dir_, keystore_, options);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->CreateSilo("s").ok());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE((*store)->Append("s", Bytes(RecordValue(i))).ok());
    ASSERT_TRUE((*store)->Put("s", Bytes("last"), Bytes("the record that gets torn")).ok());
    log_ = LogOf(dir_, "s");
    good_ = ReadFileBytes(log_);
    last_start_ = good_.size() - protect::RecordDiskBytes(4, 25);
  }

  // Opens the store on `bytes` as the log and checks the four first records.
  void ExpectFirstFourRecords(const std::vector<uint8_t>& bytes, uint64_t torn_bytes) {
    WriteFileBytes(log_, bytes);
    SecureStoreOptions options;
    options.sync = false;
    auto store = SecureStore::Open(dir_, keystore_, options);
    ASSERT_TRUE(store.ok());
    const auto all = AllRecords(**store, "s");
    ASSERT_EQ(all.size(), 4u) << "log of " << bytes.size() << " bytes";
    for (int i = 0; i < 4; ++i) EXPECT_EQ(all[i].second, RecordValue(i));
    EXPECT_EQ((*store)->Stats("s")->recovered_tail_bytes, torn_bytes);
    EXPECT_EQ(fs::file_size(log_), last_start_);
    ASSERT_TRUE((*store)->Append("s", Bytes("after recovery")).ok());
    EXPECT_EQ(*(*store)->Count("s"), 5u);
  }

  ScopedTempDir tmp_;
  std::shared_ptr<Keystore> keystore_ = std::make_shared<MemoryKeystore>();
  std::string dir_;
  fs::path log_;
  std::vector<uint8_t> good_;
  size_t last_start_ = 0;
};

TEST_F(TornLogTest, CutAtEveryByteOfTheLastRecord) {
  for (size_t cut = last_start_; cut < good_.size(); ++cut) {
    ExpectFirstFourRecords(std::vector<uint8_t>(good_.begin(), good_.begin() + cut),
                           cut - last_start_);
    if (HasFatalFailure()) return;
  }
}

// Whatever the last write left (a failed tag, a damaged length, zeros of blocks allocated but
// never written, garbage) is torn as long as no record follows it.
TEST_F(TornLogTest, DamageWithNoRecordAfterItIsTorn) {
  const size_t last = good_.size() - last_start_;
  std::vector<uint8_t> bad_tag = good_;
  bad_tag.back() ^= 1;
  ExpectFirstFourRecords(bad_tag, last);
  std::vector<uint8_t> bad_length = good_;
  bad_length[last_start_] ^= 4;
  ExpectFirstFourRecords(bad_length, last);
  std::vector<uint8_t> zeros(good_.begin(), good_.begin() + last_start_);
  zeros.resize(zeros.size() + 4096, 0);
  ExpectFirstFourRecords(zeros, 4096);
  std::vector<uint8_t> garbage(good_.begin(), good_.begin() + last_start_);
  for (int i = 0; i < 5000; ++i) garbage.push_back(static_cast<uint8_t>(i * 7 + 1));
  ExpectFirstFourRecords(garbage, 5000);
}

// The same damage with a record after it is reported, and the log is left as it is.
TEST_F(TornLogTest, DamageWithARecordAfterItIsReported) {
  std::vector<uint8_t> bytes(good_.begin(), good_.begin() + last_start_);
  for (int i = 0; i < 100; ++i) bytes.push_back(static_cast<uint8_t>(i * 7 + 1));
  bytes.insert(bytes.end(), good_.begin() + last_start_, good_.end());
  std::vector<uint8_t> bad_tag = good_;
  bad_tag[last_start_ - 1] ^= 1;  // the tag of record 3, record 4 after it
  for (const auto& [what, log, expect] :
       {std::tuple{"garbage", bytes, "record 4 at offset " + std::to_string(last_start_)},
        std::tuple{"tag", bad_tag, std::string("record 3 at offset")}}) {
    WriteFileBytes(log_, log);
    auto store = SecureStore::Open(dir_, keystore_);
    ASSERT_TRUE(store.ok());
    auto count = (*store)->Count("s");
    EXPECT_EQ(count.status().code(), StatusCode::kUnauthenticated) << what;
    EXPECT_NE(count.status().message().find(expect), std::string::npos)
        << what << ": " << count.status().message();
    EXPECT_EQ(fs::file_size(log_), log.size()) << what;
  }
}

}  // namespace
}  // namespace privedge::testing
