#include "net/secagg_service.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "net/server.h"

namespace privedge::net {
namespace {

constexpr uint32_t kProtocolVersion = 1;
constexpr int kMaxMessagesPerCall = 16;

std::string HexOf(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

bool FromHex(const std::string& hex, std::string& out) {
  if (hex.empty() || hex.size() % 2 || hex.size() > 512) return false;
  out.clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (size_t j = i; j < i + 2; ++j) {
      const char c = hex[j];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    out += static_cast<char>(v);
  }
  return true;
}

grpc::Status BadVersion(uint32_t v) {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "protocol version " + std::to_string(v) + " not supported (server speaks " +
                          std::to_string(kProtocolVersion) + ")");
}

}  // namespace

Result<std::unique_ptr<DeviceKeyRegistry>> DeviceKeyRegistry::Open(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return IoError("cannot create directory '", dir, "': ", std::strerror(errno));
  std::unique_ptr<DeviceKeyRegistry> r(new DeviceKeyRegistry(dir));
  DIR* d = opendir(dir.c_str());
  if (!d) return IoError("cannot read directory '", dir, "': ", std::strerror(errno));
  Status status = Status::OK();
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || name.find(".tmp") != std::string::npos) continue;
    std::string device_id;
    if (!FromHex(name, device_id)) {
      status = InvalidArgument("device key file '", dir, "/", name, "': name is not a hex id");
      break;
    }
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    if (bytes.size() != 32) {
      status = InvalidArgument("device key file '", dir, "/", name, "': expected 32 bytes, got ",
                               bytes.size());
      break;
    }
    secagg::PublicKey key{};
    std::memcpy(key.data(), bytes.data(), key.size());
    r->keys_[device_id] = key;
  }
  closedir(d);
  if (!status.ok()) return status;
  return r;
}

Status DeviceKeyRegistry::Register(const std::string& device_id, std::span<const uint8_t> key) {
  if (key.size() != 32)
    return InvalidArgument("signing public key must be 32 bytes (Ed25519), got ", key.size());
  if (device_id.empty() || device_id.size() > 256)
    return InvalidArgument("device id must be 1-256 bytes, got ", device_id.size());
  secagg::PublicKey k{};
  std::memcpy(k.data(), key.data(), k.size());
  const std::string path = dir_ + "/" + HexOf(device_id);
  std::lock_guard<std::mutex> lock(mu_);
  {
    std::ofstream out(path + ".tmp", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(k.data()), static_cast<std::streamsize>(k.size()));
    if (!out) return IoError("cannot write '", path, ".tmp'");
  }
  if (rename((path + ".tmp").c_str(), path.c_str()) != 0)
    return IoError("cannot rename '", path, ".tmp': ", std::strerror(errno));
  keys_[device_id] = k;
  return Status::OK();
}

std::optional<secagg::PublicKey> DeviceKeyRegistry::SigningKey(const std::string& device_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(device_id);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

grpc::Status SecAggService::Join(grpc::ServerContext* ctx, const v1::SecAggJoinRequest* req,
                                 v1::SecAggJoinResponse* resp) {
  if (req->protocol_version() != kProtocolVersion) return BadVersion(req->protocol_version());
  if (grpc::Status auth = authorize_(ctx, req->device_id()); !auth.ok()) return auth;
  std::lock_guard<std::mutex> lock(mu_);
  if (req->task_id() != coord_.config().task_id)
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no task '" + req->task_id() + "'");
  Result<fl::SecureJoinResponse> r =
      coord_.JoinSecureRound(req->device_id(), req->round(), req->attempt(), NowMs());
  after_event_();
  if (!r.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, r.status().ToString());
  resp->set_reason(r->reason);
  resp->set_retry_after_ms(r->retry_after_ms);
  switch (r->state) {
    case fl::SecureJoinResponse::State::kWait:
      resp->set_state(v1::SecAggJoinResponse::WAIT);
      return grpc::Status::OK;
    case fl::SecureJoinResponse::State::kRefused:
      resp->set_state(v1::SecAggJoinResponse::REFUSED);
      return grpc::Status::OK;
    case fl::SecureJoinResponse::State::kJoined:
      break;
  }
  const fl::SecureRoundInfo& info = r->info;
  resp->set_state(v1::SecAggJoinResponse::JOINED);
  resp->set_round_id(info.config.round_id);
  resp->set_num_clients(info.config.num_clients);
  resp->set_degree(info.config.degree);
  resp->set_threshold(info.config.threshold);
  resp->set_bits(info.config.bits);
  resp->set_length(info.config.length);
  resp->set_graph_seed(info.config.graph_seed.data(), info.config.graph_seed.size());
  resp->set_index(info.index);
  resp->set_clip(info.quantization.clip);
  resp->set_max_clients(info.quantization.max_clients);
  resp->set_max_weight(info.quantization.max_weight);
  resp->set_integer_inputs(info.integer_inputs);
  resp->set_max_update_norm(info.max_update_norm);
  for (const auto& [id, key] : info.participants) {
    v1::SecAggParticipant* p = resp->add_participants();
    p->set_device_id(id);
    p->set_signing_key(key.data(), key.size());
  }
  return grpc::Status::OK;
}

grpc::Status SecAggService::Exchange(grpc::ServerContext* ctx,
                                     const v1::SecAggExchangeRequest* req,
                                     v1::SecAggExchangeResponse* resp) {
  if (req->protocol_version() != kProtocolVersion) return BadVersion(req->protocol_version());
  if (grpc::Status auth = authorize_(ctx, req->device_id()); !auth.ok()) return auth;
  if (req->messages_size() > kMaxMessagesPerCall)
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "at most " + std::to_string(kMaxMessagesPerCall) +
                            " stage messages per call, got " +
                            std::to_string(req->messages_size()));
  std::vector<std::vector<uint8_t>> in;
  for (const std::string& m : req->messages()) in.emplace_back(m.begin(), m.end());
  std::lock_guard<std::mutex> lock(mu_);
  Result<fl::SecureExchangeResponse> r =
      coord_.SecureExchange(req->device_id(), req->round(), req->attempt(), in, NowMs());
  after_event_();
  if (!r.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, r.status().ToString());
  for (const std::vector<uint8_t>& m : r->to_device) resp->add_messages(m.data(), m.size());
  resp->set_finished(r->finished);
  resp->set_reason(r->reason);
  resp->set_refused(r->refused);
  return grpc::Status::OK;
}

}  // namespace privedge::net
