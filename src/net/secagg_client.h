// The device side of secure aggregation over gRPC (proto/privedge/v1/secagg.proto): joins the
// round's SecAgg session and runs fl::SecureDeviceSession against the server until the
// device's last stage message went out, the server ends the session, or time runs out.
//
//   SecAggOutcome o = RunSecureAggregation(channel, options, action, signer);
//   runner.OnSecureAggregationDone(o.completed, o.detail, now);
//
// Thread-safety: one call per thread.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "fl/device_runner.h"
#include "secagg/protocol.h"

namespace privedge::net {

struct SecAggClientOptions {
  std::string device_id;
  std::string task_id;
  int64_t rpc_timeout_ms = 10000;
  int64_t poll_ms = 50;             // wait between polls when nothing moved
  int64_t max_session_ms = 600000;  // give up after this long
};

struct SecAggOutcome {
  bool completed = false;  // the device sent its last stage message
  std::string detail;      // why not
};

// `action` is the runner's kSecureAggregate action (its update is consumed).
SecAggOutcome RunSecureAggregation(const std::shared_ptr<grpc::Channel>& channel,
                                   const SecAggClientOptions& options, fl::DeviceAction& action,
                                   const secagg::Signer& signer);

}  // namespace privedge::net
