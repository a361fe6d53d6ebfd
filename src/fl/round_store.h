// RoundStore: the persistence the round coordinator needs, as an interface fl/ defines and
// store/ implements (SQLite). MemoryRoundStore (here) serves the simulator and tests.
//
// Each call is one atomic step of the coordinator's state: when a call returns OK the step is
// durable (for durable backends) and a coordinator rebuilt with Coordinator::Resume from the
// store continues from exactly there. In particular an update is acknowledged to its device only
// after AcceptUpdate returned OK, so a crash never loses an acknowledged update.
//
// Thread-safety: implementations need not be thread-safe; one coordinator uses one store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "privedge/status.h"

namespace privedge::fl {

struct StoredModel {
  int64_t version = 0;  // 0 is the initial model; each aggregation adds one
  int64_t round = 0;    // the round that produced it (0 for the initial model)
  std::string digest;   // ModelDigest(params): the content address
  std::vector<float> params;
};

// The round being run: its number, which attempt (abandoned attempts retry with a new
// selection) and when it opened (the deadline counts from there).
struct RoundState {
  int64_t round = 1;
  int64_t attempt = 1;
  int64_t opened_at_ms = 0;
};

struct StoredUpdate {
  std::string device_id;
  int64_t round = 0;
  int64_t attempt = 0;
  int64_t base_version = 0;
  uint64_t nonce = 0;
  std::vector<float> delta;
  int64_t num_examples = 0;
  double train_loss = 0;
};

// Per-round metrics of the model registry. test_* are NaN until an evaluator reports them.
struct RoundMetrics {
  int64_t round = 0;
  int64_t model_version = 0;  // the version this round produced
  int64_t attempts = 1;
  int64_t assigned = 0;      // devices assigned in the successful attempt
  int64_t participants = 0;  // updates aggregated
  int64_t dropped = 0;       // assigned devices silent at the deadline
  int64_t rejected = 0;      // updates refused during the round (all attempts), late ones
                             // (round_closed) aside
  double train_loss = 0;     // example-weighted mean of the reported losses
  double test_accuracy = 0;
  double test_loss = 0;
  bool evaluated = false;
};

// Everything a coordinator needs to resume a task.
struct TaskSnapshot {
  std::string config_text;           // SerializeTaskConfig output
  std::vector<std::string> devices;  // enrolled devices
  StoredModel model;                 // the latest version
  std::vector<float> strategy_state;
  RoundState round;
  bool finished = false;
  std::vector<std::string> assigned;  // devices assigned in the current attempt
  std::vector<StoredUpdate> updates;  // accepted, not yet aggregated (current attempt)
  std::vector<uint64_t> nonces;       // every accepted nonce of the task
  std::map<std::string, int64_t> counters;
  std::vector<RoundMetrics> metrics;  // completed rounds, in order
};

class RoundStore {
 public:
  virtual ~RoundStore() = default;
  // Creates the task with its initial model (version 0). AlreadyExists-style InvalidArgument if
  // the task id is taken.
  virtual Status CreateTask(const std::string& task_id, const std::string& config_text,
                            const StoredModel& initial, const RoundState& first) = 0;
  // The task's state, or nullopt when the store has no such task.
  virtual Result<std::optional<TaskSnapshot>> LoadTask(const std::string& task_id) = 0;
  virtual Status AddDevice(const std::string& task_id, const std::string& device_id) = 0;
  virtual Status AssignDevice(const std::string& task_id, const RoundState& round,
                              const std::string& device_id) = 0;
  // Stores the update and its nonce and counts it under "accepted".
  virtual Status AcceptUpdate(const std::string& task_id, const StoredUpdate& update) = 0;
  virtual Status AddToCounter(const std::string& task_id, const std::string& name,
                              int64_t delta) = 0;
  // Drops the attempt's assignments and updates and opens `next` (same round, next attempt).
  virtual Status AbandonRound(const std::string& task_id, const RoundState& next) = 0;
  // Atomically: stores the new model version, the strategy state and the round's metrics, drops
  // the aggregated updates and assignments, and opens `next` (or marks the task finished).
  virtual Status CommitRound(const std::string& task_id, const StoredModel& model,
                             const std::vector<float>& strategy_state, const RoundMetrics& metrics,
                             const RoundState& next, bool finished) = 0;
  // Replaces the stored metrics of metrics.round (evaluation results arrive after the commit).
  virtual Status UpdateMetrics(const std::string& task_id, const RoundMetrics& metrics) = 0;
  // Any stored version's parameters (the registry keeps all of them), NotFound otherwise.
  virtual Result<StoredModel> LoadModel(const std::string& task_id, int64_t version) = 0;
};

// A RoundStore in memory: for the simulator and tests. Nothing survives the process.
class MemoryRoundStore : public RoundStore {
 public:
  Status CreateTask(const std::string& task_id, const std::string& config_text,
                    const StoredModel& initial, const RoundState& first) override;
  Result<std::optional<TaskSnapshot>> LoadTask(const std::string& task_id) override;
  Status AddDevice(const std::string& task_id, const std::string& device_id) override;
  Status AssignDevice(const std::string& task_id, const RoundState& round,
                      const std::string& device_id) override;
  Status AcceptUpdate(const std::string& task_id, const StoredUpdate& update) override;
  Status AddToCounter(const std::string& task_id, const std::string& name, int64_t delta) override;
  Status AbandonRound(const std::string& task_id, const RoundState& next) override;
  Status CommitRound(const std::string& task_id, const StoredModel& model,
                     const std::vector<float>& strategy_state, const RoundMetrics& metrics,
                     const RoundState& next, bool finished) override;
  Status UpdateMetrics(const std::string& task_id, const RoundMetrics& metrics) override;
  Result<StoredModel> LoadModel(const std::string& task_id, int64_t version) override;

 private:
  struct Task {
    TaskSnapshot snapshot;
    std::map<int64_t, std::string> version_digest;
  };
  Result<Task*> Find(const std::string& task_id);
  std::map<std::string, Task> tasks_;
  std::map<std::string, std::vector<float>> blobs_;  // content-addressed by digest
};

}  // namespace privedge::fl
