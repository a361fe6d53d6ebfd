#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::FloatAttr;
using testing::Floats;
using testing::IntAttr;
using testing::RunOp;
using testing::StringAttr;

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "at " << i;
}

Tensor Image2x2() { return Tensor::FromVector<float>({1, 2, 3, 4}, {1, 1, 2, 2}); }

TEST(ImageTest, ResizeNearestScales) {
  Tensor scales = Tensor::FromVector<float>({1, 1, 2, 2}, {4});
  auto r =
      RunOp("Resize", {Image2x2(), Tensor(), scales}, {{"mode", StringAttr("nearest")}}, 1, 13);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
}

TEST(ImageTest, ResizeLinearAlignCornersSizes) {
  Tensor sizes = Tensor::FromVector<int64_t>({1, 1, 3, 3}, {4});
  auto r = RunOp("Resize", {Image2x2(), Tensor(), Tensor(), sizes},
                 {{"mode", StringAttr("linear")},
                  {"coordinate_transformation_mode", StringAttr("align_corners")}},
                 1, 13);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear(Floats((*r)[0]), {1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4});
}

TEST(ImageTest, ResizeIntegerCubicAndCropExtrapolation) {
  // Identity-size cubic resize must reproduce integer input exactly.
  Tensor x = Tensor::FromVector<int32_t>({5, -7, 9, 100}, {2, 2});
  Tensor sizes = Tensor::FromVector<int64_t>({2, 2}, {2});
  auto r = RunOp("Resize", {x, Tensor(), Tensor(), sizes}, {{"mode", StringAttr("cubic")}}, 1, 13);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::Values<int32_t>((*r)[0]), (std::vector<int32_t>{5, -7, 9, 100}));

  // A crop entirely right of the input yields the extrapolation value.
  Tensor roi = Tensor::FromVector<float>({0, 0, 2, 2, 1, 1, 3, 3}, {8});
  Tensor sizes4 = Tensor::FromVector<int64_t>({1, 1, 2, 2}, {4});
  auto c = RunOp("Resize", {Image2x2(), roi, Tensor(), sizes4},
                 {{"mode", StringAttr("linear")},
                  {"coordinate_transformation_mode", StringAttr("tf_crop_and_resize")},
                  {"extrapolation_value", FloatAttr(-1)}},
                 1, 13);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(Floats((*c)[0]), (std::vector<float>{-1, -1, -1, -1}));
}

TEST(ImageTest, ResizeRejectsBadInputs) {
  Tensor scales = Tensor::FromVector<float>({1, 1, 2, 2}, {4});
  Tensor sizes = Tensor::FromVector<int64_t>({1, 1, 4, 4}, {4});
  EXPECT_FALSE(RunOp("Resize", {Image2x2(), Tensor(), scales, sizes}, {}, 1, 13).ok());
  EXPECT_FALSE(
      RunOp("Resize", {Image2x2(), Tensor(), Tensor::FromVector<float>({2}, {1})}, {}, 1, 13).ok());
  EXPECT_FALSE(RunOp("Resize", {Image2x2(), Tensor(), Tensor::FromVector<float>({1, 1, 0, 1}, {4})},
                     {}, 1, 13)
                   .ok());
  EXPECT_FALSE(
      RunOp("Resize", {Image2x2(), Tensor(), scales}, {{"mode", StringAttr("area")}}, 1, 13).ok());
}

TEST(ImageTest, ResizeOpsetVariants) {
  // Resize-10 takes (X, scales) and floors asymmetric coordinates like Upsample.
  Tensor scales = Tensor::FromVector<float>({1, 1, 1, 1.5f}, {4});
  auto r10 = RunOp("Resize", {Image2x2(), scales}, {}, 1, 10);
  ASSERT_TRUE(r10.ok()) << r10.status().ToString();
  EXPECT_EQ(Floats((*r10)[0]), (std::vector<float>{1, 1, 2, 3, 3, 4}));
  // Resize-18 axes with keep_aspect_ratio_policy: one common scale min(4/2, 3/2).
  Tensor sizes = Tensor::FromVector<int64_t>({4, 3}, {2});
  auto r18 = RunOp(
      "Resize", {Image2x2(), Tensor(), Tensor(), sizes},
      {{"axes", testing::IntsAttr({2, 3})}, {"keep_aspect_ratio_policy", StringAttr("not_larger")}},
      1, 18);
  ASSERT_TRUE(r18.ok()) << r18.status().ToString();
  EXPECT_EQ((*r18)[0].shape(), (Shape{1, 1, 3, 3}));
  // Nearest mode copies elements of any type, strings included.
  Tensor s = Tensor::FromVector<std::string>({"a", "b"}, {2});
  auto rs =
      RunOp("Resize", {s, Tensor(), Tensor(), Tensor::FromVector<int64_t>({4}, {1})}, {}, 1, 13);
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  EXPECT_EQ(testing::Values<std::string>((*rs)[0]), (std::vector<std::string>{"a", "a", "b", "b"}));
}

TEST(ImageTest, UpsampleLegacy) {
  Tensor scales = Tensor::FromVector<float>({1, 1, 1, 2}, {4});
  auto r = RunOp("Upsample", {Image2x2(), scales}, {{"mode", StringAttr("nearest")}}, 1, 9);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{1, 1, 2, 2, 3, 3, 4, 4}));
  auto lin =
      RunOp("Upsample", {Image2x2()},
            {{"mode", StringAttr("linear")}, {"scales", testing::FloatsAttr({1, 1, 1, 2})}}, 1, 7);
  ASSERT_TRUE(lin.ok()) << lin.status().ToString();
  ExpectNear(Floats((*lin)[0]), {1, 1.5, 2, 2, 3, 3.5, 4, 4});
}

TEST(ImageTest, GridSampleIdentityAndPadding) {
  // With align_corners the corners of the grid hit the corner pixels exactly.
  Tensor grid = Tensor::FromVector<float>({-1, -1, 1, -1, -1, 1, 1, 1}, {1, 2, 2, 2});
  auto r = RunOp("GridSample", {Image2x2(), grid}, {{"align_corners", IntAttr(1)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectNear(Floats((*r)[0]), {1, 2, 3, 4});
  // Far outside: zeros padding reads 0, border padding clamps to the edge.
  Tensor far = Tensor::FromVector<float>({5, 5}, {1, 1, 1, 2});
  auto z = RunOp("GridSample", {Image2x2(), far}, {});
  ASSERT_TRUE(z.ok());
  ExpectNear(Floats((*z)[0]), {0});
  auto b = RunOp("GridSample", {Image2x2(), far}, {{"padding_mode", StringAttr("border")}});
  ASSERT_TRUE(b.ok());
  ExpectNear(Floats((*b)[0]), {4});
  EXPECT_FALSE(
      RunOp("GridSample", {Image2x2(), Tensor::FromVector<float>({0}, {1, 1, 1, 1})}).ok());
}

TEST(ImageTest, RoiAlignConstantAndBadIndex) {
  Tensor x = Tensor::FromVector<float>(std::vector<float>(16, 3.0f), {1, 1, 4, 4});
  Tensor rois = Tensor::FromVector<float>({0, 0, 3, 3}, {1, 4});
  auto r = RunOp("RoiAlign", {x, rois, Tensor::FromVector<int64_t>({0}, {1})},
                 {{"output_height", IntAttr(2)}, {"output_width", IntAttr(2)}}, 1, 16);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 2, 2}));
  ExpectNear(Floats((*r)[0]), {3, 3, 3, 3});
  EXPECT_FALSE(RunOp("RoiAlign", {x, rois, Tensor::FromVector<int64_t>({1}, {1})}, {}, 1, 16).ok());
}

TEST(ImageTest, NonMaxSuppressionKeepsBestOfOverlap) {
  Tensor boxes = Tensor::FromVector<float>({0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 5, 1, 6}, {1, 3, 4});
  Tensor scores = Tensor::FromVector<float>({0.5f, 0.9f, 0.3f}, {1, 1, 3});
  auto r = RunOp("NonMaxSuppression",
                 {boxes, scores, Tensor::FromVector<int64_t>({10}, {1}),
                  Tensor::FromVector<float>({0.5f}, {1}), Tensor()},
                 {}, 1, 11);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(testing::Ints((*r)[0]), (std::vector<int64_t>{0, 0, 1, 0, 0, 2}));
  EXPECT_FALSE(
      RunOp("NonMaxSuppression", {boxes, Tensor::FromVector<float>({1}, {1, 1, 1})}, {}, 1, 11)
          .ok());
}

}  // namespace
}  // namespace privedge
