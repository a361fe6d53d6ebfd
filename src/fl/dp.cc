// The device side of local and distributed DP, and the server's privacy ledger.
#include "fl/dp.h"

#include <cmath>
#include <limits>

namespace privedge::fl {
namespace {

// Integers carried in float deltas must be exact: |value| < 2^24.
constexpr double kFloatExact = 16777216.0;

}  // namespace

double QuantizationScale(const StrategyConfig& c, int64_t num_params) {
  if (c.dp_quantization_scale > 0) return c.dp_quantization_scale;
  return 64.0 * std::sqrt(static_cast<double>(num_params)) / c.dp_clip_norm;
}

Result<double> QuantizedSensitivity(const StrategyConfig& c, int64_t num_params) {
  return privacy::ConditionalRoundingBound(QuantizationScale(c, num_params) * c.dp_clip_norm,
                                           static_cast<size_t>(num_params),
                                           kConditionalRoundingBeta);
}

double CountNoiseStddev(const StrategyConfig& c, int64_t expected_clients) {
  return c.dp_count_noise_stddev > 0 ? c.dp_count_noise_stddev
                                     : static_cast<double>(expected_clients) / 20.0;
}

Result<double> UpdateNoiseMultiplier(const StrategyConfig& c, int64_t expected_clients) {
  if (c.dp_adaptive_quantile <= 0 || c.dp_noise_multiplier == 0) return c.dp_noise_multiplier;
  return privacy::AdaptiveClipUpdateNoiseMultiplier(c.dp_noise_multiplier,
                                                    CountNoiseStddev(c, expected_clients));
}

Status ValidateDpTask(const StrategyConfig& c, int64_t num_params, int64_t expected_clients) {
  if (c.dp_mode != "central" && c.dp_mode != "local" && c.dp_mode != "distributed")
    return InvalidArgument("strategy.dp_mode must be central, local or distributed, got '",
                           c.dp_mode, "'");
  if (c.dp_adaptive_quantile > 0) {
    if (c.dp_mode != "central")
      return InvalidArgument("adaptive clipping needs dp_mode central (the server must see each",
                             " update's norm), got '", c.dp_mode, "'");
    PE_RETURN_IF_ERROR(UpdateNoiseMultiplier(c, expected_clients).status());
  }
  if (c.dp_mode == "distributed") {
    PE_ASSIGN_OR_RETURN(double sensitivity, QuantizedSensitivity(c, num_params));
    // A coordinate is at most the bound plus about 9 noise stddevs (the Gaussian tail the
    // float path can reach); keep that exact in a float.
    const double per_device_sd =
        c.dp_noise_multiplier * sensitivity / std::sqrt(static_cast<double>(expected_clients));
    if (sensitivity + 10 * per_device_sd >= kFloatExact)
      return InvalidArgument("distributed DP: quantized values up to ",
                             sensitivity + 10 * per_device_sd,
                             " would not be exact in a float (limit 2^24); lower "
                             "strategy.dp_quantization_scale");
  }
  return Status::OK();
}

Status PrivatizeOnDevice(const StrategyConfig& c, int64_t num_params, int64_t expected_clients,
                         std::vector<float>& delta, privacy::SecureRandom& rng) {
  if (c.dp_mode == "central") return Status::OK();
  PE_ASSIGN_OR_RETURN(double scale, privacy::ClipL2(delta, c.dp_clip_norm));
  (void)scale;
  if (c.dp_mode == "local")
    return privacy::AddGaussianNoise(delta, c.dp_noise_multiplier * c.dp_clip_norm, rng);
  PE_ASSIGN_OR_RETURN(double sensitivity, QuantizedSensitivity(c, num_params));
  PE_ASSIGN_OR_RETURN(
      std::vector<int64_t> q,
      privacy::QuantizeStochastic(delta, QuantizationScale(c, num_params), sensitivity, rng));
  const double sd = c.dp_noise_multiplier * sensitivity;
  const double share = sd * sd / static_cast<double>(expected_clients);
  if (share > 0) {
    PE_ASSIGN_OR_RETURN(privacy::Rational variance, privacy::RationalFromDouble(share));
    PE_RETURN_IF_ERROR(privacy::AddDiscreteGaussianNoise(q, variance, rng));
  }
  for (size_t i = 0; i < q.size(); ++i) {
    if (std::abs(static_cast<double>(q[i])) >= kFloatExact)
      return OutOfRange("distributed DP: quantized coordinate ", i, " is ", q[i],
                        ", beyond the 2^24 a float carries exactly");
    delta[i] = static_cast<float>(q[i]);
  }
  return Status::OK();
}

DpDeviceTrainer::DpDeviceTrainer(std::unique_ptr<LocalTrainer> honest, StrategyConfig config,
                                 int64_t num_params, int64_t expected_clients,
                                 std::unique_ptr<privacy::SecureRandom> rng)
    : honest_(std::move(honest)),
      config_(std::move(config)),
      num_params_(num_params),
      expected_clients_(expected_clients),
      rng_(std::move(rng)) {}

Result<LocalTrainingResult> DpDeviceTrainer::Train(std::span<const float> global,
                                                   const TrainingConfig& config) {
  PE_ASSIGN_OR_RETURN(LocalTrainingResult r, honest_->Train(global, config));
  PE_RETURN_IF_ERROR(PrivatizeOnDevice(config_, num_params_, expected_clients_, r.delta, *rng_));
  return r;
}

Result<PrivacyLedger> PrivacyLedger::Create(const TaskConfig& task, int64_t total_devices) {
  const StrategyConfig& c = task.strategy;
  if (c.name != "dpfedavg")
    return InvalidArgument("privacy ledger: strategy is '", c.name, "', expected dpfedavg");
  if (total_devices < task.clients_per_round)
    return InvalidArgument("privacy ledger: ", total_devices, " devices cannot fill a cohort of ",
                           task.clients_per_round);
  if (!(c.dp_delta > 0 && c.dp_delta < 1))
    return InvalidArgument("strategy.dp_delta must be in (0, 1), got ", c.dp_delta);
  const bool local = c.dp_mode == "local";
  const double q =
      local ? 1.0
            : static_cast<double>(task.clients_per_round) / static_cast<double>(total_devices);
  const double z = local ? c.dp_noise_multiplier / 2 : c.dp_noise_multiplier;
  return PrivacyLedger(c, task.clients_per_round, q, z);
}

double PrivacyLedger::RoundNoiseMultiplier(int64_t participants) const {
  if (config_.dp_mode != "distributed" || participants >= expected_) return z_;
  return z_ * std::sqrt(static_cast<double>(participants) / static_cast<double>(expected_));
}

Result<double> PrivacyLedger::Epsilon() const {
  if (z_ == 0 && rounds_ > 0) return std::numeric_limits<double>::infinity();  // no noise
  PE_ASSIGN_OR_RETURN(privacy::EpsilonResult e, accountant_.Epsilon(config_.dp_delta));
  return e.epsilon;
}

Result<bool> PrivacyLedger::NextRoundFits() const {
  if (config_.dp_target_epsilon <= 0) return true;
  if (z_ == 0) return false;
  privacy::RdpAccountant next = accountant_;
  PE_RETURN_IF_ERROR(next.AddSteps(q_, z_, 1));
  PE_ASSIGN_OR_RETURN(privacy::EpsilonResult e, next.Epsilon(config_.dp_delta));
  return e.epsilon <= config_.dp_target_epsilon;
}

Status PrivacyLedger::RecordRound(int64_t participants) {
  if (participants < 1)
    return InvalidArgument("a round needs >= 1 participant, got ", participants);
  if (z_ > 0) PE_RETURN_IF_ERROR(accountant_.AddSteps(q_, RoundNoiseMultiplier(participants), 1));
  ++rounds_;
  return Status::OK();
}

}  // namespace privedge::fl
