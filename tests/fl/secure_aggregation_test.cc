// Secure aggregation in federated rounds: the task options, a round whose strategy sees only
// the unmasked sum (within quantization error of plain FedAvg), dropouts at each SecAgg stage,
// an abort below the threshold that retries the round, a restart mid-session, the store never
// holding an update, and the simulator with and without it.
#include <gtest/gtest.h>

#include <cmath>

#include "fl/coordinator.h"
#include "fl/device_runner.h"
#include "fl/secure_device.h"
#include "fl/sim/secure_session.h"
#include "fl/sim/simulation.h"
#include "secagg/simulation.h"

namespace privedge::fl {
namespace {

TaskConfig SecureTask(int64_t devices, int64_t min_clients, const std::string& mode) {
  TaskConfig t;
  t.task_id = "sec";
  t.num_params = 4;
  t.rounds = 3;
  t.clients_per_round = devices;
  t.over_selection = 1.0;
  t.min_clients = min_clients;
  t.round_deadline_ms = 100000;
  t.secure_aggregation.mode = mode;
  t.secure_aggregation.clip = 1.0;
  t.secure_aggregation.stage_timeout_ms = 1000;
  return t;
}

// A device whose "training" returns a fixed delta and example count.
class FixedTrainer : public LocalTrainer {
 public:
  FixedTrainer(std::vector<float> delta, int64_t examples) : delta_(delta), examples_(examples) {}
  Result<LocalTrainingResult> Train(std::span<const float>, const TrainingConfig&) override {
    return LocalTrainingResult{delta_, examples_, 0.25};
  }

 private:
  std::vector<float> delta_;
  int64_t examples_;
};

class SecureRoundTest : public ::testing::Test {
 protected:
  void Start(const TaskConfig& task, int n) {
    auto c = Coordinator::Create(task, std::vector<float>(task.num_params, 0.0f), store_, 0);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    coord_ = std::move(*c);
    auto ids = secagg::EnrollSimulatedDevices(n, registry_);
    ASSERT_TRUE(ids.ok());
    identities_ = std::move(*ids);
    coord_->SetDeviceRegistry(&registry_);
    for (int i = 0; i < n; ++i) {
      std::vector<float> delta(task.num_params);
      for (int64_t k = 0; k < task.num_params; ++k)
        delta[k] = 0.1f * static_cast<float>(i + 1) * (k % 2 ? -1.0f : 1.0f) + 0.01f * k;
      deltas_.push_back(delta);
      examples_.push_back(10 + 5 * i);
      trainers_.push_back(std::make_unique<FixedTrainer>(delta, examples_.back()));
      runners_.push_back(std::make_unique<DeviceRunner>(identities_[i].device_id, *trainers_[i],
                                                        DevicePolicy{}, BackoffConfig{}, i + 1));
      ASSERT_TRUE(coord_->EnrollDevice(identities_[i].device_id).ok());
    }
  }

  // Checks every device in and runs the session; drop_stage[i] as in SecureSessionDevice.
  sim::SecureSessionReport RunRound(const std::vector<int>& drop_stage) {
    std::vector<sim::SecureSessionDevice> devices;
    for (size_t i = 0; i < runners_.size(); ++i) {
      DeviceAction a = runners_[i]->OnTimer(now_, DeviceConditions{});
      EXPECT_EQ(a.kind, DeviceAction::kCheckIn);
      auto r = coord_->CheckIn(runners_[i]->device_id(), now_);
      EXPECT_TRUE(r.ok());
      if (!r.ok() || !r->assigned) continue;
      EXPECT_TRUE(r->assignment.secure_aggregation);
      a = runners_[i]->OnCheckIn(*r, coord_->model().params, now_);
      EXPECT_EQ(a.kind, DeviceAction::kSecureAggregate);
      devices.push_back({runners_[i].get(), std::move(a), identities_[i].signer,
                         drop_stage.empty() ? -1 : drop_stage[i]});
    }
    std::mt19937_64 rng(7);
    auto report = sim::RunSecureSession(*coord_, devices, rng, now_);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    ++now_;
    return report.ok() ? *report : sim::SecureSessionReport{};
  }

  // FedAvg's weighted mean over the devices in `included`.
  std::vector<double> WeightedMean(const std::vector<bool>& included) const {
    std::vector<double> mean(deltas_[0].size(), 0.0);
    double total = 0;
    for (size_t i = 0; i < deltas_.size(); ++i)
      if (included[i]) total += static_cast<double>(examples_[i]);
    for (size_t i = 0; i < deltas_.size(); ++i)
      if (included[i])
        for (size_t k = 0; k < mean.size(); ++k)
          mean[k] += static_cast<double>(examples_[i]) / total * deltas_[i][k];
    return mean;
  }

  void ExpectModelIs(const std::vector<double>& want) {
    // n devices, quantization step 2 clip / L with L ~ 2^32 / (n * max_weight): far below 1e-4.
    const auto& got = coord_->model().params;
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-4) << "param " << k;
  }

  MemoryRoundStore store_;
  std::unique_ptr<Coordinator> coord_;
  secagg::InMemoryDeviceRegistry registry_;
  std::vector<secagg::SimulatedDevice> identities_;
  std::vector<std::vector<float>> deltas_;
  std::vector<int64_t> examples_;
  std::vector<std::unique_ptr<LocalTrainer>> trainers_;
  std::vector<std::unique_ptr<DeviceRunner>> runners_;
  int64_t now_ = 1;
};

TEST(SecureAggregationConfigTest, RefusesStrategiesThatNeedIndividualUpdates) {
  for (const char* name : {"fedmedian", "trimmedmean", "krum", "multikrum"}) {
    TaskConfig t = SecureTask(5, 3, "secaggplus");
    t.strategy.name = name;
    Status s = t.Validate();
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_NE(s.message().find("needs each device's update"), std::string::npos) << s.message();
  }
  TaskConfig dp = SecureTask(5, 3, "secagg");
  dp.strategy.name = "dpfedavg";
  dp.strategy.dp_mode = "central";
  EXPECT_NE(dp.Validate().message().find("distributed"), std::string::npos);
  for (const char* name : {"fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad"}) {
    TaskConfig t = SecureTask(5, 3, "secaggplus");
    t.strategy.name = name;
    EXPECT_TRUE(t.Validate().ok()) << name << ": " << t.Validate().message();
  }
  TaskConfig bad = SecureTask(5, 3, "sometimes");
  EXPECT_NE(bad.Validate().message().find("off, secagg or secaggplus"), std::string::npos);
  TaskConfig tiny = SecureTask(2, 1, "secagg");
  EXPECT_NE(tiny.Validate().message().find("at least 3 devices"), std::string::npos);
  TaskConfig async = SecureTask(5, 3, "secagg");
  async.async_buffer_size = 2;
  EXPECT_NE(async.Validate().message().find("synchronous"), std::string::npos);

  auto parsed = ParseTaskConfig(
      "task_id = x\nnum_params = 3\nclients_per_round = 4\nmin_clients = 3\n"
      "secure_aggregation = secaggplus\nsecagg.clip = 0.5\nsecagg.max_weight = 64\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->secure_aggregation.mode, "secaggplus");
  EXPECT_EQ(parsed->secure_aggregation.max_weight, 64);
  auto again = ParseTaskConfig(SerializeTaskConfig(*parsed));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(SerializeTaskConfig(*again), SerializeTaskConfig(*parsed));
  auto refused = ParseTaskConfig(
      "task_id = x\nnum_params = 3\nclients_per_round = 4\n"
      "secure_aggregation = secagg\nstrategy.name = krum\n");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("krum"), std::string::npos);
}

TEST_F(SecureRoundTest, StrategyGetsTheSumAndTheStoreNoUpdate) {
  for (const char* mode : {"secagg", "secaggplus"}) {
    SCOPED_TRACE(mode);
    store_ = MemoryRoundStore();
    deltas_.clear(), examples_.clear(), trainers_.clear(), runners_.clear();
    registry_ = secagg::InMemoryDeviceRegistry();
    Start(SecureTask(6, 3, mode), 6);
    auto report = RunRound({});
    EXPECT_EQ(report.completed, 6);
    ASSERT_EQ(coord_->metrics().size(), 1u) << coord_->last_secure_abort();
    EXPECT_EQ(coord_->metrics()[0].participants, 6);
    ExpectModelIs(WeightedMean(std::vector<bool>(6, true)));
    EXPECT_EQ(coord_->counter("accepted"), 0);  // no plain update ever
    auto snap = store_.LoadTask("sec");
    ASSERT_TRUE(snap.ok() && snap->has_value());
    EXPECT_TRUE((*snap)->updates.empty());
    for (const auto& r : runners_) EXPECT_EQ(r->updates_accepted(), 1);
  }
}

TEST_F(SecureRoundTest, PlainUpdatesAreRefused) {
  Start(SecureTask(3, 3, "secagg"), 3);
  ASSERT_TRUE(coord_->CheckIn(identities_[0].device_id, 0)->assigned);
  UpdateMessage u{"sec", 1, identities_[0].device_id, 0, 9, {0, 0, 0, 0}, 1, 0};
  auto r = coord_->Submit(u, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->reason, RejectReason::kSecureAggregationRequired);
}

TEST_F(SecureRoundTest, DropoutAtEachStageWithinTheThreshold) {
  for (int stage = 0; stage < 4; ++stage) {
    SCOPED_TRACE("stage " + std::to_string(stage));
    store_ = MemoryRoundStore();
    deltas_.clear(), examples_.clear(), trainers_.clear(), runners_.clear();
    registry_ = secagg::InMemoryDeviceRegistry();
    Start(SecureTask(7, 3, "secaggplus"), 7);
    std::vector<int> drop(7, -1);
    drop[2] = stage;
    auto report = RunRound(drop);
    EXPECT_EQ(report.silent, 1);
    ASSERT_EQ(coord_->metrics().size(), 1u) << coord_->last_secure_abort();
    // A device that sent its masked input (dropping at unmasking) is still in the sum.
    std::vector<bool> included(7, true);
    included[2] = stage == 3;
    EXPECT_EQ(coord_->metrics()[0].participants, stage == 3 ? 7 : 6);
    ExpectModelIs(WeightedMean(included));
  }
}

TEST_F(SecureRoundTest, TooManyDropoutsAbortWithAReasonAndTheRoundIsRetried) {
  Start(SecureTask(6, 3, "secagg"), 6);
  // t > k/2 = 2.5 for the complete graph on 6: four silent at masked input leave 2.
  auto report = RunRound({-1, 2, 2, 2, 2, -1});
  EXPECT_EQ(report.silent, 4);
  EXPECT_TRUE(coord_->metrics().empty());
  EXPECT_EQ(coord_->round_state().attempt, 2);
  EXPECT_EQ(coord_->counter("secagg.aborted"), 1);
  EXPECT_NE(coord_->last_secure_abort().find("threshold"), std::string::npos)
      << coord_->last_secure_abort();
  // The retry with everyone answering completes the round.
  RunRound({});
  ASSERT_EQ(coord_->metrics().size(), 1u) << coord_->last_secure_abort();
  EXPECT_EQ(coord_->metrics()[0].attempts, 2);
  ExpectModelIs(WeightedMean(std::vector<bool>(6, true)));
}

TEST_F(SecureRoundTest, ARestartMidSessionAbandonsTheAttempt) {
  TaskConfig task = SecureTask(3, 3, "secaggplus");
  Start(task, 3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(coord_->CheckIn(identities_[i].device_id, 1)->assigned);
  ASSERT_TRUE(coord_->secure_session_open());
  auto join = coord_->JoinSecureRound(identities_[0].device_id, 1, 1, 2);
  ASSERT_TRUE(join.ok());
  ASSERT_EQ(join->state, SecureJoinResponse::State::kJoined);

  auto resumed = Coordinator::Resume(store_, "sec");
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  (*resumed)->SetDeviceRegistry(&registry_);
  ASSERT_TRUE((*resumed)->OnTimer(3).ok());
  EXPECT_EQ((*resumed)->round_state().attempt, 2);
  EXPECT_EQ((*resumed)->counter("secagg.restart_abandoned"), 1);
  EXPECT_NE((*resumed)->last_secure_abort().find("restarted"), std::string::npos);
  // A device still in the old session learns it is over.
  auto late = (*resumed)->SecureExchange(identities_[0].device_id, 1, 1, {}, 4);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->finished);
}

TEST_F(SecureRoundTest, AMessageForAnotherClientIsRefused) {
  Start(SecureTask(3, 3, "secagg"), 3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(coord_->CheckIn(identities_[i].device_id, 1)->assigned);
  auto join = coord_->JoinSecureRound(identities_[0].device_id, 1, 1, 2);
  ASSERT_TRUE(join.ok() && join->state == SecureJoinResponse::State::kJoined);
  // Device 0 builds a valid advertisement but the server receives it from device 1.
  SecureRoundInfo info = join->info;
  auto session = SecureDeviceSession::Create(info, identities_[0].device_id, identities_[0].signer,
                                             LocalTrainingResult{{0, 0, 0, 0}, 1, 0}, {});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto hello = (*session)->Start();
  ASSERT_TRUE(hello.ok());
  std::vector<std::vector<uint8_t>> msgs = {*hello};
  auto r = coord_->SecureExchange(identities_[1].device_id, 1, 1, msgs, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->refused.find("as client 0"), std::string::npos) << r->refused;
  std::vector<std::vector<uint8_t>> garbage = {{1, 2, 3}};
  r = coord_->SecureExchange(identities_[2].device_id, 1, 1, garbage, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->refused.empty());
}

TEST(SecureSimulationTest, SameAccuracyWithAndWithoutSecureAggregation) {
  auto train = sim::ReadFashionMnist("/usr/share/datasets/fashion-mnist", true, 3000);
  auto test = sim::ReadFashionMnist("/usr/share/datasets/fashion-mnist", false, 1000);
  ASSERT_TRUE(train.ok() && test.ok());
  sim::SimulationConfig c;
  c.clients = 20;
  c.rounds = 4;
  c.fraction = 0.25;
  c.over_selection = 1.0;  // plain FedAvg then also aggregates every selected device
  c.training.learning_rate = 0.05;
  auto plain = sim::RunSimulation(c, *train, *test);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  c.secure_aggregation.mode = "secaggplus";
  auto secure = sim::RunSimulation(c, *train, *test);
  ASSERT_TRUE(secure.ok()) << secure.status().ToString();
  ASSERT_EQ(secure->rounds.size(), 4u);
  EXPECT_EQ(secure->counters.at("secagg.completed"), 4);
  const double a = plain->rounds.back().test_accuracy, b = secure->rounds.back().test_accuracy;
  EXPECT_NEAR(a, b, 0.01) << "plain " << a << ", secure " << b;
  // Same seed, same selections and training: the models differ by quantization error only.
  double worst = 0;
  for (size_t k = 0; k < plain->final_model.size(); ++k)
    worst = std::max(worst, std::fabs(double{plain->final_model[k]} - secure->final_model[k]));
  EXPECT_LT(worst, 1e-3);

  // Distributed DP composes: the noised integers are summed exactly (mod 2^64) under SecAgg.
  sim::SimulationConfig dp = c;
  dp.strategy.name = "dpfedavg";
  dp.strategy.dp_mode = "distributed";
  dp.strategy.dp_noise_multiplier = 0.5;
  dp.strategy.dp_noise_seed = 9;
  dp.rounds = 2;
  dp.secure_aggregation.mode = "off";
  auto dp_plain = sim::RunSimulation(dp, *train, *test);
  ASSERT_TRUE(dp_plain.ok()) << dp_plain.status().ToString();
  dp.secure_aggregation.mode = "secagg";
  auto dp_secure = sim::RunSimulation(dp, *train, *test);
  ASSERT_TRUE(dp_secure.ok()) << dp_secure.status().ToString();
  EXPECT_EQ(dp_secure->final_model, dp_plain->final_model);
  EXPECT_EQ(dp_secure->counters.at("secagg.completed"), 2);

  // Dropouts at a random stage: rounds complete without the silent devices or are retried.
  c.dropout = 0.2;
  auto dropping = sim::RunSimulation(c, *train, *test);
  ASSERT_TRUE(dropping.ok()) << dropping.status().ToString();
  EXPECT_FALSE(dropping->task_failed);
  int64_t dropped = 0;
  for (const auto& r : dropping->rounds) dropped += r.dropped;
  EXPECT_GT(dropped, 0);
}

}  // namespace
}  // namespace privedge::fl
