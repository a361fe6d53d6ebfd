#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Floats;

using testing::FloatAttr;
using testing::IntAttr;
using testing::RunOp;
using testing::StringAttr;

TEST(MatMulTest, BatchedBroadcastAndVectors) {
  Tensor a = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  Tensor b = Tensor::FromVector<float>({1, 0, 0, 1}, {2, 2});
  auto r = RunOp("MatMul", {a, b});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(Floats((*r)[0]), Floats(a));
  Tensor v = Tensor::FromVector<float>({1, 1}, {2});
  auto mv = RunOp("MatMul", {a, v});
  ASSERT_TRUE(mv.ok());
  EXPECT_EQ((*mv)[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(Floats((*mv)[0]), (std::vector<float>{3, 7, 11, 15}));
  auto vv = RunOp("MatMul", {v, v});
  ASSERT_TRUE(vv.ok());
  EXPECT_EQ((*vv)[0].shape(), Shape{});
  EXPECT_EQ(Floats((*vv)[0]), (std::vector<float>{2}));
  EXPECT_FALSE(RunOp("MatMul", {a, Tensor::FromVector<float>({1, 2, 3}, {3})}).ok());
}

TEST(MatMulTest, GemmTransposeAlphaBetaBroadcastC) {
  Tensor a = Tensor::FromVector<float>({1, 3, 2, 4}, {2, 2});  // A^T = [[1,2],[3,4]]
  Tensor b = Tensor::FromVector<float>({1, 1, 0, 1}, {2, 2});
  Tensor c = Tensor::FromVector<float>({10, 20}, {2});
  auto r = RunOp("Gemm", {a, b, c},
                 {{"transA", IntAttr(1)}, {"alpha", FloatAttr(2)}, {"beta", FloatAttr(0.5)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // A^T B = [[1,3],[3,7]]; * 2 + 0.5 * [10, 20].
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{7, 16, 11, 24}));
  auto no_c = RunOp("Gemm", {a, b, Tensor()});
  ASSERT_TRUE(no_c.ok());
  EXPECT_EQ(Floats((*no_c)[0]), (std::vector<float>{1, 4, 2, 6}));
  EXPECT_FALSE(RunOp("Gemm", {a, b, Tensor::FromVector<float>({1, 2, 3}, {3})}).ok());
}

TEST(MatMulTest, MatMulIntegerZeroPoints) {
  Tensor a = Tensor::FromVector<uint8_t>({11, 7, 3, 10}, {2, 2});
  Tensor b = Tensor::FromVector<uint8_t>({1, 4, 2, 5}, {2, 2});
  Tensor azp = Tensor::Scalar<uint8_t>(1);
  Tensor bzp = Tensor::FromVector<uint8_t>({1, 4}, {2});
  auto r = RunOp("MatMulInteger", {a, b, azp, bzp});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // (A-1) = [[10,6],[2,9]], (B-[1,4]) = [[0,0],[1,1]].
  const int32_t* o = (*r)[0].data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(o, o + 4), (std::vector<int32_t>{6, 6, 9, 9}));
}

TEST(MatMulTest, EinsumForms) {
  Tensor a = Tensor::FromVector<double>({1, 2, 3, 4}, {2, 2});
  auto trace = RunOp("Einsum", {a}, {{"equation", StringAttr("ii")}});
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  EXPECT_EQ((*trace)[0].shape(), Shape{});
  EXPECT_EQ((*trace)[0].data<double>()[0], 5);
  auto transpose = RunOp("Einsum", {a}, {{"equation", StringAttr("ji")}});  // implicit: ij
  ASSERT_TRUE(transpose.ok());
  EXPECT_EQ((*transpose)[0].data<double>()[1], 3);
  auto mm = RunOp("Einsum", {a, a}, {{"equation", StringAttr("...ij, ...jk -> ...ik")}});
  ASSERT_TRUE(mm.ok()) << mm.status().ToString();
  const double* m = (*mm)[0].data<double>();
  EXPECT_EQ(std::vector<double>(m, m + 4), (std::vector<double>{7, 10, 15, 22}));
  auto diag = RunOp("Einsum", {a}, {{"equation", StringAttr("ii->i")}});
  ASSERT_TRUE(diag.ok());
  EXPECT_EQ((*diag)[0].data<double>()[1], 4);
  EXPECT_FALSE(RunOp("Einsum", {a}, {{"equation", StringAttr("ijk")}}).ok());
  EXPECT_FALSE(RunOp("Einsum", {a}, {{"equation", StringAttr("ij->k")}}).ok());
}

TEST(MatMulTest, Det) {
  Tensor x = Tensor::FromVector<float>({0, 1, 1, 0, 2, 0, 0, 3}, {2, 2, 2});
  auto r = RunOp("Det", {x});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2}));
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{-1, 6}));
  EXPECT_FALSE(RunOp("Det", {Tensor::FromVector<float>({1, 2}, {1, 2})}).ok());
}

}  // namespace
}  // namespace privedge
