#include <gtest/gtest.h>

#include "privedge/federated.h"

namespace privedge::fl {
namespace {

TEST(TaskConfigTest, RoundTripsThroughText) {
  TaskConfig c;
  c.task_id = "fmnist-1";
  c.num_params = 7850;
  c.training.learning_rate = 0.037;
  c.training.proximal_mu = 0.01;
  c.strategy.name = "trimmedmean";
  c.strategy.trim_beta = 0.2;
  c.min_clients = 3;
  c.over_selection = 1.5;
  auto parsed = ParseTaskConfig(SerializeTaskConfig(c));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(SerializeTaskConfig(*parsed), SerializeTaskConfig(c));
  EXPECT_EQ(parsed->training.learning_rate, 0.037);
  EXPECT_EQ(parsed->strategy.trim_beta, 0.2);
}

TEST(TaskConfigTest, SubsetWithCommentsKeepsDefaults) {
  auto c = ParseTaskConfig("# a task\nnum_params = 10\n  strategy.name = krum  # robust\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->num_params, 10);
  EXPECT_EQ(c->strategy.name, "krum");
  EXPECT_EQ(c->clients_per_round, TaskConfig().clients_per_round);
}

TEST(TaskConfigTest, ErrorsNameTheLineAndField) {
  auto unknown = ParseTaskConfig("num_params = 10\nbogus = 1\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("line 2: unknown key 'bogus'"), std::string::npos);
  auto bad = ParseTaskConfig("num_params = ten\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad value 'ten'"), std::string::npos);
  auto twice = ParseTaskConfig("num_params = 1\nnum_params = 2\n");
  EXPECT_FALSE(twice.ok());
  auto range = ParseTaskConfig("num_params = 10\nclients_per_round = 4\nmin_clients = 5\n");
  ASSERT_FALSE(range.ok());
  EXPECT_NE(
      range.status().message().find("min_clients must be in [1, clients_per_round = 4], got 5"),
      std::string::npos)
      << range.status().message();
  EXPECT_FALSE(ParseTaskConfig("num_params = 10\ntask_id = a b\n").ok());
  EXPECT_FALSE(ParseTaskConfig("num_params = 10\nover_selection = 0.5\n").ok());
  EXPECT_FALSE(ParseTaskConfig("num_params = 10\ntraining.learning_rate = nan\n").ok());
  EXPECT_FALSE(ParseTaskConfig("num_params = 10\nstrategy.name = nope\n").ok());
  EXPECT_FALSE(ParseTaskConfig("no equals sign\n").ok());
}

}  // namespace
}  // namespace privedge::fl
