// FedAvg, the FedOpt server optimizers, and the robust aggregators (median, trimmed mean, Krum).
#include "fl/strategy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fl/dp.h"
#include "privedge/privacy.h"

namespace privedge::fl {
namespace {

// Mean of the deltas weighted by example counts (accumulated in double).
std::vector<double> WeightedMeanDelta(std::span<const ClientUpdate> updates, size_t n) {
  std::vector<double> sum(n, 0.0);
  double total = 0;
  for (const ClientUpdate& u : updates) total += static_cast<double>(u.num_examples);
  for (const ClientUpdate& u : updates) {
    const double w = static_cast<double>(u.num_examples) / total;
    for (size_t i = 0; i < n; ++i) sum[i] += w * u.delta[i];
  }
  return sum;
}

std::vector<double> MeanOfSum(const AggregatedSum& sum) {
  std::vector<double> mean(sum.weighted_sum);
  for (double& v : mean) v /= sum.total_weight;
  return mean;
}

Status CheckSum(const AggregatedSum& sum, size_t n) {
  if (sum.weighted_sum.size() != n || !(sum.total_weight > 0) || sum.contributors < 1)
    return InvalidArgument("aggregated sum: ", sum.weighted_sum.size(), " values of total weight ",
                           sum.total_weight, " from ", sum.contributors, " devices; expected ", n,
                           " values, positive weight");
  return Status::OK();
}

class FedAvg : public Strategy {
 public:
  explicit FedAvg(double lr) : lr_(lr) {}
  Status Aggregate(std::span<const ClientUpdate> updates, std::vector<float>& global) override {
    Step(WeightedMeanDelta(updates, global.size()), global);
    return Status::OK();
  }
  Status AggregateSum(const AggregatedSum& sum, std::vector<float>& global) override {
    PE_RETURN_IF_ERROR(CheckSum(sum, global.size()));
    Step(MeanOfSum(sum), global);
    return Status::OK();
  }

 private:
  void Step(const std::vector<double>& mean, std::vector<float>& global) const {
    for (size_t i = 0; i < global.size(); ++i) global[i] += static_cast<float>(lr_ * mean[i]);
  }

  double lr_;
};

// Reddi et al. 2021, Algorithm 2: m = b1 m + (1 - b1) D; v per variant; x += eta m / (sqrt v + tau)
// with v starting at tau^2 and no bias correction, as in the paper.
class FedOpt : public Strategy {
 public:
  enum class Kind { kAdam, kYogi, kAdagrad };
  FedOpt(Kind kind, const StrategyConfig& c, size_t n)
      : kind_(kind), c_(c), m_(n, 0.0f), v_(n, static_cast<float>(c.tau * c.tau)) {}

  Status Aggregate(std::span<const ClientUpdate> updates, std::vector<float>& global) override {
    Step(WeightedMeanDelta(updates, global.size()), global);
    return Status::OK();
  }
  Status AggregateSum(const AggregatedSum& sum, std::vector<float>& global) override {
    PE_RETURN_IF_ERROR(CheckSum(sum, global.size()));
    Step(MeanOfSum(sum), global);
    return Status::OK();
  }

  std::vector<float> SaveState() const override {
    std::vector<float> s(m_);
    s.insert(s.end(), v_.begin(), v_.end());
    return s;
  }
  Status RestoreState(std::span<const float> state) override {
    if (state.size() != 2 * m_.size())
      return InvalidArgument("server optimizer state: expected ", 2 * m_.size(), " floats, got ",
                             state.size());
    std::copy(state.begin(), state.begin() + m_.size(), m_.begin());
    std::copy(state.begin() + m_.size(), state.end(), v_.begin());
    return Status::OK();
  }

 private:
  void Step(const std::vector<double>& d, std::vector<float>& global) {
    for (size_t i = 0; i < global.size(); ++i) {
      const double m = c_.beta1 * m_[i] + (1 - c_.beta1) * d[i];
      const double d2 = d[i] * d[i];
      double v = v_[i];
      switch (kind_) {
        case Kind::kAdam:
          v = c_.beta2 * v + (1 - c_.beta2) * d2;
          break;
        case Kind::kYogi:
          v = v - (1 - c_.beta2) * d2 * (v - d2 > 0 ? 1 : (v - d2 < 0 ? -1 : 0));
          break;
        case Kind::kAdagrad:
          v = v + d2;
          break;
      }
      m_[i] = static_cast<float>(m);
      v_[i] = static_cast<float>(v);
      global[i] += static_cast<float>(c_.server_learning_rate * m / (std::sqrt(v) + c_.tau));
    }
  }

  Kind kind_;
  StrategyConfig c_;
  std::vector<float> m_, v_;
};

// Coordinate-wise statistics: `pick` reduces the sorted column of one coordinate.
template <class Pick>
void Coordinatewise(std::span<const ClientUpdate> updates, std::vector<float>& global, Pick pick) {
  std::vector<float> column(updates.size());
  for (size_t i = 0; i < global.size(); ++i) {
    for (size_t k = 0; k < updates.size(); ++k) column[k] = updates[k].delta[i];
    std::sort(column.begin(), column.end());
    global[i] += static_cast<float>(pick(column));
  }
}

class FedMedian : public Strategy {
 public:
  Status Aggregate(std::span<const ClientUpdate> updates, std::vector<float>& global) override {
    Coordinatewise(updates, global, [](const std::vector<float>& c) {
      const size_t n = c.size();
      return n % 2 ? double{c[n / 2]} : (double{c[n / 2 - 1]} + c[n / 2]) / 2;
    });
    return Status::OK();
  }
};

class TrimmedMean : public Strategy {
 public:
  explicit TrimmedMean(double beta) : beta_(beta) {}
  Status Aggregate(std::span<const ClientUpdate> updates, std::vector<float>& global) override {
    const size_t cut = static_cast<size_t>(std::floor(beta_ * updates.size()));
    Coordinatewise(updates, global, [cut](const std::vector<float>& c) {
      double s = 0;
      for (size_t k = cut; k < c.size() - cut; ++k) s += c[k];
      return s / static_cast<double>(c.size() - 2 * cut);
    });
    return Status::OK();
  }

 private:
  double beta_;
};

// Blanchard et al. 2017: score(i) = sum of squared distances to its n - f - 2 nearest others;
// Krum takes the lowest score, Multi-Krum averages the m lowest.
class Krum : public Strategy {
 public:
  Krum(int64_t f, int64_t m, bool multi) : f_(f), m_(m), multi_(multi) {}
  Status Aggregate(std::span<const ClientUpdate> updates, std::vector<float>& global) override {
    const int64_t n = static_cast<int64_t>(updates.size());
    if (n < 2 * f_ + 3)
      return InvalidArgument("krum with f = ", f_, " needs at least ", 2 * f_ + 3, " updates, got ",
                             n);
    std::vector<std::vector<double>> dist(n, std::vector<double>(n, 0.0));
    for (int64_t a = 0; a < n; ++a)
      for (int64_t b = a + 1; b < n; ++b) {
        double s = 0;
        const auto& x = updates[a].delta;
        const auto& y = updates[b].delta;
        for (size_t i = 0; i < x.size(); ++i) s += (double{x[i]} - y[i]) * (double{x[i]} - y[i]);
        dist[a][b] = dist[b][a] = s;
      }
    std::vector<double> score(n);
    for (int64_t a = 0; a < n; ++a) {
      std::vector<double> others;
      for (int64_t b = 0; b < n; ++b)
        if (b != a) others.push_back(dist[a][b]);
      std::sort(others.begin(), others.end());
      score[a] = std::accumulate(others.begin(), others.begin() + (n - f_ - 2), 0.0);
    }
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return score[a] < score[b]; });
    int64_t take = multi_ ? (m_ > 0 ? std::min(m_, n) : n - f_) : 1;
    std::vector<double> sum(global.size(), 0.0);
    for (int64_t k = 0; k < take; ++k)
      for (size_t i = 0; i < global.size(); ++i) sum[i] += updates[order[k]].delta[i];
    for (size_t i = 0; i < global.size(); ++i) global[i] += static_cast<float>(sum[i] / take);
    return Status::OK();
  }

 private:
  int64_t f_, m_;
  bool multi_;
};

// DP-FedAvg in its three modes (federated.h). Each update has weight 1 and the denominator is
// the expected cohort m, fixed, so the sum's sensitivity to one device is C whatever arrives.
class DpFedAvg : public Strategy {
 public:
  DpFedAvg(const StrategyConfig& c, int64_t num_params, int64_t expected_clients,
           double update_noise_multiplier)
      : c_(c),
        m_(static_cast<double>(expected_clients)),
        scale_(QuantizationScale(c, num_params)),
        update_z_(update_noise_multiplier),
        clip_(c.dp_clip_norm),
        rng_(MakeRandom(c.dp_noise_seed)) {}

  Status Aggregate(std::span<const ClientUpdate> updates, std::vector<float>& global) override {
    std::vector<double> mean;
    if (c_.dp_mode == "local") {
      // Devices clipped and noised already: any average is post-processing.
      mean = std::vector<double>(global.size(), 0.0);
      for (const ClientUpdate& u : updates)
        for (size_t i = 0; i < mean.size(); ++i) mean[i] += u.delta[i] / double(updates.size());
    } else if (c_.dp_mode == "distributed") {
      mean = DistributedMean(SumQuantized(updates, global.size()));
    } else {
      PE_ASSIGN_OR_RETURN(mean, CentralNoisedMean(updates, global.size()));
    }
    Step(mean, global);
    return Status::OK();
  }

  // Under secure aggregation (distributed mode only): the sum of the devices' integers.
  Status AggregateSum(const AggregatedSum& sum, std::vector<float>& global) override {
    if (c_.dp_mode != "distributed") return Strategy::AggregateSum(sum, global);
    PE_RETURN_IF_ERROR(CheckSum(sum, global.size()));
    Step(DistributedMean(sum.weighted_sum), global);
    return Status::OK();
  }

  // With adaptive clipping the clip norm is the state (persisted with the model).
  std::vector<float> SaveState() const override {
    if (c_.dp_adaptive_quantile <= 0) return {};
    return {static_cast<float>(clip_)};
  }
  Status RestoreState(std::span<const float> state) override {
    if (c_.dp_adaptive_quantile <= 0) return Strategy::RestoreState(state);
    if (state.size() != 1 || !(state[0] > 0) || !std::isfinite(state[0]))
      return InvalidArgument("adaptive clipping state: expected one positive clip norm, got ",
                             state.size(), " floats");
    clip_ = state[0];
    return Status::OK();
  }

 private:
  void Step(const std::vector<double>& mean, std::vector<float>& global) const {
    for (size_t i = 0; i < global.size(); ++i)
      global[i] += static_cast<float>(c_.server_learning_rate * mean[i]);
  }

  // The sum of the devices' integers over the fixed denominator, back in update units.
  std::vector<double> DistributedMean(std::vector<double> sum) const {
    for (double& v : sum) v /= scale_ * m_;
    return sum;
  }

  // The integer sum of the devices' quantized, noised updates, when the server received them
  // one by one (no secure aggregation). With secure aggregation on, AggregateSum receives the
  // same sum from SecAgg (fl/secure_round.h) and no individual update exists on the server.
  static std::vector<double> SumQuantized(std::span<const ClientUpdate> updates, size_t n) {
    std::vector<double> sum(n, 0.0);  // integers below 2^24 each: the double sum is exact
    for (const ClientUpdate& u : updates)
      for (size_t i = 0; i < n; ++i) sum[i] += u.delta[i];
    return sum;
  }

  Result<std::vector<double>> CentralNoisedMean(std::span<const ClientUpdate> updates, size_t n) {
    std::vector<double> sum(n, 0.0);
    std::vector<float> clipped;
    double unclipped = 0;
    for (const ClientUpdate& u : updates) {
      clipped = u.delta;
      PE_ASSIGN_OR_RETURN(double scale, privacy::ClipL2(clipped, clip_));
      unclipped += scale == 1.0 ? 1 : 0;
      for (size_t i = 0; i < n; ++i) sum[i] += clipped[i];
    }
    const double sd = update_z_ * clip_;
    for (double& v : sum) v = (v + privacy::SampleGaussian(*rng_, sd)) / m_;
    if (c_.dp_adaptive_quantile > 0) {
      const double count_sd = CountNoiseStddev(c_, static_cast<int64_t>(m_));
      const double b = (unclipped + privacy::SampleGaussian(*rng_, count_sd)) / m_;
      clip_ = privacy::NextAdaptiveClipNorm(clip_, b, c_.dp_adaptive_quantile, c_.dp_adaptive_lr);
    }
    return sum;
  }

  static std::unique_ptr<privacy::SecureRandom> MakeRandom(uint64_t seed) {
    if (seed == 0) return std::make_unique<privacy::SecureRandom>();
    std::array<uint8_t, privacy::SecureRandom::kSeedBytes> key{};
    for (int i = 0; i < 8; ++i) key[i] = static_cast<uint8_t>(seed >> (8 * i));
    return std::make_unique<privacy::SecureRandom>(key);
  }
  StrategyConfig c_;
  double m_, scale_, update_z_, clip_;
  std::unique_ptr<privacy::SecureRandom> rng_;
};

}  // namespace

Status Strategy::AggregateSum(const AggregatedSum&, std::vector<float>&) {
  return InvalidArgument("this strategy needs individual updates; secure aggregation gives ",
                         "the server only their sum");
}

Status CheckStrategyTakesSum(const StrategyConfig& c) {
  static const std::vector<std::string> ok = {"fedavg", "fedprox", "fedadam", "fedyogi",
                                              "fedadagrad"};
  if (std::find(ok.begin(), ok.end(), c.name) != ok.end()) return Status::OK();
  if (c.name == "dpfedavg") {
    if (c.dp_mode == "distributed") return Status::OK();
    return InvalidArgument("secure aggregation with dpfedavg needs strategy.dp_mode = ",
                           "distributed (devices noise before masking), got '", c.dp_mode,
                           "': the server cannot clip or see updates it never receives");
  }
  return InvalidArgument("strategy '", c.name, "' needs each device's update, and secure ",
                         "aggregation gives the server only their sum: use fedavg, fedprox, ",
                         "fedadam, fedyogi, fedadagrad or dpfedavg (distributed), or turn ",
                         "secure_aggregation off");
}

Status Strategy::RestoreState(std::span<const float> state) {
  if (!state.empty())
    return InvalidArgument("this strategy keeps no state, got ", state.size(), " floats");
  return Status::OK();
}

const std::vector<std::string>& StrategyNames() {
  static const std::vector<std::string> names = {
      "fedavg",    "fedprox",     "fedadam", "fedyogi",   "fedadagrad",
      "fedmedian", "trimmedmean", "krum",    "multikrum", "dpfedavg"};
  return names;
}

Status ValidateStrategyConfig(const StrategyConfig& c) {
  const auto& names = StrategyNames();
  if (std::find(names.begin(), names.end(), c.name) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return InvalidArgument("unknown strategy '", c.name, "' (expected one of ", list, ")");
  }
  if (!(c.server_learning_rate > 0 && std::isfinite(c.server_learning_rate)))
    return InvalidArgument("strategy.server_learning_rate must be > 0, got ",
                           c.server_learning_rate);
  if (!(c.beta1 >= 0 && c.beta1 < 1))
    return InvalidArgument("strategy.beta1 must be in [0, 1), got ", c.beta1);
  if (!(c.beta2 >= 0 && c.beta2 < 1))
    return InvalidArgument("strategy.beta2 must be in [0, 1), got ", c.beta2);
  if (!(c.tau > 0)) return InvalidArgument("strategy.tau must be > 0, got ", c.tau);
  if (!(c.trim_beta >= 0 && c.trim_beta < 0.5))
    return InvalidArgument("strategy.trim_beta must be in [0, 0.5), got ", c.trim_beta);
  if (c.byzantine_f < 0)
    return InvalidArgument("strategy.byzantine_f must be >= 0, got ", c.byzantine_f);
  if (c.multikrum_m < 0)
    return InvalidArgument("strategy.multikrum_m must be >= 0, got ", c.multikrum_m);
  if (!(c.dp_clip_norm > 0 && std::isfinite(c.dp_clip_norm)))
    return InvalidArgument("strategy.dp_clip_norm must be > 0, got ", c.dp_clip_norm);
  if (!(c.dp_noise_multiplier >= 0 && std::isfinite(c.dp_noise_multiplier)))
    return InvalidArgument("strategy.dp_noise_multiplier must be >= 0, got ",
                           c.dp_noise_multiplier);
  if (!(c.dp_adaptive_quantile >= 0 && c.dp_adaptive_quantile < 1))
    return InvalidArgument("strategy.dp_adaptive_quantile must be in [0, 1), got ",
                           c.dp_adaptive_quantile);
  if (!(c.dp_adaptive_lr > 0 && c.dp_adaptive_lr <= 10))
    return InvalidArgument("strategy.dp_adaptive_lr must be in (0, 10], got ", c.dp_adaptive_lr);
  if (!(c.dp_count_noise_stddev >= 0 && std::isfinite(c.dp_count_noise_stddev)))
    return InvalidArgument("strategy.dp_count_noise_stddev must be >= 0, got ",
                           c.dp_count_noise_stddev);
  if (!(c.dp_quantization_scale >= 0 && std::isfinite(c.dp_quantization_scale)))
    return InvalidArgument("strategy.dp_quantization_scale must be >= 0, got ",
                           c.dp_quantization_scale);
  if (!(c.dp_delta > 0 && c.dp_delta < 1))
    return InvalidArgument("strategy.dp_delta must be in (0, 1), got ", c.dp_delta);
  if (!(c.dp_target_epsilon >= 0 && std::isfinite(c.dp_target_epsilon)))
    return InvalidArgument("strategy.dp_target_epsilon must be >= 0, got ", c.dp_target_epsilon);
  return Status::OK();
}

Result<std::unique_ptr<Strategy>> MakeStrategy(const StrategyConfig& c, int64_t num_params,
                                               int64_t expected_clients) {
  PE_RETURN_IF_ERROR(ValidateStrategyConfig(c));
  if (num_params < 1) return InvalidArgument("num_params must be >= 1, got ", num_params);
  const size_t n = static_cast<size_t>(num_params);
  std::unique_ptr<Strategy> s;
  if (c.name == "fedavg" || c.name == "fedprox")
    s = std::make_unique<FedAvg>(c.server_learning_rate);
  else if (c.name == "fedadam")
    s = std::make_unique<FedOpt>(FedOpt::Kind::kAdam, c, n);
  else if (c.name == "fedyogi")
    s = std::make_unique<FedOpt>(FedOpt::Kind::kYogi, c, n);
  else if (c.name == "fedadagrad")
    s = std::make_unique<FedOpt>(FedOpt::Kind::kAdagrad, c, n);
  else if (c.name == "fedmedian")
    s = std::make_unique<FedMedian>();
  else if (c.name == "trimmedmean")
    s = std::make_unique<TrimmedMean>(c.trim_beta);
  else if (c.name == "krum")
    s = std::make_unique<Krum>(c.byzantine_f, 0, false);
  else if (c.name == "dpfedavg") {
    if (expected_clients < 1)
      return InvalidArgument("dpfedavg needs the expected clients per round (its fixed ",
                             "denominator), got ", expected_clients);
    PE_RETURN_IF_ERROR(ValidateDpTask(c, num_params, expected_clients));
    PE_ASSIGN_OR_RETURN(double update_z, UpdateNoiseMultiplier(c, expected_clients));
    s = std::make_unique<DpFedAvg>(c, num_params, expected_clients, update_z);
  }
  else
    s = std::make_unique<Krum>(c.byzantine_f, c.multikrum_m, true);
  return s;
}

}  // namespace privedge::fl
