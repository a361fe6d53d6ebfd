#include "store/sqlite_round_store.h"

#include <sqlite3.h>

#include <cstring>
#include <functional>

namespace privedge::store {
namespace {

using fl::RoundMetrics;
using fl::RoundState;
using fl::StoredModel;
using fl::StoredUpdate;
using fl::TaskSnapshot;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS tasks(task_id TEXT PRIMARY KEY, config TEXT NOT NULL,
  round INTEGER NOT NULL, attempt INTEGER NOT NULL, opened_at_ms INTEGER NOT NULL,
  finished INTEGER NOT NULL, model_version INTEGER NOT NULL, strategy_state BLOB);
CREATE TABLE IF NOT EXISTS devices(task_id TEXT, device_id TEXT, PRIMARY KEY(task_id, device_id));
CREATE TABLE IF NOT EXISTS assignments(task_id TEXT, round INTEGER, attempt INTEGER,
  device_id TEXT, PRIMARY KEY(task_id, round, attempt, device_id));
CREATE TABLE IF NOT EXISTS updates(task_id TEXT, round INTEGER, attempt INTEGER, device_id TEXT,
  base_version INTEGER, nonce INTEGER, delta BLOB, num_examples INTEGER, train_loss REAL,
  PRIMARY KEY(task_id, round, attempt, device_id));
CREATE TABLE IF NOT EXISTS nonces(task_id TEXT, nonce INTEGER, PRIMARY KEY(task_id, nonce));
CREATE TABLE IF NOT EXISTS counters(task_id TEXT, name TEXT, value INTEGER,
  PRIMARY KEY(task_id, name));
CREATE TABLE IF NOT EXISTS model_blobs(digest TEXT PRIMARY KEY, params BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS model_versions(task_id TEXT, version INTEGER, round INTEGER,
  digest TEXT NOT NULL, PRIMARY KEY(task_id, version));
CREATE TABLE IF NOT EXISTS round_metrics(task_id TEXT, round INTEGER, model_version INTEGER,
  attempts INTEGER, assigned INTEGER, participants INTEGER, dropped INTEGER, rejected INTEGER,
  train_loss REAL, test_accuracy REAL, test_loss REAL, evaluated INTEGER,
  PRIMARY KEY(task_id, round));
)";

// A prepared statement with positional binding in call order.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int64_t v) { return !s_ ? *this : Check(sqlite3_bind_int64(s_, ++n_, v)); }
  Stmt& Bind(double v) { return !s_ ? *this : Check(sqlite3_bind_double(s_, ++n_, v)); }
  Stmt& Bind(const std::string& v) {
    if (!s_) return *this;
    return Check(
        sqlite3_bind_text(s_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Stmt& Bind(const std::vector<float>& v) {
    if (!s_) return *this;
    return Check(
        sqlite3_bind_blob64(s_, ++n_, v.data(), v.size() * sizeof(float), SQLITE_TRANSIENT));
  }
  // One step: true with a row, false when done.
  Result<bool> Step() {
    if (!s_) return Error("prepare");
    if (!bind_ok_) return Error("bind");
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return Error("step");
  }
  Status Run() {
    PE_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    return Status::OK();
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }
  double Real(int col) { return sqlite3_column_double(s_, col); }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(s_, col);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s_, col)) : "";
  }
  Result<std::vector<float>> Floats(int col) {
    const void* p = sqlite3_column_blob(s_, col);
    const size_t bytes = static_cast<size_t>(sqlite3_column_bytes(s_, col));
    if (bytes % sizeof(float))
      return InvalidArgument("stored float blob of ", bytes, " bytes is not a multiple of 4");
    std::vector<float> v(bytes / sizeof(float));
    if (bytes) std::memcpy(v.data(), p, bytes);
    return v;
  }

 private:
  Stmt& Check(int rc) {
    bind_ok_ = bind_ok_ && rc == SQLITE_OK;
    return *this;
  }
  Status Error(const char* what) { return IoError("sqlite ", what, ": ", sqlite3_errmsg(db_)); }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int n_ = 0;
  bool bind_ok_ = true;
};

int64_t FromNonce(uint64_t n) {
  int64_t v;
  std::memcpy(&v, &n, sizeof v);
  return v;
}
uint64_t ToNonce(int64_t v) {
  uint64_t n;
  std::memcpy(&n, &v, sizeof n);
  return n;
}

Status InsertMetrics(sqlite3* db, const std::string& task_id, const RoundMetrics& m) {
  return Stmt(db, "INSERT OR REPLACE INTO round_metrics VALUES(?,?,?,?,?,?,?,?,?,?,?,?)")
      .Bind(task_id)
      .Bind(m.round)
      .Bind(m.model_version)
      .Bind(m.attempts)
      .Bind(m.assigned)
      .Bind(m.participants)
      .Bind(m.dropped)
      .Bind(m.rejected)
      .Bind(m.train_loss)
      .Bind(m.test_accuracy)
      .Bind(m.test_loss)
      .Bind(int64_t{m.evaluated})
      .Run();
}

Status SetRound(sqlite3* db, const std::string& task_id, const RoundState& r) {
  return Stmt(db, "UPDATE tasks SET round = ?, attempt = ?, opened_at_ms = ? WHERE task_id = ?")
      .Bind(r.round)
      .Bind(r.attempt)
      .Bind(r.opened_at_ms)
      .Bind(task_id)
      .Run();
}

}  // namespace

Result<std::unique_ptr<SqliteRoundStore>> SqliteRoundStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return IoError("cannot open database '", path, "': ", msg);
  }
  std::unique_ptr<SqliteRoundStore> s(new SqliteRoundStore(db));
  sqlite3_busy_timeout(db, 5000);
  PE_RETURN_IF_ERROR(s->Exec("PRAGMA journal_mode=WAL"));
  PE_RETURN_IF_ERROR(s->Exec("PRAGMA synchronous=FULL"));
  PE_RETURN_IF_ERROR(s->Exec(kSchema));
  return s;
}

SqliteRoundStore::~SqliteRoundStore() { sqlite3_close(db_); }

Status SqliteRoundStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return IoError("sqlite: ", msg);
  }
  return Status::OK();
}

Status SqliteRoundStore::InTransaction(const std::function<Status()>& body) {
  PE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = body();
  if (!s.ok()) {
    Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

Status SqliteRoundStore::PutModel(const std::string& task_id, const StoredModel& model) {
  PE_RETURN_IF_ERROR(Stmt(db_, "INSERT OR IGNORE INTO model_blobs VALUES(?, ?)")
                         .Bind(model.digest)
                         .Bind(model.params)
                         .Run());
  return Stmt(db_, "INSERT INTO model_versions VALUES(?, ?, ?, ?)")
      .Bind(task_id)
      .Bind(model.version)
      .Bind(model.round)
      .Bind(model.digest)
      .Run();
}

Status SqliteRoundStore::CreateTask(const std::string& task_id, const std::string& config_text,
                                    const StoredModel& initial, const RoundState& first) {
  return InTransaction([&]() -> Status {
    Stmt exists(db_, "SELECT 1 FROM tasks WHERE task_id = ?");
    exists.Bind(task_id);
    PE_ASSIGN_OR_RETURN(bool found, exists.Step());
    if (found) return InvalidArgument("task '", task_id, "' already exists in the store");
    PE_RETURN_IF_ERROR(Stmt(db_, "INSERT INTO tasks VALUES(?, ?, ?, ?, ?, 0, ?, ?)")
                           .Bind(task_id)
                           .Bind(config_text)
                           .Bind(first.round)
                           .Bind(first.attempt)
                           .Bind(first.opened_at_ms)
                           .Bind(initial.version)
                           .Bind(std::vector<float>())
                           .Run());
    return PutModel(task_id, initial);
  });
}

Result<StoredModel> SqliteRoundStore::LoadModel(const std::string& task_id, int64_t version) {
  Stmt q(db_,
         "SELECT v.round, v.digest, b.params FROM model_versions v JOIN model_blobs b "
         "ON b.digest = v.digest WHERE v.task_id = ? AND v.version = ?");
  q.Bind(task_id).Bind(version);
  PE_ASSIGN_OR_RETURN(bool found, q.Step());
  if (!found) return NotFound("task '", task_id, "' has no model version ", version);
  StoredModel m;
  m.version = version;
  m.round = q.Int(0);
  m.digest = q.Text(1);
  PE_ASSIGN_OR_RETURN(m.params, q.Floats(2));
  return m;
}

Result<std::optional<TaskSnapshot>> SqliteRoundStore::LoadTask(const std::string& task_id) {
  TaskSnapshot s;
  int64_t version = 0;
  {
    Stmt q(db_,
           "SELECT config, round, attempt, opened_at_ms, finished, model_version, "
           "strategy_state FROM tasks WHERE task_id = ?");
    q.Bind(task_id);
    PE_ASSIGN_OR_RETURN(bool found, q.Step());
    if (!found) return std::optional<TaskSnapshot>();
    s.config_text = q.Text(0);
    s.round = RoundState{q.Int(1), q.Int(2), q.Int(3)};
    s.finished = q.Int(4) != 0;
    version = q.Int(5);
    PE_ASSIGN_OR_RETURN(s.strategy_state, q.Floats(6));
  }
  PE_ASSIGN_OR_RETURN(s.model, LoadModel(task_id, version));
  {
    Stmt q(db_, "SELECT device_id FROM devices WHERE task_id = ? ORDER BY device_id");
    q.Bind(task_id);
    for (;;) {
      PE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      s.devices.push_back(q.Text(0));
    }
  }
  {
    Stmt q(db_,
           "SELECT device_id FROM assignments WHERE task_id = ? AND round = ? AND attempt = ?");
    q.Bind(task_id).Bind(s.round.round).Bind(s.round.attempt);
    for (;;) {
      PE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      s.assigned.push_back(q.Text(0));
    }
  }
  {
    Stmt q(db_,
           "SELECT device_id, base_version, nonce, delta, num_examples, train_loss FROM "
           "updates WHERE task_id = ? AND round = ? AND attempt = ? ORDER BY rowid");
    q.Bind(task_id).Bind(s.round.round).Bind(s.round.attempt);
    for (;;) {
      PE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      StoredUpdate u;
      u.device_id = q.Text(0);
      u.round = s.round.round;
      u.attempt = s.round.attempt;
      u.base_version = q.Int(1);
      u.nonce = ToNonce(q.Int(2));
      PE_ASSIGN_OR_RETURN(u.delta, q.Floats(3));
      u.num_examples = q.Int(4);
      u.train_loss = q.Real(5);
      s.updates.push_back(std::move(u));
    }
  }
  {
    Stmt q(db_, "SELECT nonce FROM nonces WHERE task_id = ?");
    q.Bind(task_id);
    for (;;) {
      PE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      s.nonces.push_back(ToNonce(q.Int(0)));
    }
  }
  {
    Stmt q(db_, "SELECT name, value FROM counters WHERE task_id = ?");
    q.Bind(task_id);
    for (;;) {
      PE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      s.counters[q.Text(0)] = q.Int(1);
    }
  }
  {
    Stmt q(db_,
           "SELECT round, model_version, attempts, assigned, participants, dropped, rejected, "
           "train_loss, test_accuracy, test_loss, evaluated FROM round_metrics "
           "WHERE task_id = ? ORDER BY round");
    q.Bind(task_id);
    for (;;) {
      PE_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      RoundMetrics m;
      m.round = q.Int(0);
      m.model_version = q.Int(1);
      m.attempts = q.Int(2);
      m.assigned = q.Int(3);
      m.participants = q.Int(4);
      m.dropped = q.Int(5);
      m.rejected = q.Int(6);
      m.train_loss = q.Real(7);
      m.test_accuracy = q.Real(8);
      m.test_loss = q.Real(9);
      m.evaluated = q.Int(10) != 0;
      s.metrics.push_back(m);
    }
  }
  return std::optional<TaskSnapshot>(std::move(s));
}

Status SqliteRoundStore::AddDevice(const std::string& task_id, const std::string& device_id) {
  return Stmt(db_, "INSERT OR IGNORE INTO devices VALUES(?, ?)")
      .Bind(task_id)
      .Bind(device_id)
      .Run();
}

Status SqliteRoundStore::AssignDevice(const std::string& task_id, const RoundState& round,
                                      const std::string& device_id) {
  return Stmt(db_, "INSERT OR IGNORE INTO assignments VALUES(?, ?, ?, ?)")
      .Bind(task_id)
      .Bind(round.round)
      .Bind(round.attempt)
      .Bind(device_id)
      .Run();
}

Status SqliteRoundStore::AddToCounter(const std::string& task_id, const std::string& name,
                                      int64_t delta) {
  return Stmt(db_,
              "INSERT INTO counters VALUES(?, ?, ?) ON CONFLICT(task_id, name) "
              "DO UPDATE SET value = value + excluded.value")
      .Bind(task_id)
      .Bind(name)
      .Bind(delta)
      .Run();
}

Status SqliteRoundStore::AcceptUpdate(const std::string& task_id, const StoredUpdate& u) {
  return InTransaction([&]() -> Status {
    PE_RETURN_IF_ERROR(Stmt(db_, "INSERT INTO updates VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)")
                           .Bind(task_id)
                           .Bind(u.round)
                           .Bind(u.attempt)
                           .Bind(u.device_id)
                           .Bind(u.base_version)
                           .Bind(FromNonce(u.nonce))
                           .Bind(u.delta)
                           .Bind(u.num_examples)
                           .Bind(u.train_loss)
                           .Run());
    PE_RETURN_IF_ERROR(
        Stmt(db_, "INSERT INTO nonces VALUES(?, ?)").Bind(task_id).Bind(FromNonce(u.nonce)).Run());
    return AddToCounter(task_id, "accepted", 1);
  });
}

Status SqliteRoundStore::AbandonRound(const std::string& task_id, const RoundState& next) {
  return InTransaction([&]() -> Status {
    PE_RETURN_IF_ERROR(Stmt(db_, "DELETE FROM updates WHERE task_id = ?").Bind(task_id).Run());
    PE_RETURN_IF_ERROR(Stmt(db_, "DELETE FROM assignments WHERE task_id = ?").Bind(task_id).Run());
    return SetRound(db_, task_id, next);
  });
}

Status SqliteRoundStore::CommitRound(const std::string& task_id, const StoredModel& model,
                                     const std::vector<float>& strategy_state,
                                     const RoundMetrics& metrics, const RoundState& next,
                                     bool finished) {
  return InTransaction([&]() -> Status {
    PE_RETURN_IF_ERROR(PutModel(task_id, model));
    PE_RETURN_IF_ERROR(InsertMetrics(db_, task_id, metrics));
    PE_RETURN_IF_ERROR(Stmt(db_, "DELETE FROM updates WHERE task_id = ?").Bind(task_id).Run());
    PE_RETURN_IF_ERROR(Stmt(db_, "DELETE FROM assignments WHERE task_id = ?").Bind(task_id).Run());
    PE_RETURN_IF_ERROR(Stmt(db_,
                            "UPDATE tasks SET model_version = ?, strategy_state = ?, "
                            "finished = ? WHERE task_id = ?")
                           .Bind(model.version)
                           .Bind(strategy_state)
                           .Bind(int64_t{finished})
                           .Bind(task_id)
                           .Run());
    return SetRound(db_, task_id, next);
  });
}

Status SqliteRoundStore::UpdateMetrics(const std::string& task_id, const RoundMetrics& metrics) {
  return InsertMetrics(db_, task_id, metrics);
}

}  // namespace privedge::store
