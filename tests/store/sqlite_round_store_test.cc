// The SQLite RoundStore: a coordinator over it survives restarts, a SIGKILL mid-round loses no
// accepted update, and damaged data is refused.
#include "store/sqlite_round_store.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fl/coordinator.h"

extern char** environ;

namespace privedge::store {
namespace {

namespace fs = std::filesystem;
using fl::Coordinator;
using fl::RejectReason;
using fl::UpdateMessage;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "privedge-store-XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

fl::TaskConfig Task() {
  fl::TaskConfig t;
  t.task_id = "crash";
  t.num_params = 3;
  t.rounds = 2;
  t.clients_per_round = 4;
  t.min_clients = 4;
  t.over_selection = 1.0;
  t.round_deadline_ms = 100000;
  t.strategy.name = "fedyogi";
  t.strategy.server_learning_rate = 0.1;
  return t;
}

UpdateMessage Update(const Coordinator& c, const std::string& device, float value, uint64_t nonce) {
  return UpdateMessage{"crash", c.round_state().round, device, c.model().version,
                       nonce,   {value, -value, 0},    10,     0.1};
}

// Creates the task with four enrolled devices in a fresh database.
void CreateTask(const std::string& db) {
  auto store = SqliteRoundStore::Open(db);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto c = Coordinator::Create(Task(), {0, 0, 0}, **store, 0);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (const char* d : {"a", "b", "c", "d"}) ASSERT_TRUE((*c)->EnrollDevice(d).ok());
}

// Expected model after one fedyogi step on the mean delta [m, -m, 0] of all four updates,
// computed by the same strategy in memory.
std::vector<float> Expected(float mean) {
  auto s = fl::MakeStrategy(Task().strategy, 3);
  std::vector<float> g = {0, 0, 0};
  std::vector<fl::ClientUpdate> u = {{"x", {mean, -mean, 0}, 1}};
  EXPECT_TRUE((*s)->Aggregate(u, g).ok());
  return g;
}

TEST(SqliteRoundStoreTest, CoordinatorResumesAcrossReopens) {
  TempDir dir;
  const std::string db = dir.file("server.db");
  CreateTask(db);
  {
    auto store = SqliteRoundStore::Open(db);
    auto c = Coordinator::Resume(**store, "crash");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    for (const char* d : {"a", "b", "c", "d"}) ASSERT_TRUE((*c)->CheckIn(d, 1)->assigned);
    ASSERT_TRUE((*c)->Submit(Update(**c, "a", 1, 1), 2)->accepted);
    ASSERT_TRUE((*c)->Submit(Update(**c, "b", 3, 2), 2)->accepted);
  }
  auto store = SqliteRoundStore::Open(db);
  auto c = Coordinator::Resume(**store, "crash");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->accepted_in_attempt(), 2);
  EXPECT_EQ((*c)->Submit(Update(**c, "a", 1, 7), 3)->reason, RejectReason::kReplay);
  ASSERT_TRUE((*c)->Submit(Update(**c, "c", 1, 3), 3)->accepted);
  ASSERT_TRUE((*c)->Submit(Update(**c, "d", 3, 4), 3)->accepted);
  ASSERT_EQ((*c)->model().version, 1);
  const std::vector<float> expected = Expected(2);
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ((*c)->model().params[i], expected[i]);
  ASSERT_TRUE((*c)->RecordEvaluation(1, 0.5, 1.5).ok());
  const std::vector<float> after_round1 = (*c)->model().params;

  // Round 2 from a third process lifetime: the optimizer state (m, v) came back too, so the
  // second step equals an uninterrupted in-memory run.
  auto store2 = SqliteRoundStore::Open(db);
  auto c2 = Coordinator::Resume(**store2, "crash");
  ASSERT_TRUE(c2.ok());
  ASSERT_EQ((*c2)->metrics().size(), 1u);
  EXPECT_TRUE((*c2)->metrics()[0].evaluated);
  EXPECT_EQ((*c2)->metrics()[0].test_accuracy, 0.5);
  EXPECT_EQ((*c2)->counter("accepted"), 4);
  EXPECT_EQ((*c2)->counter("rejected.replay"), 1);
  for (const char* d : {"a", "b", "c", "d"}) ASSERT_TRUE((*c2)->CheckIn(d, 10)->assigned);
  uint64_t nonce = 100;
  for (const char* d : {"a", "b", "c", "d"})
    ASSERT_TRUE((*c2)->Submit(Update(**c2, d, 1, nonce++), 11)->accepted);
  EXPECT_EQ((*c2)->phase(), fl::TaskPhase::kFinished);

  auto s = fl::MakeStrategy(Task().strategy, 3);
  std::vector<float> g = {0, 0, 0};
  std::vector<fl::ClientUpdate> step1 = {{"x", {2, -2, 0}, 1}}, step2 = {{"x", {1, -1, 0}, 1}};
  ASSERT_TRUE((*s)->Aggregate(step1, g).ok());
  ASSERT_TRUE((*s)->Aggregate(step2, g).ok());
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ((*c2)->model().params[i], g[i]);
  auto v1 = (*store2)->LoadModel("crash", 1);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->params, after_round1);
  EXPECT_EQ(v1->digest, fl::ModelDigest(after_round1));
}

TEST(SqliteRoundStoreTest, DamagedModelBlobIsRefused) {
  TempDir dir;
  const std::string db = dir.file("server.db");
  CreateTask(db);
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(raw, "UPDATE model_blobs SET params = zeroblob(8)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  auto store = SqliteRoundStore::Open(db);
  auto c = Coordinator::Resume(**store, "crash");
  EXPECT_FALSE(c.ok());
  // Three floats 1.0: the right size, but not the model the digest names.
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE model_blobs SET params = x'0000803f0000803f0000803f'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  c = Coordinator::Resume(**store, "crash");
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().ToString();
  ASSERT_EQ(
      sqlite3_exec(raw, "UPDATE model_blobs SET params = zeroblob(7)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  c = Coordinator::Resume(**store, "crash");
  EXPECT_NE(c.status().message().find("not a multiple of 4"), std::string::npos)
      << c.status().message();
  // A stored update of the wrong length would make the strategies read past its end.
  {
    auto fixed = SqliteRoundStore::Open(dir.file("second.db"));
    ASSERT_TRUE(fixed.ok());
    auto c2 = Coordinator::Create(Task(), {0, 0, 0}, **fixed, 0);
    ASSERT_TRUE(c2.ok());
    ASSERT_TRUE((*c2)->EnrollDevice("a").ok());
    ASSERT_TRUE((*c2)->CheckIn("a", 1)->assigned);
    ASSERT_TRUE((*c2)->Submit(Update(**c2, "a", 1, 1), 2)->accepted);
  }
  sqlite3* second = nullptr;
  ASSERT_EQ(sqlite3_open(dir.file("second.db").c_str(), &second), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(second, "UPDATE updates SET delta = zeroblob(8)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(second);
  auto reopened = SqliteRoundStore::Open(dir.file("second.db"));
  auto damaged = Coordinator::Resume(**reopened, "crash");
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("stored update of device 'a'"), std::string::npos)
      << damaged.status().message();
  sqlite3_close(raw);
  EXPECT_EQ(Coordinator::Resume(**store, "other").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(Coordinator::Create(Task(), {0, 0, 0}, **store, 0).ok());  // the id is taken
}

TEST(SqliteRoundStoreTest, OpenRefusesANonDatabase) {
  TempDir dir;
  std::ofstream(dir.file("junk.db")) << std::string(4096, 'x');
  auto store = SqliteRoundStore::Open(dir.file("junk.db"));
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kIoError);
  EXPECT_FALSE(SqliteRoundStore::Open(dir.file("missing-dir/x.db")).ok());
}

// The child half of the crash test, run in a separate process by the test below: accepts three
// updates, reports on the pipe, then waits to be killed.
TEST(SqliteCrashChild, RunsACoordinatorUntilKilled) {
  const char* db = std::getenv("PRIVEDGE_TEST_CRASH_DB");
  const char* fd = std::getenv("PRIVEDGE_TEST_CRASH_FD");
  if (!db || !fd) GTEST_SKIP() << "the child process of SqliteRoundStoreTest.SigkillMidRound";
  auto store = SqliteRoundStore::Open(db);
  ASSERT_TRUE(store.ok());
  auto c = Coordinator::Resume(**store, "crash");
  ASSERT_TRUE(c.ok());
  for (const char* d : {"a", "b", "c", "d"}) ASSERT_TRUE((*c)->CheckIn(d, 1)->assigned);
  ASSERT_TRUE((*c)->Submit(Update(**c, "a", 1, 1), 2)->accepted);
  ASSERT_TRUE((*c)->Submit(Update(**c, "b", 2, 2), 2)->accepted);
  ASSERT_TRUE((*c)->Submit(Update(**c, "c", 3, 3), 2)->accepted);
  const int out = std::atoi(fd);
  ASSERT_EQ(write(out, "3", 1), 1);
  for (;;) pause();
}

TEST(SqliteRoundStoreTest, SigkillMidRoundLosesNoAcceptedUpdate) {
  TempDir dir;
  const std::string db = dir.file("server.db");
  CreateTask(db);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string env_db = "PRIVEDGE_TEST_CRASH_DB=" + db;
  const std::string env_fd = "PRIVEDGE_TEST_CRASH_FD=" + std::to_string(fds[1]);
  std::vector<std::string> env_strings = {env_db, env_fd};
  for (char** e = environ; *e; ++e) env_strings.push_back(*e);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=SqliteCrashChild.RunsACoordinatorUntilKilled";
  char* argv[] = {exe.data(), filter.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data()), 0);
  close(fds[1]);

  pollfd p{fds[0], POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 60000), 1) << "the child never reported its three updates";
  char got = 0;
  ASSERT_EQ(read(fds[0], &got, 1), 1);
  EXPECT_EQ(got, '3');
  close(fds[0]);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  // The restarted server resumes round 1 with a, b, c and completes it with d.
  auto store = SqliteRoundStore::Open(db);
  ASSERT_TRUE(store.ok());
  auto c = Coordinator::Resume(**store, "crash");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->round_state().round, 1);
  EXPECT_EQ((*c)->accepted_in_attempt(), 3);
  EXPECT_EQ((*c)->Submit(Update(**c, "b", 2, 2), 5)->reason, RejectReason::kReplay);
  auto last = (*c)->Submit(Update(**c, "d", 6, 4), 5);
  ASSERT_TRUE(last.ok() && last->accepted);
  ASSERT_EQ((*c)->model().version, 1);
  const std::vector<float> expected = Expected(3);  // mean of 1, 2, 3, 6
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ((*c)->model().params[i], expected[i]);
  EXPECT_EQ((*c)->metrics()[0].participants, 4);
}

}  // namespace
}  // namespace privedge::store
