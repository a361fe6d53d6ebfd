#include <algorithm>

#include "fl/round_store.h"

namespace privedge::fl {

Result<MemoryRoundStore::Task*> MemoryRoundStore::Find(const std::string& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return NotFound("no task '", task_id, "' in the store");
  return &it->second;
}

Status MemoryRoundStore::CreateTask(const std::string& task_id, const std::string& config_text,
                                    const StoredModel& initial, const RoundState& first) {
  if (tasks_.count(task_id)) return InvalidArgument("task '", task_id, "' already exists");
  Task& t = tasks_[task_id];
  t.snapshot.config_text = config_text;
  t.snapshot.model = initial;
  t.snapshot.round = first;
  t.version_digest[initial.version] = initial.digest;
  blobs_[initial.digest] = initial.params;
  return Status::OK();
}

Result<std::optional<TaskSnapshot>> MemoryRoundStore::LoadTask(const std::string& task_id) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return std::optional<TaskSnapshot>();
  return std::optional<TaskSnapshot>(it->second.snapshot);
}

Status MemoryRoundStore::AddDevice(const std::string& task_id, const std::string& device_id) {
  PE_ASSIGN_OR_RETURN(Task * t, Find(task_id));
  auto& d = t->snapshot.devices;
  if (std::find(d.begin(), d.end(), device_id) == d.end()) d.push_back(device_id);
  return Status::OK();
}

Status MemoryRoundStore::AssignDevice(const std::string& task_id, const RoundState& round,
                                      const std::string& device_id) {
  PE_ASSIGN_OR_RETURN(Task * t, Find(task_id));
  t->snapshot.assigned.push_back(device_id);
  return Status::OK();
}

Status MemoryRoundStore::AcceptUpdate(const std::string& task_id, const StoredUpdate& update) {
  PE_ASSIGN_OR_RETURN(Task * t, Find(task_id));
  t->snapshot.updates.push_back(update);
  t->snapshot.nonces.push_back(update.nonce);
  t->snapshot.counters["accepted"] += 1;
  return Status::OK();
}

Status MemoryRoundStore::AddToCounter(const std::string& task_id, const std::string& name,
                                      int64_t delta) {
  PE_ASSIGN_OR_RETURN(Task * t, Find(task_id));
  t->snapshot.counters[name] += delta;
  return Status::OK();
}

Status MemoryRoundStore::AbandonRound(const std::string& task_id, const RoundState& next) {
  PE_ASSIGN_OR_RETURN(Task * t, Find(task_id));
  t->snapshot.assigned.clear();
  t->snapshot.updates.clear();
  t->snapshot.round = next;
  return Status::OK();
}

Status MemoryRoundStore::CommitRound(const std::string& task_id, const StoredModel& model,
                                     const std::vector<float>& strategy_state,
                                     const RoundMetrics& metrics, const RoundState& next,
                                     bool finished) {
  PE_ASSIGN_OR_RETURN(Task * t, Find(task_id));
  t->snapshot.model = model;
  t->snapshot.strategy_state = strategy_state;
  t->snapshot.metrics.push_back(metrics);
  t->snapshot.assigned.clear();
  t->snapshot.updates.clear();
  t->snapshot.round = next;
  t->snapshot.finished = finished;
  t->version_digest[model.version] = model.digest;
  blobs_[model.digest] = model.params;
  return Status::OK();
}

Status MemoryRoundStore::UpdateMetrics(const std::string& task_id, const RoundMetrics& metrics) {
  PE_ASSIGN_OR_RETURN(Task * t, Find(task_id));
  for (RoundMetrics& m : t->snapshot.metrics)
    if (m.round == metrics.round) {
      m = metrics;
      return Status::OK();
    }
  return NotFound("task '", task_id, "' has no metrics for round ", metrics.round);
}

Result<StoredModel> MemoryRoundStore::LoadModel(const std::string& task_id, int64_t version) {
  PE_ASSIGN_OR_RETURN(Task * t, Find(task_id));
  auto it = t->version_digest.find(version);
  if (it == t->version_digest.end())
    return NotFound("task '", task_id, "' has no model version ", version);
  StoredModel m;
  m.version = version;
  m.digest = it->second;
  m.params = blobs_[it->second];
  for (const RoundMetrics& r : t->snapshot.metrics)
    if (r.model_version == version) m.round = r.round;
  return m;
}

}  // namespace privedge::fl
