#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Values;

using testing::FloatAttr;
using testing::IntAttr;
using testing::IntsAttr;
using testing::RunOp;
using testing::StringAttr;

Tensor I64(const std::vector<int64_t>& v) {
  return Tensor::FromVector<int64_t>(v, {static_cast<int64_t>(v.size())});
}

const Tensor kX = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});

TEST(ShapeOpsTest, ReshapeZeroAndInfer) {
  auto r = RunOp("Reshape", {kX, I64({0, -1})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 3}));
  r = RunOp("Reshape", {kX, I64({-1})});
  EXPECT_EQ((*r)[0].shape(), (Shape{6}));
  EXPECT_FALSE(RunOp("Reshape", {kX, I64({4, -1})}).ok());
  EXPECT_FALSE(RunOp("Reshape", {kX, I64({-1, -1})}).ok());
  // allowzero keeps a literal 0, which cannot hold 6 elements.
  EXPECT_FALSE(RunOp("Reshape", {kX, I64({0, 6})}, {{"allowzero", IntAttr(1)}}).ok());
  r = RunOp("Reshape", {kX}, {{"shape", IntsAttr({3, 2})}}, 1, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{3, 2}));
}

TEST(ShapeOpsTest, ShapeSizeFlatten) {
  auto r = RunOp("Shape", {kX}, {{"start", IntAttr(-1)}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{3}));
  r = RunOp("Size", {kX});
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{6}));
  r = RunOp("Flatten", {kX}, {{"axis", IntAttr(0)}});
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 6}));
  EXPECT_FALSE(RunOp("Flatten", {kX}, {{"axis", IntAttr(3)}}).ok());
}

TEST(ShapeOpsTest, SqueezeUnsqueeze) {
  Tensor x = Tensor::FromVector<float>({1, 2, 3}, {1, 3, 1});
  auto r = RunOp("Squeeze", {x});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].shape(), (Shape{3}));
  r = RunOp("Squeeze", {x, I64({-1})});
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 3}));
  EXPECT_FALSE(RunOp("Squeeze", {x, I64({1})}).ok());
  r = RunOp("Unsqueeze", {kX, I64({3, -4})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 2, 3, 1}));
  r = RunOp("Unsqueeze", {kX}, {{"axes", IntsAttr({1})}}, 1, 11);
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 1, 3}));
  EXPECT_FALSE(RunOp("Unsqueeze", {kX, I64({1, 1})}).ok());
}

TEST(ShapeOpsTest, TransposeConcatSplit) {
  auto r = RunOp("Transpose", {kX});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_FALSE(RunOp("Transpose", {kX}, {{"perm", IntsAttr({0, 0})}}).ok());
  r = RunOp("Concat", {kX, kX}, {{"axis", IntAttr(-1)}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}));
  r = RunOp("Split", {kX, I64({1, 0, 2})}, {{"axis", IntAttr(1)}}, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 4}));
  EXPECT_EQ((*r)[1].shape(), (Shape{2, 0}));
  EXPECT_EQ(Values<float>((*r)[2]), (std::vector<float>{2, 3, 5, 6}));
  r = RunOp("Split", {kX}, {{"axis", IntAttr(1)}, {"split", IntsAttr({2, 1})}}, 2, 11);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[1]), (std::vector<float>{3, 6}));
  EXPECT_FALSE(RunOp("Split", {kX}, {{"axis", IntAttr(1)}}, 2).ok());
}

TEST(ShapeOpsTest, ExpandTile) {
  Tensor col = Tensor::FromVector<int32_t>({1, 2}, {2, 1});
  auto r = RunOp("Expand", {col, I64({2, 2})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{1, 1, 2, 2}));
  r = RunOp("Tile", {col, I64({1, 2})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{1, 1, 2, 2}));
  r = RunOp("Tile", {col, I64({2, 1})});
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{1, 2, 1, 2}));
  EXPECT_FALSE(RunOp("Tile", {col, I64({2})}).ok());
}

TEST(ShapeOpsTest, StringsMoveElementwise) {
  Tensor s = Tensor::FromVector<std::string>({"a", "b", "c", "d"}, {2, 2});
  auto r = RunOp("Transpose", {s});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<std::string>((*r)[0]), (std::vector<std::string>{"a", "c", "b", "d"}));
}

TEST(ShapeOpsTest, DepthSpaceRoundTrip) {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i);
  Tensor x = Tensor::FromVector<float>(v, {1, 4, 2, 2});
  auto d = RunOp("DepthToSpace", {x}, {{"blocksize", IntAttr(2)}});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ((*d)[0].shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(Values<float>((*d)[0])[1], 4.0f);  // channel 1 fills the second column
  auto s = RunOp("SpaceToDepth", {(*d)[0]}, {{"blocksize", IntAttr(2)}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Values<float>((*s)[0]), v);
  EXPECT_FALSE(RunOp("DepthToSpace", {x}, {{"blocksize", IntAttr(3)}}).ok());
  auto crd = RunOp("DepthToSpace", {x}, {{"blocksize", IntAttr(2)}, {"mode", StringAttr("CRD")}});
  ASSERT_TRUE(crd.ok());
  EXPECT_EQ(Values<float>((*crd)[0])[1], 4.0f);
}

TEST(ShapeOpsTest, Generators) {
  auto r = RunOp("Range", {Tensor::Scalar<int32_t>(10), Tensor::Scalar<int32_t>(4),
                           Tensor::Scalar<int32_t>(-3)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{10, 7}));
  // A float range far below zero elements (found by fuzz_onnx_loader: the count -3e68 overflowed
  // the int64 conversion) is empty.
  r = RunOp("Range", {Tensor::Scalar<float>(3e30f), Tensor::Scalar<float>(-3e30f),
                      Tensor::Scalar<float>(1e-38f)});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].numel(), 0);
  r = RunOp("EyeLike", {Tensor(DType::kInt32, {2, 3})}, {{"k", IntAttr(1)}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{0, 1, 0, 0, 0, 1}));
  r = RunOp("Trilu", {kX, I64({1})}, {{"upper", IntAttr(0)}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, 0, 4, 5, 6}));
  r = RunOp("ConstantOfShape", {I64({2})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{0, 0}));
  r = RunOp("Constant", {}, {{"value_floats", testing::FloatsAttr({1.5f})}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1.5f}));
}

TEST(ShapeOpsTest, DropoutInferenceAndZeroRatio) {
  auto r = RunOp("Dropout", {kX}, {}, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values<float>((*r)[0]), Values<float>(kX));
  EXPECT_EQ((*r)[1].dtype(), DType::kBool);
  r = RunOp("Dropout", {kX, Tensor::Scalar<float>(0.75f), Tensor::Scalar<bool>(true)},
            {{"seed", IntAttr(1)}}, 2);
  ASSERT_TRUE(r.ok());
  for (int64_t i = 0; i < 6; ++i) {
    const float y = (*r)[0].data<float>()[i];
    const bool kept = (*r)[1].data<bool>()[i];
    EXPECT_EQ(y, kept ? kX.data<float>()[i] * 4 : 0.0f);
  }
  EXPECT_FALSE(RunOp("Dropout", {kX}, {{"ratio", FloatAttr(1.5f)}}, 1, 10).ok());
}

}  // namespace
}  // namespace privedge
