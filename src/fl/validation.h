// Update validation: why the server refuses an update, and the checks on its contents.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "privedge/status.h"

namespace privedge::fl {

// Every reason an update is refused; each is counted under "rejected.<name>".
enum class RejectReason {
  kNone = 0,
  kUnknownDevice,    // the device is not enrolled in the task
  kWrongTask,        // the update names another task
  kRoundClosed,      // the round it names is over or not collecting (late, or a past round)
  kNotAssigned,      // the device was not selected for this round attempt
  kReplay,           // the device already sent an update this round, or the nonce was seen
  kStaleVersion,     // trained on another base model version than the round's
  kWrongShape,       // delta length differs from the model's parameter count
  kBadExampleCount,  // num_examples < 1 or absurdly large
  kNonFinite,        // a NaN or infinity in the delta or the reported loss
  kNormExceeded,     // the delta's L2 norm is above the task's bound
  kSecureAggregationRequired,  // a plain update in a task that runs secure aggregation
};

inline constexpr int kNumRejectReasons = 12;

// "unknown_device", "replay", ... ("none" for kNone).
const char* RejectReasonName(RejectReason reason);

// Checks the contents of an update: shape, example count, finite values, norm bound
// (max_norm <= 0 disables the norm check). Returns kNone when the update passes; otherwise the
// first failing reason and a one-line `detail`.
RejectReason CheckUpdateContents(std::span<const float> delta, int64_t num_params,
                                 int64_t num_examples, double train_loss, double max_norm,
                                 std::string& detail);

// SHA-256 of the parameters' little-endian float bytes, as 64 hex digits: the content address
// of a model version.
std::string ModelDigest(std::span<const float> params);

}  // namespace privedge::fl
