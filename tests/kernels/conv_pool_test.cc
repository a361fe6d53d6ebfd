#include <gtest/gtest.h>

#include <cmath>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Values;

using testing::FloatAttr;
using testing::IntAttr;
using testing::IntsAttr;
using testing::RunOp;
using testing::StringAttr;

std::vector<float> Iota(int n) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return v;
}

TEST(ConvPoolTest, Conv2DWithBias) {
  Tensor x = Tensor::FromVector<float>(Iota(9), {1, 1, 3, 3});
  Tensor w = Tensor::FromVector<float>({1, 1, 1, 1}, {1, 1, 2, 2});
  Tensor b = Tensor::FromVector<float>({1}, {1});
  auto r = RunOp("Conv", {x, w, b});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{9, 13, 21, 25}));
  // SAME_UPPER pads one on each side for a 3x3 kernel at stride 1.
  Tensor w3 = Tensor::FromVector<float>(std::vector<float>(9, 1), {1, 1, 3, 3});
  auto same = RunOp("Conv", {x, w3}, {{"auto_pad", StringAttr("SAME_UPPER")}});
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(Values<float>((*same)[0]), (std::vector<float>{8, 15, 12, 21, 36, 27, 20, 33, 24}));
}

TEST(ConvPoolTest, Conv1DStridePadAndGroups) {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5}, {1, 1, 5});
  Tensor w = Tensor::FromVector<float>({1, 1, 1}, {1, 1, 3});
  auto r = RunOp("Conv", {x, w}, {{"pads", IntsAttr({1, 1})}, {"strides", IntsAttr({2})}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 9, 9}));
  auto dil = RunOp("Conv", {x, w}, {{"dilations", IntsAttr({2})}});
  ASSERT_TRUE(dil.ok());
  EXPECT_EQ(Values<float>((*dil)[0]), (std::vector<float>{9}));
  // Depthwise: each channel scaled by its own weight.
  Tensor x2 = Tensor::FromVector<float>({1, 2, 3, 4}, {1, 2, 2});
  Tensor wd = Tensor::FromVector<float>({2, 3}, {2, 1, 1});
  auto dw = RunOp("Conv", {x2, wd}, {{"group", IntAttr(2)}});
  ASSERT_TRUE(dw.ok()) << dw.status().ToString();
  EXPECT_EQ(Values<float>((*dw)[0]), (std::vector<float>{2, 4, 9, 12}));
  // Channel mismatch and malformed attributes are errors, not crashes.
  EXPECT_FALSE(RunOp("Conv", {x2, w}).ok());
  EXPECT_FALSE(RunOp("Conv", {x, w}, {{"pads", IntsAttr({1})}}).ok());
  EXPECT_FALSE(RunOp("Conv", {x, w}, {{"strides", IntsAttr({0})}}).ok());
  EXPECT_FALSE(RunOp("Conv", {x2, wd}, {{"group", IntAttr(3)}}).ok());
}

TEST(ConvPoolTest, Conv3DDouble) {
  Tensor x = Tensor::FromVector<double>(std::vector<double>(8, 1.5), {1, 1, 2, 2, 2});
  Tensor w = Tensor::FromVector<double>(std::vector<double>(8, 2), {1, 1, 2, 2, 2});
  auto r = RunOp("Conv", {x, w});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<double>((*r)[0]), (std::vector<double>{24}));
}

TEST(ConvPoolTest, ConvFloat16AccumulatesInFloat) {
  // 2048 + 1 + 1 is not representable step by step in float16 (spacing 2 above 2048).
  Tensor x = Tensor::FromVector<Float16>({Float16(2048), Float16(1), Float16(1)}, {1, 1, 3});
  Tensor w = Tensor::FromVector<Float16>({Float16(1), Float16(1), Float16(1)}, {1, 1, 3});
  auto r = RunOp("Conv", {x, w});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].dtype(), DType::kFloat16);
  EXPECT_EQ(static_cast<float>((*r)[0].data<Float16>()[0]), 2050.0f);
}

TEST(ConvPoolTest, ConvTranspose) {
  Tensor x = Tensor::FromVector<float>({1, 2}, {1, 1, 2});
  Tensor w = Tensor::FromVector<float>({1, 1, 1}, {1, 1, 3});
  auto r = RunOp("ConvTranspose", {x, w});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 3, 3, 2}));
  auto s2 = RunOp("ConvTranspose", {x, w}, {{"strides", IntsAttr({2})}});
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(Values<float>((*s2)[0]), (std::vector<float>{1, 1, 3, 2, 2}));
  // A larger output_shape leaves the extra positions at zero.
  auto os = RunOp("ConvTranspose", {x, w},
                  {{"strides", IntsAttr({2})}, {"output_shape", IntsAttr({6})}});
  ASSERT_TRUE(os.ok());
  EXPECT_EQ(Values<float>((*os)[0]), (std::vector<float>{1, 1, 3, 2, 2, 0}));
  auto pads = RunOp("ConvTranspose", {x, w}, {{"pads", IntsAttr({1, 1})}});
  ASSERT_TRUE(pads.ok());
  EXPECT_EQ(Values<float>((*pads)[0]), (std::vector<float>{3, 3}));
  // Two groups of one channel each, two output channels per group.
  Tensor xg = Tensor::FromVector<float>({1, 2}, {1, 2, 1});
  Tensor wg = Tensor::FromVector<float>({1, 10, 100, 1000}, {2, 2, 1});
  auto g = RunOp("ConvTranspose", {xg, wg}, {{"group", IntAttr(2)}});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(Values<float>((*g)[0]), (std::vector<float>{1, 10, 200, 2000}));
}

TEST(ConvPoolTest, MaxPoolIndicesAndStorageOrder) {
  Tensor x = Tensor::FromVector<float>({1, 5, 2, 4, 3, 6}, {1, 1, 2, 3});
  auto r = RunOp("MaxPool", {x}, {{"kernel_shape", IntsAttr({2, 2})}}, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{5, 6}));
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{1, 5}));
  auto col = RunOp("MaxPool", {x},
                   {{"kernel_shape", IntsAttr({2, 2})}, {"storage_order", IntAttr(1)}}, 2);
  ASSERT_TRUE(col.ok());
  EXPECT_EQ(Values<int64_t>((*col)[1]), (std::vector<int64_t>{2, 5}));
  EXPECT_FALSE(RunOp("MaxPool", {x}).ok());  // kernel_shape is required
}

TEST(ConvPoolTest, MaxPoolCeilModeAndInt8Padding) {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4}, {1, 1, 4});
  std::map<std::string, Attribute> attrs = {{"kernel_shape", IntsAttr({3})},
                                            {"strides", IntsAttr({2})}};
  auto floor = RunOp("MaxPool", {x}, attrs);
  ASSERT_TRUE(floor.ok());
  EXPECT_EQ(Values<float>((*floor)[0]), (std::vector<float>{3}));
  attrs["ceil_mode"] = IntAttr(1);
  auto ceil = RunOp("MaxPool", {x}, attrs);
  ASSERT_TRUE(ceil.ok());
  EXPECT_EQ(Values<float>((*ceil)[0]), (std::vector<float>{3, 4}));
  // Padding never wins a max, even against negative values.
  Tensor xi = Tensor::FromVector<int8_t>({-5, -3}, {1, 1, 2});
  auto ri = RunOp("MaxPool", {xi}, {{"kernel_shape", IntsAttr({2})}, {"pads", IntsAttr({1, 1})}});
  ASSERT_TRUE(ri.ok()) << ri.status().ToString();
  EXPECT_EQ(Values<int8_t>((*ri)[0]), (std::vector<int8_t>{-5, -3, -3}));
}

TEST(ConvPoolTest, AverageAndLpPool) {
  Tensor x = Tensor::FromVector<float>({3, 6, 9}, {1, 1, 3});
  std::map<std::string, Attribute> attrs = {{"kernel_shape", IntsAttr({2})},
                                            {"pads", IntsAttr({1, 1})}};
  auto ex = RunOp("AveragePool", {x}, attrs);
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  EXPECT_EQ(Values<float>((*ex)[0]), (std::vector<float>{3, 4.5, 7.5, 9}));
  attrs["count_include_pad"] = IntAttr(1);
  auto in = RunOp("AveragePool", {x}, attrs);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(Values<float>((*in)[0]), (std::vector<float>{1.5, 4.5, 7.5, 4.5}));
  Tensor y = Tensor::FromVector<float>({3, -4}, {1, 1, 2});
  auto lp = RunOp("LpPool", {y}, {{"kernel_shape", IntsAttr({2})}});
  ASSERT_TRUE(lp.ok()) << lp.status().ToString();
  EXPECT_FLOAT_EQ(Values<float>((*lp)[0])[0], 5.0f);
}

TEST(ConvPoolTest, GlobalPools) {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, -1, -2, -3, -4}, {1, 2, 2, 2});
  auto avg = RunOp("GlobalAveragePool", {x});
  ASSERT_TRUE(avg.ok());
  EXPECT_EQ((*avg)[0].shape(), (Shape{1, 2, 1, 1}));
  EXPECT_EQ(Values<float>((*avg)[0]), (std::vector<float>{2.5, -2.5}));
  auto mx = RunOp("GlobalMaxPool", {x});
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ(Values<float>((*mx)[0]), (std::vector<float>{4, -1}));
  auto lp = RunOp("GlobalLpPool", {x}, {{"p", IntAttr(1)}});
  ASSERT_TRUE(lp.ok());
  EXPECT_EQ(Values<float>((*lp)[0]), (std::vector<float>{10, 10}));
}

TEST(ConvPoolTest, MaxUnpool) {
  Tensor x = Tensor::FromVector<float>({5, 6}, {1, 1, 2});
  Tensor i = Tensor::FromVector<int64_t>({0, 3}, {1, 1, 2});
  std::map<std::string, Attribute> attrs = {{"kernel_shape", IntsAttr({2})},
                                            {"strides", IntsAttr({2})}};
  auto r = RunOp("MaxUnpool", {x, i}, attrs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{5, 0, 0, 6}));
  Tensor shape = Tensor::FromVector<int64_t>({1, 1, 5}, {3});
  auto wide = RunOp("MaxUnpool", {x, i, shape}, attrs);
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(Values<float>((*wide)[0]), (std::vector<float>{5, 0, 0, 6, 0}));
  Tensor bad = Tensor::FromVector<int64_t>({0, 4}, {1, 1, 2});
  EXPECT_FALSE(RunOp("MaxUnpool", {x, bad}, attrs).ok());
}

TEST(ConvPoolTest, RejectsHostileWindows) {
  Tensor x = Tensor::FromVector<float>({1}, {1, 1, 1});
  const int64_t big = int64_t{1} << 31;
  EXPECT_FALSE(RunOp("MaxPool", {x},
                     {{"kernel_shape", IntsAttr({big})}, {"pads", IntsAttr({big, big})}})
                   .ok());
  EXPECT_FALSE(
      RunOp("AveragePool", {x}, {{"kernel_shape", IntsAttr({1})}, {"pads", IntsAttr({big, big})}})
          .ok());
  EXPECT_FALSE(RunOp("MaxPool", {x}, {{"kernel_shape", IntsAttr({2})}}).ok());
  Tensor w = Tensor::FromVector<float>({1}, {1, 1, 1});
  Tensor x2 = Tensor::FromVector<float>({1}, {1, 1, 1, 1});
  Tensor w2 = Tensor::FromVector<float>({1}, {1, 1, 1, 1});
  EXPECT_FALSE(
      RunOp("ConvTranspose", {x2, w2}, {{"output_shape", IntsAttr({big, big})}}).ok());
  EXPECT_FALSE(RunOp("Conv", {x, w}, {{"dilations", IntsAttr({-1})}}).ok());
  EXPECT_FALSE(RunOp("Conv", {x, w}, {{"auto_pad", StringAttr("SAME")}}).ok());
}

TEST(ConvPoolTest, LRN) {
  Tensor x = Tensor::FromVector<float>({1, 2}, {1, 2, 1, 1});
  auto r = RunOp("LRN", {x},
                 {{"size", IntAttr(2)}, {"alpha", FloatAttr(1)}, {"beta", FloatAttr(1)},
                  {"bias", FloatAttr(1)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Channel c sums squares over [c, c + 1].
  EXPECT_FLOAT_EQ(Values<float>((*r)[0])[0], 1.0f / 3.5f);
  EXPECT_FLOAT_EQ(Values<float>((*r)[0])[1], 2.0f / 3.0f);
}

}  // namespace
}  // namespace privedge
