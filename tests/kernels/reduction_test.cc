#include <gtest/gtest.h>

#include <cmath>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Floats;
using testing::Ints;

using testing::IntAttr;
using testing::IntsAttr;
using testing::RunOp;

const Tensor kX = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});

TEST(ReductionTest, ReduceSumAxesInput) {
  auto r = RunOp("ReduceSum", {kX, Tensor::FromVector<int64_t>({1}, {1})},
                 {{"keepdims", IntAttr(0)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2}));
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{6, 15}));
}

TEST(ReductionTest, ReduceSumAxesAttributeBeforeOpset13) {
  auto r = RunOp("ReduceSum", {kX}, {{"axes", IntsAttr({0})}}, 1, 11);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{5, 7, 9}));
}

TEST(ReductionTest, ReduceSumEmptyAxes) {
  auto all = RunOp("ReduceSum", {kX});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0].shape(), (Shape{1, 1}));
  EXPECT_EQ(Floats((*all)[0]), (std::vector<float>{21}));
  auto noop = RunOp("ReduceSum", {kX}, {{"noop_with_empty_axes", IntAttr(1)}});
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ(Floats((*noop)[0]), Floats(kX));
}

TEST(ReductionTest, AttributeAxesKinds) {
  auto run = [](const char* op) {
    auto r = RunOp(op, {kX}, {{"axes", IntsAttr({-2})}});
    EXPECT_TRUE(r.ok()) << op;
    EXPECT_EQ((*r)[0].shape(), (Shape{1, 3})) << op;
    return Floats((*r)[0]);
  };
  EXPECT_EQ(run("ReduceMean"), (std::vector<float>{2.5f, 3.5f, 4.5f}));
  EXPECT_EQ(run("ReduceMax"), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(run("ReduceMin"), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(run("ReduceProd"), (std::vector<float>{4, 10, 18}));
  EXPECT_EQ(run("ReduceSumSquare"), (std::vector<float>{17, 29, 45}));
  EXPECT_EQ(run("ReduceL1"), (std::vector<float>{5, 7, 9}));
  EXPECT_NEAR(run("ReduceL2")[0], std::sqrt(17.0f), 1e-6);
  EXPECT_NEAR(run("ReduceLogSum")[0], std::log(5.0f), 1e-6);
  EXPECT_NEAR(run("ReduceLogSumExp")[2], std::log(std::exp(3.0f) + std::exp(6.0f)), 1e-5);
}

TEST(ReductionTest, IntegerAndBadAxes) {
  auto r = RunOp("ReduceMax", {Tensor::FromVector<int32_t>({3, -7, 9, 2}, {4})},
                 {{"keepdims", IntAttr(0)}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].data<int32_t>()[0], 9);
  EXPECT_FALSE(RunOp("ReduceMean", {kX}, {{"axes", IntsAttr({2})}}).ok());
  EXPECT_FALSE(RunOp("ReduceMean", {kX}, {{"axes", IntsAttr({0, -2})}}).ok());
}

TEST(ReductionTest, ArgMaxArgMin) {
  Tensor x = Tensor::FromVector<float>({2, 1, 2, 0, 5, 0}, {2, 3});
  auto mx = RunOp("ArgMax", {x}, {{"axis", IntAttr(1)}, {"keepdims", IntAttr(0)}});
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ(Ints((*mx)[0]), (std::vector<int64_t>{0, 1}));
  auto last = RunOp("ArgMax", {x}, {{"axis", IntAttr(1)}, {"select_last_index", IntAttr(1)}});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ((*last)[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(Ints((*last)[0]), (std::vector<int64_t>{2, 1}));
  auto mn = RunOp("ArgMin", {x}, {{"axis", IntAttr(1)}, {"select_last_index", IntAttr(1)}});
  ASSERT_TRUE(mn.ok());
  EXPECT_EQ(Ints((*mn)[0]), (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(RunOp("ArgMax", {x}, {{"axis", IntAttr(2)}}).ok());
}

TEST(ReductionTest, CumSum) {
  Tensor x = Tensor::FromVector<double>({1, 2, 3, 4}, {4});
  Tensor axis = Tensor::Scalar<int32_t>(0);
  auto plain = RunOp("CumSum", {x, axis});
  ASSERT_TRUE(plain.ok());
  const double* p = (*plain)[0].data<double>();
  EXPECT_EQ(std::vector<double>(p, p + 4), (std::vector<double>{1, 3, 6, 10}));
  auto rev = RunOp("CumSum", {x, axis}, {{"exclusive", IntAttr(1)}, {"reverse", IntAttr(1)}});
  ASSERT_TRUE(rev.ok());
  const double* q = (*rev)[0].data<double>();
  EXPECT_EQ(std::vector<double>(q, q + 4), (std::vector<double>{9, 7, 4, 0}));
  EXPECT_FALSE(RunOp("CumSum", {x, Tensor::Scalar<int64_t>(1)}).ok());
}

TEST(ReductionTest, TopKTiesKeepLowerIndex) {
  Tensor x = Tensor::FromVector<float>({3, 1, 3, 2, 3}, {5});
  auto r = RunOp("TopK", {x, Tensor::FromVector<int64_t>({3}, {1})}, {}, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{3, 3, 3}));
  EXPECT_EQ(Ints((*r)[1]), (std::vector<int64_t>{0, 2, 4}));
  auto small = RunOp("TopK", {x, Tensor::FromVector<int64_t>({2}, {1})},
                     {{"largest", IntAttr(0)}}, 2);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(Ints((*small)[1]), (std::vector<int64_t>{1, 3}));
  EXPECT_FALSE(RunOp("TopK", {x, Tensor::FromVector<int64_t>({6}, {1})}, {}, 2).ok());
  auto v1 = RunOp("TopK", {x}, {{"k", IntAttr(1)}}, 2, 1);  // k is an attribute before 10
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  EXPECT_EQ(Ints((*v1)[1]), (std::vector<int64_t>{0}));
}

}  // namespace
}  // namespace privedge
