// The round coordinator: selection, closing rules, validation with counted reasons, dropouts,
// abandoned rounds, resumption.
#include "fl/coordinator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace privedge::fl {
namespace {

TaskConfig Task(int64_t per_round, int64_t min_clients, double over_selection = 1.0) {
  TaskConfig t;
  t.task_id = "t";
  t.num_params = 2;
  t.rounds = 3;
  t.clients_per_round = per_round;
  t.min_clients = min_clients;
  t.over_selection = over_selection;
  t.round_deadline_ms = 1000;
  return t;
}

class CoordinatorTest : public ::testing::Test {
 protected:
  void Start(const TaskConfig& task, std::vector<std::string> devices) {
    auto c = Coordinator::Create(task, {0, 0}, store_, 0);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    coord_ = std::move(*c);
    for (const auto& d : devices) ASSERT_TRUE(coord_->EnrollDevice(d).ok());
  }
  bool Assign(const std::string& device, int64_t now = 0) {
    auto r = coord_->CheckIn(device, now);
    EXPECT_TRUE(r.ok());
    return r.ok() && r->assigned;
  }
  UpdateMessage Update(const std::string& device, std::vector<float> delta, uint64_t nonce,
                       int64_t examples = 1) {
    return UpdateMessage{"t",      coord_->round_state().round,
                         device,   coord_->model().version,
                         nonce,    std::move(delta),
                         examples, 0.5};
  }
  RejectReason Send(const UpdateMessage& u, int64_t now = 1) {
    auto r = coord_->Submit(u, now);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->reason : RejectReason::kNone;
  }
  MemoryRoundStore store_;
  std::unique_ptr<Coordinator> coord_;
};

TEST_F(CoordinatorTest, RoundClosesWhenEnoughUpdatesArrived) {
  Start(Task(2, 1), {"a", "b", "c"});
  EXPECT_TRUE(Assign("a"));
  auto again = coord_->CheckIn("a", 0);  // an assigned device asking again gets the same task
  ASSERT_TRUE(again.ok() && again->assigned);
  EXPECT_EQ(again->assignment.round, 1);
  EXPECT_EQ(again->assignment.base_version, 0);
  EXPECT_EQ(again->assignment.model_digest, ModelDigest(std::vector<float>{0, 0}));
  EXPECT_TRUE(Assign("b"));
  auto full = coord_->CheckIn("c", 0);
  ASSERT_TRUE(full.ok());
  EXPECT_FALSE(full->assigned);
  EXPECT_EQ(full->reason, "selection full");
  EXPECT_EQ(full->retry_after_ms, 1000);

  EXPECT_EQ(Send(Update("a", {1, 1}, 1, 1)), RejectReason::kNone);
  EXPECT_EQ(coord_->round_state().round, 1);
  EXPECT_EQ(Send(Update("b", {4, 7}, 2, 3)), RejectReason::kNone);
  // FedAvg weighted 1:3 -> [3.25, 5.5]; version 1 produced by round 1.
  EXPECT_EQ(coord_->round_state().round, 2);
  EXPECT_EQ(coord_->model().version, 1);
  EXPECT_FLOAT_EQ(coord_->model().params[0], 3.25f);
  EXPECT_FLOAT_EQ(coord_->model().params[1], 5.5f);
  ASSERT_EQ(coord_->metrics().size(), 1u);
  EXPECT_EQ(coord_->metrics()[0].participants, 2);
  EXPECT_EQ(coord_->metrics()[0].dropped, 0);
  EXPECT_DOUBLE_EQ(coord_->metrics()[0].train_loss, 0.5);
  // Round 2 selects afresh: c gets in and trains on version 1.
  auto r2 = coord_->CheckIn("c", 2);
  ASSERT_TRUE(r2.ok() && r2->assigned);
  EXPECT_EQ(r2->assignment.base_version, 1);
}

TEST_F(CoordinatorTest, EveryRejectionReasonIsCounted) {
  TaskConfig task = Task(3, 2, 5.0 / 3.0);  // 5 assigned, 3 needed
  task.max_update_norm = 10;
  Start(task, {"a", "b", "c", "d", "e", "f"});
  for (const char* d : {"a", "b", "c", "d", "e"}) ASSERT_TRUE(Assign(d));
  const float nan = std::numeric_limits<float>::quiet_NaN();

  EXPECT_EQ(Send(Update("mallory", {1, 1}, 10)), RejectReason::kUnknownDevice);
  EXPECT_EQ(Send(Update("f", {1, 1}, 11)), RejectReason::kNotAssigned);
  EXPECT_EQ(Send(Update("a", {nan, 1}, 12)), RejectReason::kNonFinite);
  EXPECT_EQ(Send(Update("b", {1, 1}, 13)), RejectReason::kNone);
  EXPECT_EQ(Send(Update("b", {1, 1}, 14)), RejectReason::kReplay);  // same device, same round
  EXPECT_EQ(Send(Update("c", {1, 1}, 13)), RejectReason::kReplay);  // nonce seen before
  UpdateMessage stale = Update("c", {1, 1}, 15);
  stale.base_version = 7;
  EXPECT_EQ(Send(stale), RejectReason::kStaleVersion);
  UpdateMessage wrong_task = Update("d", {1, 1}, 16);
  wrong_task.task_id = "other";
  EXPECT_EQ(Send(wrong_task), RejectReason::kWrongTask);
  EXPECT_EQ(Send(Update("d", {1, 1, 1}, 17)), RejectReason::kWrongShape);
  EXPECT_EQ(Send(Update("e", {1, 1}, 18, 0)), RejectReason::kBadExampleCount);
  EXPECT_EQ(coord_->round_state().round, 1);
  // Every assigned device has answered, with a single accepted update < min_clients = 2: the
  // attempt is abandoned at once, without waiting for the deadline.
  EXPECT_EQ(coord_->round_state().attempt, 2);
  EXPECT_EQ(coord_->counter("rounds_abandoned"), 1);

  for (auto [name, count] :
       std::vector<std::pair<std::string, int64_t>>{{"rejected.unknown_device", 1},
                                                    {"rejected.not_assigned", 1},
                                                    {"rejected.non_finite", 1},
                                                    {"rejected.replay", 2},
                                                    {"rejected.stale_version", 1},
                                                    {"rejected.wrong_task", 1},
                                                    {"rejected.wrong_shape", 1},
                                                    {"rejected.bad_example_count", 1},
                                                    {"accepted", 1}})
    EXPECT_EQ(coord_->counter(name), count) << name;
  // The store holds the same counters.
  auto snap = store_.LoadTask("t");
  ASSERT_TRUE(snap.ok() && snap->has_value());
  EXPECT_EQ((*snap)->counters["rejected.replay"], 2);
}

TEST_F(CoordinatorTest, NormBoundAndLateUpdates) {
  TaskConfig task = Task(1, 1, 2.0);
  task.max_update_norm = 5;
  Start(task, {"a", "b"});
  ASSERT_TRUE(Assign("a"));
  ASSERT_TRUE(Assign("b"));
  EXPECT_EQ(Send(Update("a", {3, 4.01f}, 1)), RejectReason::kNormExceeded);
  EXPECT_EQ(Send(Update("b", {3, 4}, 2)), RejectReason::kNone);  // norm 5 is within the bound
  EXPECT_EQ(coord_->round_state().round, 2);
  UpdateMessage late{"t", 1, "a", 0, 3, {1, 1}, 1, 0};
  EXPECT_EQ(Send(late), RejectReason::kRoundClosed);
  EXPECT_EQ(coord_->counter("rejected.norm_exceeded"), 1);
  EXPECT_EQ(coord_->counter("rejected.round_closed"), 1);
  EXPECT_EQ(coord_->metrics()[0].rejected, 1);
}

TEST_F(CoordinatorTest, DropoutsDownToTheMinimumCompleteAtTheDeadline) {
  Start(Task(4, 2), {"a", "b", "c", "d"});
  for (const char* d : {"a", "b", "c", "d"}) ASSERT_TRUE(Assign(d));
  EXPECT_EQ(Send(Update("a", {2, 0}, 1)), RejectReason::kNone);
  EXPECT_EQ(Send(Update("b", {0, 2}, 2)), RejectReason::kNone);
  ASSERT_TRUE(coord_->OnTimer(999).ok());
  EXPECT_EQ(coord_->round_state().round, 1);
  ASSERT_TRUE(coord_->OnTimer(1000).ok());
  EXPECT_EQ(coord_->round_state().round, 2);
  EXPECT_EQ(coord_->round_state().opened_at_ms, 1000);
  ASSERT_EQ(coord_->metrics().size(), 1u);
  EXPECT_EQ(coord_->metrics()[0].participants, 2);
  EXPECT_EQ(coord_->metrics()[0].dropped, 2);
  EXPECT_FLOAT_EQ(coord_->model().params[0], 1);
  EXPECT_FLOAT_EQ(coord_->model().params[1], 1);
}

TEST_F(CoordinatorTest, BelowTheMinimumTheRoundIsAbandonedAndRetried) {
  Start(Task(3, 2), {"a", "b", "c", "d"});
  for (const char* d : {"a", "b", "c"}) ASSERT_TRUE(Assign(d));
  EXPECT_EQ(Send(Update("a", {9, 9}, 1)), RejectReason::kNone);
  ASSERT_TRUE(coord_->OnTimer(1000).ok());
  EXPECT_EQ(coord_->round_state().round, 1);
  EXPECT_EQ(coord_->round_state().attempt, 2);
  EXPECT_EQ(coord_->model().version, 0);
  EXPECT_EQ(coord_->counter("rounds_abandoned"), 1);
  EXPECT_EQ(coord_->accepted_in_attempt(), 0);  // the abandoned attempt's update is dropped
  // The retry selects afresh; a device of the first attempt may take part again.
  for (const char* d : {"d", "a", "b"}) ASSERT_TRUE(Assign(d, 1001));
  EXPECT_EQ(Send(Update("d", {1, 0}, 2), 1002), RejectReason::kNone);
  EXPECT_EQ(Send(Update("a", {0, 1}, 3), 1002), RejectReason::kNone);
  EXPECT_EQ(Send(Update("c", {5, 5}, 4), 1002), RejectReason::kNotAssigned);
  ASSERT_TRUE(coord_->OnTimer(2001).ok());
  ASSERT_EQ(coord_->metrics().size(), 1u);
  EXPECT_EQ(coord_->metrics()[0].attempts, 2);
  EXPECT_FLOAT_EQ(coord_->model().params[0], 0.5f);
  EXPECT_FLOAT_EQ(coord_->model().params[1], 0.5f);
}

TEST_F(CoordinatorTest, TooManyAbandonedAttemptsFailTheTask) {
  TaskConfig task = Task(2, 2);
  task.max_round_attempts = 2;
  Start(task, {"a"});
  ASSERT_TRUE(coord_->OnTimer(1000).ok());
  EXPECT_EQ(coord_->phase(), TaskPhase::kRunning);
  ASSERT_TRUE(coord_->OnTimer(2000).ok());
  EXPECT_EQ(coord_->phase(), TaskPhase::kFailed);
  auto r = coord_->CheckIn("a", 2001);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->assigned);
  EXPECT_EQ(r->reason, "task failed");
}

TEST_F(CoordinatorTest, UnknownDeviceCheckInIsRefusedAndCounted) {
  Start(Task(1, 1), {"a"});
  auto r = coord_->CheckIn("stranger", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->assigned);
  EXPECT_EQ(coord_->counter("checkin_refused.unknown_device"), 1);
}

TEST_F(CoordinatorTest, ResumesMidRoundWithAcceptedUpdates) {
  TaskConfig task = Task(3, 3);
  task.strategy.name = "fedadam";
  task.strategy.server_learning_rate = 0.1;
  Start(task, {"a", "b", "c"});
  for (const char* d : {"a", "b", "c"}) ASSERT_TRUE(Assign(d));
  EXPECT_EQ(Send(Update("a", {1, 0}, 1)), RejectReason::kNone);
  EXPECT_EQ(Send(Update("b", {1, 0}, 2)), RejectReason::kNone);
  coord_.reset();  // the server goes away

  auto resumed = Coordinator::Resume(store_, "t");
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  coord_ = std::move(*resumed);
  EXPECT_EQ(coord_->accepted_in_attempt(), 2);
  EXPECT_EQ(coord_->assigned_in_attempt(), 3);
  EXPECT_EQ(Send(Update("a", {1, 0}, 9)), RejectReason::kReplay);
  EXPECT_EQ(Send(Update("c", {1, 0}, 2)), RejectReason::kReplay);  // b's nonce
  EXPECT_EQ(Send(Update("c", {1, 0}, 3)), RejectReason::kNone);
  ASSERT_EQ(coord_->metrics().size(), 1u);
  EXPECT_EQ(coord_->metrics()[0].participants, 3);
  // FedAdam first step on mean delta [1, 0] (see strategy_test): 0.0990050.
  EXPECT_NEAR(coord_->model().params[0], 0.0990050489, 1e-6);
  EXPECT_EQ(coord_->model().params[1], 0.0f);
  // The registry keeps every version, content-addressed.
  auto v0 = store_.LoadModel("t", 0);
  auto v1 = store_.LoadModel("t", 1);
  ASSERT_TRUE(v0.ok() && v1.ok());
  EXPECT_EQ(v1->digest, coord_->model().digest);
  EXPECT_EQ(v0->params, (std::vector<float>{0, 0}));
  EXPECT_EQ(store_.LoadModel("t", 2).status().code(), StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, CreateRejectsABadInitialModel) {
  MemoryRoundStore store;
  EXPECT_FALSE(Coordinator::Create(Task(1, 1), {0, 0, 0}, store, 0).ok());
  EXPECT_FALSE(Coordinator::Create(Task(1, 1), {0, INFINITY}, store, 0).ok());
  EXPECT_EQ(Coordinator::Resume(store, "missing").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace privedge::fl

namespace privedge::fl {
namespace {

// FedBuff: aggregate every 2 accepted updates, at most 3 devices in flight, staleness <= 1,
// deltas scaled by 1 / sqrt(1 + staleness).
class FedBuffTest : public CoordinatorTest {
 protected:
  void SetUp() override {
    TaskConfig task = Task(3, 1);
    task.async_buffer_size = 2;
    task.max_staleness = 1;
    task.rounds = 10;
    Start(task, {"a", "b", "c", "d"});
  }
  UpdateMessage On(int64_t base, const std::string& device, std::vector<float> delta,
                   uint64_t nonce) {
    UpdateMessage u = Update(device, std::move(delta), nonce);
    u.base_version = base;
    return u;
  }
};

TEST_F(FedBuffTest, AggregatesEveryKUpdatesWithStalenessWeights) {
  for (const char* d : {"a", "b", "c"}) ASSERT_TRUE(Assign(d));
  auto busy = coord_->CheckIn("d", 0);
  ASSERT_TRUE(busy.ok());
  EXPECT_FALSE(busy->assigned);
  EXPECT_EQ(busy->reason, "enough devices in flight");

  EXPECT_EQ(Send(On(0, "a", {2, 0}, 1)), RejectReason::kNone);
  EXPECT_EQ(Send(On(0, "a", {2, 0}, 1)), RejectReason::kReplay);
  EXPECT_EQ(coord_->model().version, 0);
  ASSERT_TRUE(Assign("d"));  // a's slot is free again; d trains on version 0

  // Restart with one update buffered: it survives, and a is no longer in flight.
  coord_.reset();
  auto resumed = Coordinator::Resume(store_, "t");
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  coord_ = std::move(*resumed);
  EXPECT_EQ(coord_->accepted_in_attempt(), 1);
  EXPECT_EQ(coord_->assigned_in_attempt(), 3);  // b, c, d

  EXPECT_EQ(Send(On(0, "b", {0, 2}, 2)), RejectReason::kNone);
  // Both fresh: FedAvg of [2, 0] and [0, 2].
  ASSERT_EQ(coord_->model().version, 1);
  EXPECT_FLOAT_EQ(coord_->model().params[0], 1);
  EXPECT_FLOAT_EQ(coord_->model().params[1], 1);

  ASSERT_TRUE(Assign("a"));                                     // now on version 1
  EXPECT_EQ(Send(On(0, "c", {4, 0}, 3)), RejectReason::kNone);  // staleness 1: * 1/sqrt(2)
  EXPECT_EQ(Send(On(1, "a", {0, 4}, 4)), RejectReason::kNone);  // fresh
  ASSERT_EQ(coord_->model().version, 2);
  EXPECT_NEAR(coord_->model().params[0], 1 + 4 / std::sqrt(2.0) / 2, 1e-5);
  EXPECT_NEAR(coord_->model().params[1], 1 + 4.0 / 2, 1e-5);
  // d trained on version 0, two versions ago: beyond max_staleness.
  EXPECT_EQ(Send(On(0, "d", {1, 1}, 5)), RejectReason::kStaleVersion);
  EXPECT_EQ(Send(On(3, "b", {1, 1}, 6)), RejectReason::kNotAssigned);
  EXPECT_EQ(coord_->counter("rejected.stale_version"), 1);
}

TEST_F(FedBuffTest, AssignmentsExpireAfterTheDeadline) {
  ASSERT_TRUE(Assign("a", 0));
  ASSERT_TRUE(Assign("b", 500));
  ASSERT_TRUE(coord_->OnTimer(1000).ok());
  EXPECT_EQ(coord_->counter("assignments_expired"), 1);
  EXPECT_EQ(Send(On(0, "a", {1, 1}, 1), 1000), RejectReason::kNotAssigned);
  EXPECT_EQ(Send(On(0, "b", {1, 1}, 2), 1000), RejectReason::kNone);
}

}  // namespace
}  // namespace privedge::fl
