#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Values;

using testing::FloatAttr;
using testing::IntAttr;
using testing::RunOp;
using testing::StringAttr;

template <class T>
Tensor Vec(std::vector<T> v, Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int64_t>(v.size())};
  return Tensor::FromVector<T>(v, shape);
}

// Runs a one-output op and returns its output, failing the test on error.
Tensor Run1(const std::string& op, const std::vector<Tensor>& inputs,
            const std::map<std::string, Attribute>& attrs = {}, int64_t opset = 17) {
  auto r = RunOp(op, inputs, attrs, 1, opset);
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().ToString();
  return r.ok() ? (*r)[0] : Tensor();
}

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(ElementwiseTest, UnaryMath) {
  EXPECT_EQ(Values<int8_t>(Run1("Abs", {Vec<int8_t>({-128, -3, 5})})),
            (std::vector<int8_t>{-128, 3, 5}));  // wraps like two's complement
  EXPECT_EQ(Values<int32_t>(Run1("Neg", {Vec<int32_t>({-2, 0, 7})})),
            (std::vector<int32_t>{2, 0, -7}));
  EXPECT_EQ(Values<float>(Run1("Sqrt", {Vec<float>({4, 9})})), (std::vector<float>{2, 3}));
  EXPECT_EQ(Values<float>(Run1("Round", {Vec<float>({0.5f, 1.5f, 2.5f, -1.5f, 2.4f})})),
            (std::vector<float>{0, 2, 2, -2, 2}));
  EXPECT_EQ(Values<int64_t>(Run1("Sign", {Vec<int64_t>({-5, 0, 9})})),
            (std::vector<int64_t>{-1, 0, 1}));
  Tensor half = Run1("Exp", {Vec<Float16>({Float16(0.0f), Float16(1.0f)})});
  ASSERT_EQ(half.dtype(), DType::kFloat16);
  EXPECT_NEAR(static_cast<float>(half.data<Float16>()[1]), 2.71828f, 2e-3f);
  EXPECT_FALSE(RunOp("Sqrt", {Vec<int32_t>({4})}).ok());
}

TEST(ElementwiseTest, Predicates) {
  Tensor x = Vec<float>({kInf, -kInf, kNaN, 1});
  EXPECT_EQ(Values<bool>(Run1("IsInf", {x})), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(Values<bool>(Run1("IsInf", {x}, {{"detect_negative", IntAttr(0)}})),
            (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(Values<bool>(Run1("IsNaN", {x})), (std::vector<bool>{false, false, true, false}));
  EXPECT_EQ(Values<bool>(Run1("Not", {Vec<bool>({true, false})})),
            (std::vector<bool>{false, true}));
  EXPECT_EQ(Values<float>(Run1("Identity", {x}))[3], 1.0f);
}

TEST(ElementwiseTest, ArithmeticBroadcasts) {
  Tensor a = Vec<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor sum = Run1("Add", {a, Vec<float>({10, 20, 30})});
  EXPECT_EQ(sum.shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<float>(sum), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  Tensor prod = Run1("Mul", {Vec<float>({1, 2}, {2, 1}), Vec<float>({3, 4, 5})});
  EXPECT_EQ(prod.shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<float>(prod), (std::vector<float>{3, 4, 5, 6, 8, 10}));
  EXPECT_EQ(Values<uint8_t>(Run1("Sub", {Vec<uint8_t>({1}), Vec<uint8_t>({2})})),
            (std::vector<uint8_t>{255}));
  EXPECT_FALSE(RunOp("Add", {a, Vec<float>({1, 2})}).ok());           // shapes
  EXPECT_FALSE(RunOp("Add", {a, Vec<double>({1, 2, 3})}).ok());       // types
}

TEST(ElementwiseTest, IntegerDivAndMod) {
  Tensor x = Vec<int32_t>({-7, 7, -4, 5});
  Tensor y = Vec<int32_t>({2, -2, 3, 3});
  EXPECT_EQ(Values<int32_t>(Run1("Div", {x, y})), (std::vector<int32_t>{-3, -3, -1, 1}));
  EXPECT_EQ(Values<int32_t>(Run1("Mod", {x, y})), (std::vector<int32_t>{1, -1, 2, 2}));
  EXPECT_EQ(Values<int32_t>(Run1("Mod", {x, y}, {{"fmod", IntAttr(1)}})),
            (std::vector<int32_t>{-1, 1, -1, 2}));
  EXPECT_FALSE(RunOp("Div", {x, Vec<int32_t>({1, 0, 1, 1})}).ok());
  EXPECT_FALSE(RunOp("Mod", {x, Vec<int32_t>({0})}).ok());
  auto f = Values<float>(Run1("Mod", {Vec<float>({-4.5f}), Vec<float>({2})},
                               {{"fmod", IntAttr(1)}}));
  EXPECT_FLOAT_EQ(f[0], -0.5f);
}

TEST(ElementwiseTest, PowMixedTypes) {
  EXPECT_EQ(Values<int64_t>(Run1("Pow", {Vec<int64_t>({2, 3}), Vec<float>({3, 0.5f})})),
            (std::vector<int64_t>{8, 1}));
  EXPECT_EQ(Values<float>(Run1("Pow", {Vec<float>({2, 3}), Vec<int32_t>({3, -1})})),
            (std::vector<float>{8, 1.0f / 3.0f}));
  EXPECT_EQ(Values<int32_t>(Run1("Pow", {Vec<int32_t>({3, -1, 2}), Vec<int32_t>({4, -3, -1})})),
            (std::vector<int32_t>{81, -1, 0}));
}

TEST(ElementwiseTest, BitShift) {
  Tensor x = Vec<uint8_t>({1, 128, 255});
  Tensor s = Vec<uint8_t>({3, 1, 9});
  EXPECT_EQ(Values<uint8_t>(Run1("BitShift", {x, s}, {{"direction", StringAttr("LEFT")}})),
            (std::vector<uint8_t>{8, 0, 0}));
  EXPECT_EQ(Values<uint8_t>(Run1("BitShift", {x, s}, {{"direction", StringAttr("RIGHT")}})),
            (std::vector<uint8_t>{0, 64, 0}));
  EXPECT_FALSE(RunOp("BitShift", {x, s}, {{"direction", StringAttr("UP")}}).ok());
  EXPECT_FALSE(RunOp("BitShift", {Vec<int8_t>({1}), Vec<int8_t>({1})},
                     {{"direction", StringAttr("LEFT")}}).ok());
}

TEST(ElementwiseTest, ComparisonAndLogic) {
  Tensor a = Vec<int32_t>({1, 5, 3});
  Tensor b = Vec<int32_t>({3});
  EXPECT_EQ(Values<bool>(Run1("Less", {a, b})), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(Values<bool>(Run1("GreaterOrEqual", {a, b})), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(Values<bool>(Run1("Equal", {Vec<std::string>({"a", "b"}), Vec<std::string>({"b"})})),
            (std::vector<bool>{false, true}));
  Tensor p = Vec<bool>({true, true, false, false});
  Tensor q = Vec<bool>({true, false, true, false});
  EXPECT_EQ(Values<bool>(Run1("And", {p, q})), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(Values<bool>(Run1("Or", {p, q})), (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(Values<bool>(Run1("Xor", {p, q})), (std::vector<bool>{false, true, true, false}));
  EXPECT_FALSE(RunOp("And", {a, a}).ok());
}

TEST(ElementwiseTest, PReluAndWhere) {
  Tensor x = Vec<float>({-1, 2, -3, 4}, {2, 2});
  EXPECT_EQ(Values<float>(Run1("PRelu", {x, Vec<float>({0.5f, 0.25f})})),
            (std::vector<float>{-0.5f, 2, -1.5f, 4}));
  EXPECT_FALSE(RunOp("PRelu", {Vec<float>({1, 2}), x}).ok());  // slope larger than x
  Tensor w = Run1("Where", {Vec<bool>({true, false}), Vec<std::string>({"x0", "x1"}, {1, 2}),
                            Vec<std::string>({"y"}, {1})});
  EXPECT_EQ(Values<std::string>(w), (std::vector<std::string>{"x0", "y"}));
  EXPECT_FALSE(RunOp("Where", {Vec<int32_t>({1}), x, x}).ok());
}

TEST(ElementwiseTest, Variadic) {
  Tensor a = Vec<float>({1, 2, 3});
  Tensor b = Vec<float>({10});
  Tensor c = Vec<float>({1, 1, 1, 2, 2, 2}, {2, 3});
  Tensor s = Run1("Sum", {a, b, c});
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(Values<float>(s), (std::vector<float>{12, 13, 14, 13, 14, 15}));
  EXPECT_EQ(Values<float>(Run1("Mean", {a, Vec<float>({3, 2, 1})})),
            (std::vector<float>{2, 2, 2}));
  auto mx = Values<float>(Run1("Max", {Vec<float>({1, kNaN, 3}), Vec<float>({2, 0, kNaN})}));
  EXPECT_EQ(mx[0], 2);
  EXPECT_TRUE(std::isnan(mx[1]) && std::isnan(mx[2]));
  EXPECT_EQ(Values<uint16_t>(Run1("Min", {Vec<uint16_t>({5, 1}), Vec<uint16_t>({3, 9})})),
            (std::vector<uint16_t>{3, 1}));
  EXPECT_EQ(Values<float>(Run1("Max", {a})), Values<float>(a));
  EXPECT_FALSE(RunOp("Sum", {a, Vec<float>({1, 2})}).ok());
}

TEST(ElementwiseTest, Activations) {
  Tensor x = Vec<float>({-2, 0, 3});
  EXPECT_EQ(Values<float>(Run1("Relu", {x})), (std::vector<float>{0, 0, 3}));
  EXPECT_EQ(Values<float>(Run1("LeakyRelu", {x}, {{"alpha", FloatAttr(0.5f)}})),
            (std::vector<float>{-1, 0, 3}));
  EXPECT_EQ(Values<float>(Run1("ThresholdedRelu", {x}, {{"alpha", FloatAttr(2.5f)}})),
            (std::vector<float>{0, 0, 3}));
  EXPECT_EQ(Values<float>(Run1("HardSwish", {Vec<float>({-4, 0, 1, 4})})),
            (std::vector<float>{0, 0, 1.0f * (1.0f / 6.0f + 0.5f), 4}));
  EXPECT_EQ(Values<float>(Run1("Shrink", {x}, {{"bias", FloatAttr(1)}, {"lambd", FloatAttr(1)}})),
            (std::vector<float>{-1, 0, 2}));
  auto sig = Values<float>(Run1("Sigmoid", {Vec<float>({-1000, 0, 1000})}));
  EXPECT_EQ(sig, (std::vector<float>{0, 0.5f, 1}));
  auto sp = Values<float>(Run1("Softplus", {Vec<float>({1000, 0})}));
  EXPECT_EQ(sp[0], 1000);
  EXPECT_FLOAT_EQ(sp[1], std::log(2.0f));
  auto elu = Values<float>(Run1("Elu", {Vec<float>({-1, 2})}));
  EXPECT_FLOAT_EQ(elu[0], std::exp(-1.0f) - 1);
  EXPECT_FLOAT_EQ(Values<float>(Run1("Selu", {Vec<float>({1})}))[0], 1.05070102f);
}

TEST(ElementwiseTest, Clip) {
  Tensor x = Vec<float>({-5, 0, 5});
  EXPECT_EQ(Values<float>(Run1("Clip", {x, Vec<float>({-1}, {}), Tensor()})),
            (std::vector<float>{-1, 0, 5}));
  EXPECT_EQ(Values<float>(Run1("Clip", {x, Tensor(), Vec<float>({1}, {})})),
            (std::vector<float>{-5, 0, 1}));
  EXPECT_EQ(Values<float>(Run1("Clip", {x, Vec<float>({2}, {}), Vec<float>({1}, {})})),
            (std::vector<float>{1, 1, 1}));  // min > max: everything becomes max
  EXPECT_EQ(Values<float>(Run1("Clip", {x}, {{"min", FloatAttr(-2)}, {"max", FloatAttr(2)}}, 6)),
            (std::vector<float>{-2, 0, 2}));
  EXPECT_EQ(Values<int8_t>(Run1("Clip", {Vec<int8_t>({-100, 100}), Vec<int8_t>({-3}, {}),
                                        Vec<int8_t>({4}, {})})),
            (std::vector<int8_t>{-3, 4}));
  EXPECT_FALSE(RunOp("Clip", {x, Vec<float>({1, 2})}).ok());
  EXPECT_FALSE(RunOp("Clip", {x, Vec<double>({1}, {})}).ok());
}

TEST(ElementwiseTest, CastNumeric) {
  Tensor x = Vec<float>({1.9f, -1.9f, kNaN, 1e20f});
  EXPECT_EQ(Values<int32_t>(Run1("Cast", {x}, {{"to", IntAttr(6)}})),
            (std::vector<int32_t>{1, -1, 0, std::numeric_limits<int32_t>::max()}));
  EXPECT_EQ(Values<bool>(Run1("Cast", {x}, {{"to", IntAttr(9)}})),
            (std::vector<bool>{true, true, true, true}));
  // 1 + 2^-11 + 2^-40 is just above a half-way point of float16: it must round up even
  // though the nearest float is exactly half-way.
  Tensor d = Vec<double>({1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)});
  Tensor h = Run1("Cast", {d}, {{"to", IntAttr(10)}});
  ASSERT_EQ(h.dtype(), DType::kFloat16);
  EXPECT_EQ(h.data<Float16>()[0].bits, 0x3C01);
  Tensor like = Run1("CastLike", {Vec<int32_t>({7}), Vec<double>({0})});
  EXPECT_EQ(Values<double>(like), (std::vector<double>{7}));
  EXPECT_FALSE(RunOp("Cast", {x}, {{"to", IntAttr(14)}}).ok());
  EXPECT_FALSE(RunOp("Cast", {x}).ok());
}

TEST(ElementwiseTest, CastStrings) {
  Tensor x = Vec<float>({0.47892547f, 0.039187793f, 1e20f, 1.5e-5f, 100.0f, 0.0f, -0.0f, kNaN,
                         kInf, -kInf, 1e-4f, -2.5f});
  EXPECT_EQ(Values<std::string>(Run1("Cast", {x}, {{"to", IntAttr(8)}})),
            (std::vector<std::string>{"0.47892547", "0.039187793", "1e+20", "1.5e-05", "100.0",
                                      "0.0", "-0.0", "NaN", "INF", "-INF", "1e-04", "-2.5"}));
  Tensor h = Run1("Cast", {Vec<Float16>({Float16(0.1f)})}, {{"to", IntAttr(8)}});
  EXPECT_EQ(Values<std::string>(h), (std::vector<std::string>{"0.1"}));
  Tensor s = Vec<std::string>({"0.5", " -2 ", "+INF", "NaN", "1e-3", "1e50"});
  auto f = Values<float>(Run1("Cast", {s}, {{"to", IntAttr(1)}}));
  EXPECT_EQ(f[0], 0.5f);
  EXPECT_EQ(f[1], -2.0f);
  EXPECT_EQ(f[2], kInf);
  EXPECT_TRUE(std::isnan(f[3]));
  EXPECT_EQ(f[4], 1e-3f);
  EXPECT_EQ(f[5], kInf);
  EXPECT_EQ(Values<int64_t>(Run1("Cast", {Vec<std::string>({"-42", "7"})}, {{"to", IntAttr(7)}})),
            (std::vector<int64_t>{-42, 7}));
  EXPECT_FALSE(RunOp("Cast", {Vec<std::string>({"abc"})}, {{"to", IntAttr(1)}}).ok());
}

}  // namespace
}  // namespace privedge
