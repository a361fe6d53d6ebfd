#include "fl/sim/secure_session.h"

#include <memory>

#include "fl/secure_device.h"

namespace privedge::fl::sim {
namespace {

struct Live {
  SecureSessionDevice* device = nullptr;
  std::unique_ptr<SecureDeviceSession> session;
  std::vector<std::vector<uint8_t>> outgoing;
  bool silent = false;
  bool finished = false;
};

}  // namespace

Result<SecureSessionReport> RunSecureSession(Coordinator& coord,
                                             std::vector<SecureSessionDevice>& devices,
                                             std::mt19937_64& rng, int64_t& now_ms) {
  SecureSessionReport report;
  const size_t rounds_done = coord.metrics().size();
  const RoundState attempt = coord.round_state();
  auto over = [&] {
    return coord.phase() != TaskPhase::kRunning || coord.metrics().size() > rounds_done ||
           coord.round_state().round != attempt.round ||
           coord.round_state().attempt != attempt.attempt;
  };
  std::vector<Live> live(devices.size());
  auto finish = [&](Live& l, bool completed, const std::string& why) {
    if (l.finished) return;
    l.finished = true;
    report.completed += completed;
    l.device->runner->OnSecureAggregationDone(completed, why, now_ms);
  };
  // A device falls silent instead of sending its message of its drop stage (or any later one).
  auto falls_silent = [&](Live& l, int stage) {
    if (!l.silent && l.device->drop_stage >= 0 && stage >= l.device->drop_stage) {
      l.silent = true;
      l.outgoing.clear();
      ++report.silent;
    }
    return l.silent;
  };
  for (size_t k = 0; k < devices.size(); ++k) live[k].device = &devices[k];

  while (!over()) {
    bool moved = false;
    for (Live& l : live) {
      if (l.finished || l.silent || over()) continue;
      const std::string& id = l.device->runner->device_id();
      const Assignment& a = l.device->action.assignment;
      if (!l.session) {
        if (falls_silent(l, 0)) continue;
        PE_ASSIGN_OR_RETURN(SecureJoinResponse join,
                            coord.JoinSecureRound(id, a.round, a.attempt, now_ms));
        if (join.state == SecureJoinResponse::State::kWait) continue;
        if (join.state == SecureJoinResponse::State::kRefused) {
          finish(l, false, join.reason);
          continue;
        }
        std::array<uint8_t, 32> rounding_seed{};
        for (auto& b : rounding_seed) b = static_cast<uint8_t>(rng());
        const UpdateMessage& u = l.device->action.update;
        PE_ASSIGN_OR_RETURN(
            l.session,
            SecureDeviceSession::Create(join.info, id, l.device->signer,
                                        LocalTrainingResult{u.delta, u.num_examples, u.train_loss},
                                        rounding_seed));
        PE_ASSIGN_OR_RETURN(std::vector<uint8_t> hello, l.session->Start());
        l.outgoing.push_back(std::move(hello));
        moved = true;
      }
      const bool sending = !l.outgoing.empty();
      PE_ASSIGN_OR_RETURN(SecureExchangeResponse r,
                          coord.SecureExchange(id, a.round, a.attempt, l.outgoing, now_ms));
      l.outgoing.clear();
      moved = moved || sending || !r.to_device.empty();
      for (const std::vector<uint8_t>& m : r.to_device) {
        if (falls_silent(l, l.session->next_stage())) break;
        Result<std::vector<std::vector<uint8_t>>> replies = l.session->Handle(m);
        if (!replies.ok()) {
          finish(l, false, replies.status().message());
          break;
        }
        for (auto& reply : *replies) l.outgoing.push_back(std::move(reply));
      }
      if (l.silent) continue;
      if (r.finished) finish(l, l.session->done(), r.reason);
    }
    if (!moved && !over()) {
      now_ms = std::max(now_ms + 1, coord.next_timer_ms());
      PE_RETURN_IF_ERROR(coord.OnTimer(now_ms));
    }
  }
  for (Live& l : live)
    if (!l.finished)
      finish(l, l.session && l.session->done() && !l.silent,
             l.silent ? "dropped out (simulated)" : coord.last_secure_abort());
  return report;
}

}  // namespace privedge::fl::sim
