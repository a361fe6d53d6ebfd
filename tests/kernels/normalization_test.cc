#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Floats;

using testing::FloatAttr;
using testing::IntAttr;
using testing::IntsAttr;
using testing::RunOp;

Tensor Vec(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<float>(v, {n});
}

TEST(NormalizationTest, BatchNormInference) {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4}, {1, 2, 1, 2});
  auto r = RunOp("BatchNormalization", {x, Vec({1, 2}), Vec({0, 1}), Vec({1, 3}), Vec({1, 4})},
                 {{"epsilon", FloatAttr(0)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{0, 1, 1, 2}));
  EXPECT_FALSE(RunOp("BatchNormalization", {x, Vec({1}), Vec({0, 1}), Vec({1, 3}), Vec({1, 4})})
                   .ok());
}

TEST(NormalizationTest, BatchNormTrainingUpdatesRunningStats) {
  Tensor x = Tensor::FromVector<float>({1, 3}, {2, 1});
  auto r = RunOp("BatchNormalization", {x, Vec({1}), Vec({0}), Vec({0}), Vec({1})},
                 {{"epsilon", FloatAttr(0)}, {"momentum", FloatAttr(0.5)},
                  {"training_mode", IntAttr(1)}},
                 3, 15);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{-1, 1}));
  EXPECT_EQ(Floats((*r)[1]), (std::vector<float>{1}));  // 0 * 0.5 + 2 * 0.5
  EXPECT_EQ(Floats((*r)[2]), (std::vector<float>{1}));  // 1 * 0.5 + 1 * 0.5
}

TEST(NormalizationTest, InstanceNorm) {
  Tensor x = Tensor::FromVector<float>({1, 3}, {1, 1, 2});
  auto r = RunOp("InstanceNormalization", {x, Vec({2}), Vec({1})}, {{"epsilon", FloatAttr(0)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{-1, 3}));
}

TEST(NormalizationTest, LayerNormWithStatistics) {
  Tensor x = Tensor::FromVector<float>({1, 3, 2, 6}, {2, 2});
  auto r = RunOp("LayerNormalization", {x, Vec({1, 2}), Vec({0, 1})},
                 {{"epsilon", FloatAttr(0)}}, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{-1, 3, -1, 3}));
  EXPECT_EQ((*r)[1].shape(), (Shape{2, 1}));
  EXPECT_EQ(Floats((*r)[1]), (std::vector<float>{2, 4}));
  EXPECT_EQ(Floats((*r)[2]), (std::vector<float>{1, 0.5}));
  EXPECT_FALSE(RunOp("LayerNormalization", {x, Vec({1, 2, 3})}).ok());
  EXPECT_FALSE(RunOp("LayerNormalization", {x, Vec({1, 2})}, {{"axis", IntAttr(2)}}).ok());
}

TEST(NormalizationTest, MeanVarianceNormalization) {
  Tensor x = Tensor::FromVector<float>({1, 3, 5, 9}, {1, 2, 1, 2});
  auto r = RunOp("MeanVarianceNormalization", {x});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<float> y = Floats((*r)[0]);
  const std::vector<float> expected = {-1, 1, -1, 1};
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-6);
  auto all = RunOp("MeanVarianceNormalization", {x}, {{"axes", IntsAttr({0, 1, 2, 3})}});
  ASSERT_TRUE(all.ok());
  EXPECT_LT(Floats((*all)[0])[0], -1.0f);
}

}  // namespace
}  // namespace privedge
