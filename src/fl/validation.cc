#include "fl/validation.h"

#include <sodium.h>

#include <bit>
#include <cmath>

namespace privedge::fl {

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone:
      return "none";
    case RejectReason::kUnknownDevice:
      return "unknown_device";
    case RejectReason::kWrongTask:
      return "wrong_task";
    case RejectReason::kRoundClosed:
      return "round_closed";
    case RejectReason::kNotAssigned:
      return "not_assigned";
    case RejectReason::kReplay:
      return "replay";
    case RejectReason::kStaleVersion:
      return "stale_version";
    case RejectReason::kWrongShape:
      return "wrong_shape";
    case RejectReason::kBadExampleCount:
      return "bad_example_count";
    case RejectReason::kSecureAggregationRequired:
      return "secure_aggregation_required";
    case RejectReason::kNonFinite:
      return "non_finite";
    case RejectReason::kNormExceeded:
      return "norm_exceeded";
  }
  return "unknown";
}

RejectReason CheckUpdateContents(std::span<const float> delta, int64_t num_params,
                                 int64_t num_examples, double train_loss, double max_norm,
                                 std::string& detail) {
  if (static_cast<int64_t>(delta.size()) != num_params) {
    detail = "delta has " + std::to_string(delta.size()) + " values, model has " +
             std::to_string(num_params);
    return RejectReason::kWrongShape;
  }
  if (num_examples < 1 || num_examples > (int64_t{1} << 40)) {
    detail = "num_examples must be in [1, 2^40], got " + std::to_string(num_examples);
    return RejectReason::kBadExampleCount;
  }
  double sq = 0;
  for (size_t i = 0; i < delta.size(); ++i) {
    if (!std::isfinite(delta[i])) {
      detail = "delta[" + std::to_string(i) + "] is not finite";
      return RejectReason::kNonFinite;
    }
    sq += double{delta[i]} * delta[i];
  }
  if (!std::isfinite(train_loss)) {
    detail = "train_loss is not finite";
    return RejectReason::kNonFinite;
  }
  if (max_norm > 0 && std::sqrt(sq) > max_norm) {
    detail = "delta L2 norm " + std::to_string(std::sqrt(sq)) + " exceeds the bound " +
             std::to_string(max_norm);
    return RejectReason::kNormExceeded;
  }
  return RejectReason::kNone;
}

std::string ModelDigest(std::span<const float> params) {
  static_assert(std::endian::native == std::endian::little, "digest assumes little-endian floats");
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(params.data()),
                     params.size() * sizeof(float));
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : hash) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

}  // namespace privedge::fl
