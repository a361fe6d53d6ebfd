// The device side of a round's secure aggregation.
#include "fl/secure_device.h"

#include <sodium.h>

#include <cmath>

#include "privedge/privacy.h"

namespace privedge::fl {
namespace {

// Integers of dpfedavg's distributed mode: far inside int64, so a sum of 2^24 devices cannot wrap.
constexpr double kMaxDeviceInteger = 0x1p38;

}  // namespace

Result<std::vector<uint64_t>> SecureAggregationInput(const SecureRoundInfo& info,
                                                     LocalTrainingResult& update,
                                                     const std::array<uint8_t, 32>& rounding_seed) {
  std::vector<float>& delta = update.delta;
  if (delta.size() + 1 != info.config.length)
    return InvalidArgument("secure aggregation: delta has ", delta.size(), " values, the round ",
                           "expects ", info.config.length - 1);
  Result<std::vector<uint64_t>> out = std::vector<uint64_t>{};
  if (info.integer_inputs) {
    out->resize(delta.size() + 1);
    (*out)[0] = 1;
    for (size_t i = 0; i < delta.size(); ++i) {
      const double v = delta[i];
      if (!(std::fabs(v) < kMaxDeviceInteger) || v != std::floor(v)) {
        out = InvalidArgument("secure aggregation: value ", i, " (", v,
                              ") is not an integer of magnitude below 2^38");
        break;
      }
      (*out)[i + 1] = static_cast<uint64_t>(static_cast<int64_t>(v));
    }
  } else {
    if (info.max_update_norm > 0) {
      PE_RETURN_IF_ERROR(privacy::ClipL2(delta, info.max_update_norm).status());
    }
    const int64_t weight =
        std::clamp<int64_t>(update.num_examples, 1, info.quantization.max_weight);
    out = secagg::Quantize(delta, static_cast<uint32_t>(weight), info.quantization, rounding_seed);
  }
  sodium_memzero(delta.data(), delta.size() * sizeof(float));
  return out;
}

Result<std::unique_ptr<SecureDeviceSession>> SecureDeviceSession::Create(
    const SecureRoundInfo& info, const std::string& device_id, secagg::Signer signer,
    LocalTrainingResult update, const std::array<uint8_t, 32>& rounding_seed) {
  if (info.participants.size() != info.config.num_clients || info.index >= info.config.num_clients)
    return InvalidArgument("secure aggregation: ", info.participants.size(), " participants and ",
                           "index ", info.index, " for a session of ", info.config.num_clients);
  if (info.participants[info.index].first != device_id)
    return InvalidArgument("secure aggregation: index ", info.index, " belongs to '",
                           info.participants[info.index].first, "', not '", device_id, "'");
  std::unique_ptr<SecureDeviceSession> s(new SecureDeviceSession());
  for (const auto& [id, key] : info.participants) s->registry_.Enroll(id, key);
  PE_ASSIGN_OR_RETURN(s->client_, secagg::SecAggClient::Create(info.config, info.index, device_id,
                                                               std::move(signer), &s->registry_));
  PE_ASSIGN_OR_RETURN(std::vector<uint64_t> input,
                      SecureAggregationInput(info, update, rounding_seed));
  PE_RETURN_IF_ERROR(s->client_->SetInput(std::move(input)));
  return s;
}

Result<std::vector<uint8_t>> SecureDeviceSession::Start() {
  PE_ASSIGN_OR_RETURN(secagg::Message hello, client_->Start());
  return secagg::Serialize(hello);
}

Result<std::vector<std::vector<uint8_t>>> SecureDeviceSession::Handle(
    std::span<const uint8_t> bytes) {
  PE_ASSIGN_OR_RETURN(secagg::Message m, secagg::Parse(bytes));
  PE_ASSIGN_OR_RETURN(std::vector<secagg::Message> replies, client_->Handle(m));
  std::vector<std::vector<uint8_t>> out;
  for (const secagg::Message& r : replies) out.push_back(secagg::Serialize(r));
  return out;
}

int SecureDeviceSession::next_stage() const {
  switch (client_->state()) {
    case secagg::SecAggClient::State::kReady:
      return 0;
    case secagg::SecAggClient::State::kAwaitNeighbourKeys:
      return 1;
    case secagg::SecAggClient::State::kAwaitShares:
      return 2;
    case secagg::SecAggClient::State::kAwaitUnmaskRequest:
      return 3;
    default:
      return 4;
  }
}

}  // namespace privedge::fl
