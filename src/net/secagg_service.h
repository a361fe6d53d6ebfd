// The server side of secure aggregation over gRPC (proto/privedge/v1/secagg.proto): the
// SecureAggregation service, which hands a selected device its place in the round's SecAgg
// session and moves the stage messages between it and the coordinator, and DeviceKeyRegistry,
// the enrolled devices' Ed25519 signing keys.
//
//   PE_ASSIGN_OR_RETURN(auto keys, DeviceKeyRegistry::Open(state_dir + "/device_keys"));
//   coordinator.SetDeviceRegistry(keys.get());
//   SecAggService service(mu, coordinator, notify, authorize);  // register with a ServerBuilder
//   keys->Register(device_id, key);                   // at enrollment
//
// Thread-safety: the service takes `mu` (the lock that guards the coordinator) around every
// coordinator call; the registry has its own lock.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "fl/coordinator.h"
#include "privedge/v1/secagg.grpc.pb.h"
#include "secagg/protocol.h"

namespace privedge::net {

// Device id -> Ed25519 public key, in memory and one file per device under `dir` (named by the
// hex of the device id; 32 raw bytes), so keys survive a server restart.
class DeviceKeyRegistry : public secagg::DeviceRegistry {
 public:
  // Creates `dir` if needed and loads every key file. Errors: unreadable or malformed files.
  static Result<std::unique_ptr<DeviceKeyRegistry>> Open(const std::string& dir);
  // Records (or replaces) the key of `device_id`: 32 bytes. InvalidArgument otherwise.
  Status Register(const std::string& device_id, std::span<const uint8_t> key);
  std::optional<secagg::PublicKey> SigningKey(const std::string& device_id) const override;

 private:
  explicit DeviceKeyRegistry(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, secagg::PublicKey> keys_;
};

class SecAggService final : public v1::SecureAggregation::Service {
 public:
  // Checks that the caller is the device a request names (over mutual TLS: its certificate);
  // a non-OK status refuses the call before the coordinator sees it.
  using Authorizer = std::function<grpc::Status(grpc::ServerContext*, const std::string&)>;

  // `after_event` runs under `mu` after each coordinator call (the server's done check).
  SecAggService(std::mutex& mu, fl::Coordinator& coordinator, std::function<void()> after_event,
                Authorizer authorize)
      : mu_(mu),
        coord_(coordinator),
        after_event_(std::move(after_event)),
        authorize_(std::move(authorize)) {}

  grpc::Status Join(grpc::ServerContext* ctx, const v1::SecAggJoinRequest* req,
                    v1::SecAggJoinResponse* resp) override;
  grpc::Status Exchange(grpc::ServerContext* ctx, const v1::SecAggExchangeRequest* req,
                        v1::SecAggExchangeResponse* resp) override;

 private:
  std::mutex& mu_;
  fl::Coordinator& coord_;
  std::function<void()> after_event_;
  Authorizer authorize_;
};

}  // namespace privedge::net
