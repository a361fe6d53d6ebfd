// TaskConfig validation and its "key = value" text form.
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>

#include "fl/dp.h"
#include "fl/secure_round.h"
#include "fl/strategy.h"
#include "privedge/federated.h"

namespace privedge::fl {
namespace {

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' &&
        c != '-')
      return false;
  return true;
}

// One field of the text form: its key, how to print it and how to parse it.
struct Field {
  const char* key;
  std::function<std::string(const TaskConfig&)> print;
  std::function<bool(TaskConfig&, const std::string&)> parse;
};

Field Int(const char* key, std::function<int64_t&(TaskConfig&)> ref) {
  return {key,
          [ref](const TaskConfig& c) { return std::to_string(ref(const_cast<TaskConfig&>(c))); },
          [ref](TaskConfig& c, const std::string& v) {
            char* end = nullptr;
            long long x = std::strtoll(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0') return false;
            ref(c) = x;
            return true;
          }};
}

Field Real(const char* key, std::function<double&(TaskConfig&)> ref) {
  return {key,
          [ref](const TaskConfig& c) {
            std::ostringstream os;
            os.precision(17);
            os << ref(const_cast<TaskConfig&>(c));
            return os.str();
          },
          [ref](TaskConfig& c, const std::string& v) {
            char* end = nullptr;
            double x = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !std::isfinite(x)) return false;
            ref(c) = x;
            return true;
          }};
}

Field Text(const char* key, std::function<std::string&(TaskConfig&)> ref) {
  return {key, [ref](const TaskConfig& c) { return ref(const_cast<TaskConfig&>(c)); },
          [ref](TaskConfig& c, const std::string& v) {
            ref(c) = v;
            return true;
          }};
}

const std::vector<Field>& Fields() {
  static const std::vector<Field> fields = {
      Text("task_id", [](TaskConfig& c) -> std::string& { return c.task_id; }),
      Text("model_id", [](TaskConfig& c) -> std::string& { return c.model_id; }),
      Int("num_params", [](TaskConfig& c) -> int64_t& { return c.num_params; }),
      Int("rounds", [](TaskConfig& c) -> int64_t& { return c.rounds; }),
      Int("clients_per_round", [](TaskConfig& c) -> int64_t& { return c.clients_per_round; }),
      Real("over_selection", [](TaskConfig& c) -> double& { return c.over_selection; }),
      Int("min_clients", [](TaskConfig& c) -> int64_t& { return c.min_clients; }),
      Int("round_deadline_ms", [](TaskConfig& c) -> int64_t& { return c.round_deadline_ms; }),
      Real("max_update_norm", [](TaskConfig& c) -> double& { return c.max_update_norm; }),
      Int("max_round_attempts", [](TaskConfig& c) -> int64_t& { return c.max_round_attempts; }),
      Int("async_buffer_size", [](TaskConfig& c) -> int64_t& { return c.async_buffer_size; }),
      Int("max_staleness", [](TaskConfig& c) -> int64_t& { return c.max_staleness; }),
      Int("training.local_epochs",
          [](TaskConfig& c) -> int64_t& { return c.training.local_epochs; }),
      Int("training.batch_size", [](TaskConfig& c) -> int64_t& { return c.training.batch_size; }),
      Real("training.learning_rate",
           [](TaskConfig& c) -> double& { return c.training.learning_rate; }),
      Real("training.proximal_mu", [](TaskConfig& c) -> double& { return c.training.proximal_mu; }),
      Text("strategy.name", [](TaskConfig& c) -> std::string& { return c.strategy.name; }),
      Real("strategy.server_learning_rate",
           [](TaskConfig& c) -> double& { return c.strategy.server_learning_rate; }),
      Real("strategy.beta1", [](TaskConfig& c) -> double& { return c.strategy.beta1; }),
      Real("strategy.beta2", [](TaskConfig& c) -> double& { return c.strategy.beta2; }),
      Real("strategy.tau", [](TaskConfig& c) -> double& { return c.strategy.tau; }),
      Real("strategy.trim_beta", [](TaskConfig& c) -> double& { return c.strategy.trim_beta; }),
      Int("strategy.byzantine_f", [](TaskConfig& c) -> int64_t& { return c.strategy.byzantine_f; }),
      Int("strategy.multikrum_m", [](TaskConfig& c) -> int64_t& { return c.strategy.multikrum_m; }),
      Real("strategy.dp_clip_norm",
           [](TaskConfig& c) -> double& { return c.strategy.dp_clip_norm; }),
      Real("strategy.dp_noise_multiplier",
           [](TaskConfig& c) -> double& { return c.strategy.dp_noise_multiplier; }),
      Int("strategy.dp_noise_seed",
          [](TaskConfig& c) -> int64_t& {
            return reinterpret_cast<int64_t&>(c.strategy.dp_noise_seed);
          }),
      Text("strategy.dp_mode", [](TaskConfig& c) -> std::string& { return c.strategy.dp_mode; }),
      Real("strategy.dp_adaptive_quantile",
           [](TaskConfig& c) -> double& { return c.strategy.dp_adaptive_quantile; }),
      Real("strategy.dp_adaptive_lr",
           [](TaskConfig& c) -> double& { return c.strategy.dp_adaptive_lr; }),
      Real("strategy.dp_count_noise_stddev",
           [](TaskConfig& c) -> double& { return c.strategy.dp_count_noise_stddev; }),
      Real("strategy.dp_quantization_scale",
           [](TaskConfig& c) -> double& { return c.strategy.dp_quantization_scale; }),
      Real("strategy.dp_delta", [](TaskConfig& c) -> double& { return c.strategy.dp_delta; }),
      Real("strategy.dp_target_epsilon",
           [](TaskConfig& c) -> double& { return c.strategy.dp_target_epsilon; }),
      Text("secure_aggregation",
           [](TaskConfig& c) -> std::string& { return c.secure_aggregation.mode; }),
      Real("secagg.clip", [](TaskConfig& c) -> double& { return c.secure_aggregation.clip; }),
      Int("secagg.max_weight",
          [](TaskConfig& c) -> int64_t& { return c.secure_aggregation.max_weight; }),
      Int("secagg.stage_timeout_ms",
          [](TaskConfig& c) -> int64_t& { return c.secure_aggregation.stage_timeout_ms; }),
      Real("secagg.dropout_rate",
           [](TaskConfig& c) -> double& { return c.secure_aggregation.dropout_rate; }),
      Real("secagg.corruption_rate",
           [](TaskConfig& c) -> double& { return c.secure_aggregation.corruption_rate; }),
  };
  return fields;
}

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

}  // namespace

Status TaskConfig::Validate() const {
  if (!ValidId(task_id))
    return InvalidArgument("task_id must be 1-128 of [A-Za-z0-9_.:-], got '", task_id, "'");
  if (!ValidId(model_id))
    return InvalidArgument("model_id must be 1-128 of [A-Za-z0-9_.:-], got '", model_id, "'");
  if (num_params < 1 || num_params > (int64_t{1} << 31))
    return InvalidArgument("num_params must be in [1, 2^31], got ", num_params);
  if (rounds < 1) return InvalidArgument("rounds must be >= 1, got ", rounds);
  if (clients_per_round < 1)
    return InvalidArgument("clients_per_round must be >= 1, got ", clients_per_round);
  if (!(over_selection >= 1.0 && over_selection <= 100.0))
    return InvalidArgument("over_selection must be in [1, 100], got ", over_selection);
  if (min_clients < 1 || min_clients > clients_per_round)
    return InvalidArgument("min_clients must be in [1, clients_per_round = ", clients_per_round,
                           "], got ", min_clients);
  if (round_deadline_ms < 1)
    return InvalidArgument("round_deadline_ms must be >= 1, got ", round_deadline_ms);
  if (!(max_update_norm >= 0.0))
    return InvalidArgument("max_update_norm must be >= 0, got ", max_update_norm);
  if (max_round_attempts < 1)
    return InvalidArgument("max_round_attempts must be >= 1, got ", max_round_attempts);
  if (async_buffer_size < 0 || async_buffer_size > 1000000)
    return InvalidArgument("async_buffer_size must be in [0, 1e6], got ", async_buffer_size);
  if (max_staleness < 0) return InvalidArgument("max_staleness must be >= 0, got ", max_staleness);
  if (training.local_epochs < 1 || training.local_epochs > 1000)
    return InvalidArgument("training.local_epochs must be in [1, 1000], got ",
                           training.local_epochs);
  if (training.batch_size < 1)
    return InvalidArgument("training.batch_size must be >= 1, got ", training.batch_size);
  if (!(training.learning_rate > 0.0))
    return InvalidArgument("training.learning_rate must be > 0, got ", training.learning_rate);
  if (!(training.proximal_mu >= 0.0))
    return InvalidArgument("training.proximal_mu must be >= 0, got ", training.proximal_mu);
  PE_RETURN_IF_ERROR(ValidateStrategyConfig(strategy));
  if (strategy.name == "dpfedavg")
    PE_RETURN_IF_ERROR(ValidateDpTask(strategy, num_params, clients_per_round));
  return ValidateSecureAggregation(*this);
}

std::string SerializeTaskConfig(const TaskConfig& config) {
  std::string out;
  for (const Field& f : Fields()) out += std::string(f.key) + " = " + f.print(config) + "\n";
  return out;
}

Result<TaskConfig> ParseTaskConfig(const std::string& text) {
  TaskConfig config;
  std::istringstream in(text);
  std::string line;
  std::set<std::string> seen;
  for (int number = 1; std::getline(in, line); ++number) {
    line = Trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      return InvalidArgument("task config line ", number, ": expected 'key = value', got '", line,
                             "'");
    std::string key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
    const Field* field = nullptr;
    for (const Field& f : Fields())
      if (key == f.key) field = &f;
    if (!field) return InvalidArgument("task config line ", number, ": unknown key '", key, "'");
    if (!seen.insert(key).second)
      return InvalidArgument("task config line ", number, ": key '", key, "' given twice");
    if (!field->parse(config, value))
      return InvalidArgument("task config line ", number, ": bad value '", value, "' for '", key,
                             "'");
  }
  PE_RETURN_IF_ERROR(config.Validate());
  return config;
}

}  // namespace privedge::fl
