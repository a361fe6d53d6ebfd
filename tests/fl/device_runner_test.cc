// The device task runner against a real coordinator: policy hooks, training, send failures with
// backoff, rejections logged.
#include "fl/device_runner.h"

#include <gtest/gtest.h>

namespace privedge::fl {
namespace {

// Moves every weight by +1 and reports 5 examples.
class PlusOneTrainer : public LocalTrainer {
 public:
  Result<LocalTrainingResult> Train(std::span<const float> global,
                                    const TrainingConfig& config) override {
    ++calls;
    last_epochs = config.local_epochs;
    return LocalTrainingResult{std::vector<float>(global.size(), 1.0f), 5, 0.25};
  }
  int calls = 0;
  int64_t last_epochs = 0;
};

class DeviceRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(1); }
  // A fresh task needing `per_round` updates, with "dev" enrolled.
  void Make(int64_t per_round) {
    TaskConfig t;
    t.task_id = "t";
    t.num_params = 3;
    t.clients_per_round = per_round;
    t.over_selection = 2;
    t.training.local_epochs = 2;
    t.round_deadline_ms = 10000;
    store_ = std::make_unique<MemoryRoundStore>();
    auto c = Coordinator::Create(t, {0, 0, 0}, *store_, 0);
    ASSERT_TRUE(c.ok());
    coord_ = std::move(*c);
    ASSERT_TRUE(coord_->EnrollDevice("dev").ok());
  }
  std::unique_ptr<MemoryRoundStore> store_;
  std::unique_ptr<Coordinator> coord_;
  PlusOneTrainer trainer_;
};

TEST_F(DeviceRunnerTest, ChecksInTrainsAndSendsABoundUpdate) {
  DeviceRunner runner("dev", trainer_, DevicePolicy{}, BackoffConfig{}, 7);
  DeviceAction a = runner.OnTimer(0, {});
  ASSERT_EQ(a.kind, DeviceAction::kCheckIn);
  EXPECT_EQ(runner.state(), DeviceRunner::State::kCheckingIn);
  auto r = coord_->CheckIn("dev", 0);
  ASSERT_TRUE(r.ok() && r->assigned);
  a = runner.OnCheckIn(*r, coord_->model().params, 0);
  ASSERT_EQ(a.kind, DeviceAction::kSendUpdate);
  EXPECT_EQ(trainer_.last_epochs, 2);
  EXPECT_EQ(a.update.task_id, "t");
  EXPECT_EQ(a.update.round, 1);
  EXPECT_EQ(a.update.device_id, "dev");
  EXPECT_EQ(a.update.base_version, 0);
  EXPECT_EQ(a.update.num_examples, 5);
  auto s = coord_->Submit(a.update, 1);
  ASSERT_TRUE(s.ok() && s->accepted);
  runner.OnSubmitResult(*s, 1);
  EXPECT_EQ(runner.state(), DeviceRunner::State::kIdle);
  EXPECT_EQ(runner.updates_accepted(), 1);
  EXPECT_EQ(coord_->model().version, 1);
  EXPECT_EQ(coord_->model().params, (std::vector<float>{1, 1, 1}));
}

TEST_F(DeviceRunnerTest, PolicyHooksHoldBackTheCheckIn) {
  DevicePolicy policy;
  policy.require_charging = true;
  policy.require_unmetered = true;
  policy.policy_recheck_ms = 500;
  DeviceRunner runner("dev", trainer_, policy, BackoffConfig{}, 7);
  DeviceConditions on_battery{true, false, true};
  EXPECT_EQ(runner.OnTimer(0, on_battery).kind, DeviceAction::kNone);
  EXPECT_EQ(runner.next_wake_ms(), 500);
  EXPECT_EQ(runner.OnTimer(499, DeviceConditions{}).kind, DeviceAction::kNone);  // not due yet
  DeviceConditions metered{true, true, false};
  EXPECT_EQ(runner.OnTimer(500, metered).kind, DeviceAction::kNone);
  EXPECT_EQ(runner.OnTimer(1000, DeviceConditions{}).kind, DeviceAction::kCheckIn);
  DevicePolicy idle_only;
  idle_only.require_idle = true;
  DeviceRunner busy("dev", trainer_, idle_only, BackoffConfig{}, 7);
  EXPECT_EQ(busy.OnTimer(0, DeviceConditions{false, true, true}).kind, DeviceAction::kNone);
  EXPECT_EQ(trainer_.calls, 0);
}

TEST_F(DeviceRunnerTest, FailedSendsBackOffExponentiallyAndResendTheSameUpdate) {
  Make(2);  // the round stays open after one update
  BackoffConfig backoff;
  backoff.initial_ms = 1000;
  backoff.jitter = 0.2;
  backoff.max_ms = 3000;
  DeviceRunner runner("dev", trainer_, DevicePolicy{}, backoff, 7);
  ASSERT_EQ(runner.OnTimer(0, {}).kind, DeviceAction::kCheckIn);
  auto r = coord_->CheckIn("dev", 0);
  DeviceAction first = runner.OnCheckIn(*r, coord_->model().params, 0);
  ASSERT_EQ(first.kind, DeviceAction::kSendUpdate);
  // Delays 1000, 2000, then capped at 3000, each within +-20%.
  int64_t now = 0;
  for (double base : {1000.0, 2000.0, 3000.0}) {
    runner.OnSendFailed(now);
    EXPECT_EQ(runner.state(), DeviceRunner::State::kBackoff);
    const int64_t delay = runner.next_wake_ms() - now;
    EXPECT_GE(delay, 0.8 * base);
    EXPECT_LE(delay, 1.2 * base);
    EXPECT_EQ(runner.OnTimer(runner.next_wake_ms() - 1, {}).kind, DeviceAction::kNone);
    now = runner.next_wake_ms();
    DeviceAction resend = runner.OnTimer(now, {});
    ASSERT_EQ(resend.kind, DeviceAction::kSendUpdate);
    EXPECT_EQ(resend.update.nonce, first.update.nonce);
    EXPECT_EQ(resend.update.delta, first.update.delta);
  }
  // The first copy did reach the server; the resend is refused as a replay and the device
  // counts its update as delivered.
  auto first_copy = coord_->Submit(first.update, now);
  ASSERT_TRUE(first_copy.ok() && first_copy->accepted);
  auto replay = coord_->Submit(first.update, now);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->reason, RejectReason::kReplay);
  runner.OnSubmitResult(*replay, now);
  EXPECT_EQ(runner.updates_accepted(), 1);
  EXPECT_TRUE(runner.log().empty());
}

TEST_F(DeviceRunnerTest, AFailedCheckInIsRetriedWithBackoff) {
  BackoffConfig backoff;
  backoff.initial_ms = 100;
  backoff.jitter = 0;
  DeviceRunner runner("dev", trainer_, DevicePolicy{}, backoff, 7);
  ASSERT_EQ(runner.OnTimer(0, {}).kind, DeviceAction::kCheckIn);
  runner.OnCheckInFailed(0);
  EXPECT_EQ(runner.state(), DeviceRunner::State::kIdle);
  EXPECT_EQ(runner.next_wake_ms(), 100);
  ASSERT_EQ(runner.OnTimer(100, {}).kind, DeviceAction::kCheckIn);
  runner.OnCheckInFailed(100);
  EXPECT_EQ(runner.next_wake_ms(), 300);  // 100 + 200
  ASSERT_EQ(runner.OnTimer(300, {}).kind, DeviceAction::kCheckIn);
  auto r = coord_->CheckIn("dev", 300);
  EXPECT_EQ(runner.OnCheckIn(*r, coord_->model().params, 300).kind, DeviceAction::kSendUpdate);
}

TEST_F(DeviceRunnerTest, GivesUpAfterMaxSendAttempts) {
  BackoffConfig backoff;
  backoff.max_send_attempts = 2;
  DeviceRunner runner("dev", trainer_, DevicePolicy{}, backoff, 7);
  runner.OnTimer(0, {});
  auto r = coord_->CheckIn("dev", 0);
  runner.OnCheckIn(*r, coord_->model().params, 0);
  runner.OnSendFailed(0);
  runner.OnTimer(runner.next_wake_ms(), {});
  runner.OnSendFailed(5000);
  EXPECT_EQ(runner.state(), DeviceRunner::State::kIdle);
  ASSERT_EQ(runner.log().size(), 1u);
  EXPECT_NE(runner.log()[0].find("gave up after 2 failed sends"), std::string::npos);
}

TEST_F(DeviceRunnerTest, AModelThatDoesNotMatchItsDigestIsNotTrainedOn) {
  DeviceRunner runner("dev", trainer_, DevicePolicy{}, BackoffConfig{}, 7);
  runner.OnTimer(0, {});
  auto r = coord_->CheckIn("dev", 0);
  std::vector<float> tampered = {0, 0, 1e-3f};
  EXPECT_EQ(runner.OnCheckIn(*r, tampered, 0).kind, DeviceAction::kNone);
  EXPECT_EQ(trainer_.calls, 0);
  ASSERT_EQ(runner.log().size(), 1u);
  EXPECT_NE(runner.log()[0].find("digest"), std::string::npos);
}

TEST_F(DeviceRunnerTest, RejectionsAreLoggedWithTheirReason) {
  DeviceRunner runner("dev", trainer_, DevicePolicy{}, BackoffConfig{}, 7);
  runner.OnTimer(0, {});
  auto r = coord_->CheckIn("dev", 0);
  DeviceAction a = runner.OnCheckIn(*r, coord_->model().params, 0);
  a.update.base_version = 3;  // as if trained on another version
  auto s = coord_->Submit(a.update, 1);
  ASSERT_TRUE(s.ok());
  runner.OnSubmitResult(*s, 1);
  EXPECT_EQ(runner.updates_accepted(), 0);
  ASSERT_EQ(runner.log().size(), 1u);
  EXPECT_NE(runner.log()[0].find("stale_version"), std::string::npos) << runner.log()[0];
}

TEST_F(DeviceRunnerTest, NotAssignedWaitsForTheSuggestedTime) {
  DeviceRunner runner("stranger", trainer_, DevicePolicy{}, BackoffConfig{}, 7);
  runner.OnTimer(0, {});
  auto r = coord_->CheckIn("stranger", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(runner.OnCheckIn(*r, {}, 0).kind, DeviceAction::kNone);
  EXPECT_EQ(runner.next_wake_ms(), 10000);
}

}  // namespace
}  // namespace privedge::fl
