// SqliteRoundStore: the server's persistent RoundStore on SQLite.
//
//   PE_ASSIGN_OR_RETURN(auto store, store::SqliteRoundStore::Open("server.db"));
//   PE_ASSIGN_OR_RETURN(auto coord, fl::Coordinator::Resume(*store, "task"));
//
// The database runs in WAL mode with synchronous=FULL: every RoundStore call is one
// transaction, durable when it returns, so a killed server loses nothing it acknowledged.
// Model versions are content-addressed: parameter blobs are keyed by their digest and
// versions point at them. Stored data is checked on load (blob sizes, digests via the
// coordinator), so a damaged file gives an error, not a crash.
//
// Dependency note: store/ implements the interface fl/ defines (fl/round_store.h), so store
// uses fl's header-only interface; fl never includes store.
//
// Thread-safety: one SqliteRoundStore per thread (the connection is not shared). Several
// processes may open the same file; SQLite serializes writers (busy timeout 5 s).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "fl/round_store.h"

struct sqlite3;

namespace privedge::store {

class SqliteRoundStore : public fl::RoundStore {
 public:
  // Opens or creates the database at `path` and its schema. IoError when SQLite cannot.
  static Result<std::unique_ptr<SqliteRoundStore>> Open(const std::string& path);
  ~SqliteRoundStore() override;

  Status CreateTask(const std::string& task_id, const std::string& config_text,
                    const fl::StoredModel& initial, const fl::RoundState& first) override;
  Result<std::optional<fl::TaskSnapshot>> LoadTask(const std::string& task_id) override;
  Status AddDevice(const std::string& task_id, const std::string& device_id) override;
  Status AssignDevice(const std::string& task_id, const fl::RoundState& round,
                      const std::string& device_id) override;
  Status AcceptUpdate(const std::string& task_id, const fl::StoredUpdate& update) override;
  Status AddToCounter(const std::string& task_id, const std::string& name, int64_t delta) override;
  Status AbandonRound(const std::string& task_id, const fl::RoundState& next) override;
  Status CommitRound(const std::string& task_id, const fl::StoredModel& model,
                     const std::vector<float>& strategy_state, const fl::RoundMetrics& metrics,
                     const fl::RoundState& next, bool finished) override;
  Status UpdateMetrics(const std::string& task_id, const fl::RoundMetrics& metrics) override;
  Result<fl::StoredModel> LoadModel(const std::string& task_id, int64_t version) override;

 private:
  explicit SqliteRoundStore(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  Status InTransaction(const std::function<Status()>& body);
  Status PutModel(const std::string& task_id, const fl::StoredModel& model);
  sqlite3* db_;
};

}  // namespace privedge::store
