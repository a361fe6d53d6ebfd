// Every backward rule against central finite differences, on random inputs with odd sizes and
// broadcasting.
#include <gtest/gtest.h>

#include "train/tape.h"
#include "train/train_test_util.h"

namespace privedge::train {
namespace {

using namespace testing;  // NOLINT

class GradCheck : public ::testing::Test {
 protected:
  std::mt19937 rng{12345};

  // One node `op` over graph inputs named a, b, c, ... with the given tensors, all checked.
  std::string Check(const std::string& op, std::vector<Tensor> inputs,
                    std::map<std::string, Attribute> attrs = {}, int64_t opset = 13,
                    std::map<std::string, Tensor> initializers = {},
                    std::vector<std::string> extra_inputs = {}, std::vector<int> skip = {},
                    GradCheckOptions options = {}) {
    std::vector<std::string> names, wrt;
    std::vector<std::pair<std::string, Tensor>> feeds;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::string name(1, static_cast<char>('a' + i));
      names.push_back(name);
      feeds.emplace_back(name, inputs[i]);
      if (std::find(skip.begin(), skip.end(), static_cast<int>(i)) == skip.end())
        wrt.push_back(name);
    }
    std::vector<std::string> node_inputs = names;
    node_inputs.insert(node_inputs.end(), extra_inputs.begin(), extra_inputs.end());
    Model m = BuildModel({MakeNode(op, node_inputs, {"y"}, attrs)}, names, initializers, opset);
    return CheckGradients(m, feeds, wrt, options);
  }

  Tensor R(const Shape& s, float gap = 0) { return Random(s, rng, -1, 1, gap); }
};

Tensor Int64s(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<int64_t>(v, {n});
}

TEST_F(GradCheck, AddSubMulDivBroadcast) {
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    SCOPED_TRACE(op);
    const bool div = std::string(op) == "Div";
    auto b = [&](const Shape& s) { return div ? Random(s, rng, -1.5f, 1.5f, 0.5f) : R(s); };
    EXPECT_EQ(Check(op, {R({2, 3, 5}), b({3, 1})}), "");
    EXPECT_EQ(Check(op, {R({3, 1}), b({2, 3, 5})}), "");
    EXPECT_EQ(Check(op, {R({2, 1, 5}), b({5})}), "");
    EXPECT_EQ(Check(op, {R({7}), b({})}), "");
    EXPECT_EQ(Check(op, {R({2, 3}), b({2, 3})}), "");
  }
}

TEST_F(GradCheck, Activations) {
  EXPECT_EQ(Check("Relu", {R({3, 7}, 0.05f)}), "");
  EXPECT_EQ(Check("LeakyRelu", {R({3, 7}, 0.05f)}, {{"alpha", Float(0.13f)}}), "");
  EXPECT_EQ(Check("Sigmoid", {Random({5, 3}, rng, -3, 3)}), "");
  EXPECT_EQ(Check("Tanh", {Random({5, 3}, rng, -2, 2)}), "");
}

TEST_F(GradCheck, SoftmaxAndLogSoftmax) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(Check(op, {R({3, 5})}), "");
    EXPECT_EQ(Check(op, {R({2, 3, 5})}, {{"axis", Int(1)}}), "");
    EXPECT_EQ(Check(op, {R({2, 3, 5})}, {{"axis", Int(0)}}), "");
    // Before opset 13 the input is flattened to 2-D at axis.
    EXPECT_EQ(Check(op, {R({2, 3, 5})}, {{"axis", Int(1)}}, 11), "");
  }
}

TEST_F(GradCheck, Gemm) {
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      SCOPED_TRACE(::testing::Message() << "transA " << ta << " transB " << tb);
      const Shape a = ta ? Shape{5, 3} : Shape{3, 5}, b = tb ? Shape{4, 5} : Shape{5, 4};
      std::map<std::string, Attribute> attrs = {
          {"transA", Int(ta)}, {"transB", Int(tb)}, {"alpha", Float(0.7f)}, {"beta", Float(1.3f)}};
      EXPECT_EQ(Check("Gemm", {R(a), R(b), R({4})}, attrs), "");
      EXPECT_EQ(Check("Gemm", {R(a), R(b), R({3, 1})}, attrs), "");
      EXPECT_EQ(Check("Gemm", {R(a), R(b)}, attrs), "");
    }
  }
}

TEST_F(GradCheck, MatMul) {
  EXPECT_EQ(Check("MatMul", {R({2, 3, 5}), R({5, 4})}), "");
  EXPECT_EQ(Check("MatMul", {R({2, 1, 3, 5}), R({3, 5, 2})}), "");
  EXPECT_EQ(Check("MatMul", {R({5}), R({5, 4})}), "");
  EXPECT_EQ(Check("MatMul", {R({3, 5}), R({5})}), "");
  EXPECT_EQ(Check("MatMul", {R({3, 5}), R({2, 5, 3})}), "");
}

TEST_F(GradCheck, Conv) {
  // Strides, dilations, asymmetric pads, bias.
  EXPECT_EQ(
      Check("Conv", {R({2, 3, 7, 6}), R({4, 3, 3, 2}), R({4})},
            {{"strides", Ints({2, 1})}, {"dilations", Ints({1, 2})}, {"pads", Ints({1, 0, 2, 1})}}),
      "");
  // Groups, no bias.
  EXPECT_EQ(Check("Conv", {R({1, 4, 5, 5}), R({6, 2, 3, 3})}, {{"group", Int(2)}}), "");
  // Depthwise with padding.
  EXPECT_EQ(Check("Conv", {R({2, 3, 6, 5}), R({3, 1, 3, 3}), R({3})},
                  {{"group", Int(3)}, {"pads", Ints({1, 1, 1, 1})}}),
            "");
  // SAME_UPPER padding, stride 2.
  EXPECT_EQ(Check("Conv", {R({1, 2, 7, 7}), R({3, 2, 3, 3})},
                  {{"auto_pad", Str("SAME_UPPER")}, {"strides", Ints({2, 2})}}),
            "");
  // 1-D.
  EXPECT_EQ(Check("Conv", {R({2, 2, 9}), R({3, 2, 3}), R({3})},
                  {{"strides", Ints({2})}, {"pads", Ints({1, 2})}}),
            "");
}

TEST_F(GradCheck, MaxPool) {
  EXPECT_EQ(Check("MaxPool", {Distinct({2, 2, 7, 7}, rng)},
                  {{"kernel_shape", Ints({3, 3})},
                   {"strides", Ints({2, 2})},
                   {"pads", Ints({1, 1, 1, 1})}}),
            "");
  EXPECT_EQ(
      Check("MaxPool", {Distinct({1, 3, 6, 5}, rng)},
            {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}, {"ceil_mode", Int(1)}}),
      "");
  EXPECT_EQ(Check("MaxPool", {Distinct({1, 2, 7, 7}, rng)},
                  {{"kernel_shape", Ints({2, 2})}, {"dilations", Ints({2, 2})}}),
            "");
  EXPECT_EQ(Check("MaxPool", {Distinct({2, 2, 9}, rng)},
                  {{"kernel_shape", Ints({3})}, {"strides", Ints({2})}}),
            "");
}

TEST_F(GradCheck, AveragePools) {
  for (int include_pad = 0; include_pad < 2; ++include_pad) {
    EXPECT_EQ(Check("AveragePool", {R({2, 2, 7, 6})},
                    {{"kernel_shape", Ints({3, 3})},
                     {"strides", Ints({2, 2})},
                     {"pads", Ints({1, 1, 1, 1})},
                     {"count_include_pad", Int(include_pad)}}),
              "");
  }
  EXPECT_EQ(Check("AveragePool", {R({1, 3, 5, 5})}, {{"kernel_shape", Ints({2, 2})}}), "");
  EXPECT_EQ(Check("GlobalAveragePool", {R({2, 3, 4, 5})}), "");
}

TEST_F(GradCheck, BatchNormalizationTraining) {
  std::map<std::string, Tensor> stats = {{"mean", Random({3}, rng)},
                                         {"var", Random({3}, rng, 0.5f, 2)}};
  EXPECT_EQ(Check("BatchNormalization", {R({4, 3, 5}), R({3}), R({3})}, {{"momentum", Float(0.8f)}},
                  15, stats, {"mean", "var"}),
            "");
  EXPECT_EQ(Check("BatchNormalization", {R({2, 3, 3, 2}), R({3}), R({3})}, {}, 15, stats,
                  {"mean", "var"}),
            "");
}

TEST_F(GradCheck, LayerNormalization) {
  EXPECT_EQ(Check("LayerNormalization", {R({3, 4, 5}), R({5}), R({5})}, {}, 17), "");
  EXPECT_EQ(Check("LayerNormalization", {R({3, 4, 5}), R({4, 5})}, {{"axis", Int(1)}}, 17), "");
}

TEST_F(GradCheck, ShapeOperators) {
  EXPECT_EQ(Check("Flatten", {R({2, 3, 4})}, {{"axis", Int(2)}}), "");
  EXPECT_EQ(Check("Reshape", {R({2, 3, 4})}, {}, 13, {{"shape", Int64s({4, -1})}}, {"shape"}), "");
  EXPECT_EQ(Check("Transpose", {R({2, 3, 4})}, {{"perm", Ints({2, 0, 1})}}), "");
  EXPECT_EQ(Check("Transpose", {R({3, 5})}), "");
  EXPECT_EQ(Check("Concat", {R({2, 1, 3}), R({2, 4, 3}), R({2, 2, 3})}, {{"axis", Int(1)}}), "");
  EXPECT_EQ(Check("Slice", {R({5, 7})}, {}, 13,
                  {{"starts", Int64s({-1, 1})},
                   {"ends", Int64s({-100, 6})},
                   {"axes", Int64s({0, 1})},
                   {"steps", Int64s({-2, 2})}},
                  {"starts", "ends", "axes", "steps"}),
            "");
  // Repeated and negative indices: the gradient of a row gathered twice is summed.
  EXPECT_EQ(Check("Gather", {R({3, 5, 2})}, {{"axis", Int(1)}}, 13,
                  {{"idx", Tensor::FromVector<int64_t>({4, 0, -1, 2, 0}, {5})}}, {"idx"}),
            "");
}

TEST_F(GradCheck, DropoutIsSeededAndRoutesGradient) {
  std::map<std::string, Tensor> ratio = {{"ratio", Tensor::Scalar<float>(0.3f)}};
  EXPECT_EQ(Check("Dropout", {R({6, 7})}, {}, 13, ratio, {"ratio"}), "");
  Model m = BuildModel({MakeNode("Dropout", {"a", "ratio"}, {"y"})}, {"a"}, ratio);
  auto tape = Tape::Create(m, {"a"}, "y");
  ASSERT_TRUE(tape.ok()) << tape.status().ToString();
  Tensor x = Random({20, 20}, rng, 0.5f, 1.0f);
  auto y1 = (*tape)->Forward({{"a", x}}, true, 42);
  ASSERT_TRUE(y1.ok());
  const Tensor first = y1->Clone();
  auto y2 = (*tape)->Forward({{"a", x}}, true, 42);
  auto y3 = (*tape)->Forward({{"a", x}}, true, 43);
  auto eval = (*tape)->Forward({{"a", x}}, false, 42);
  int64_t zeros = 0, same = 0, differ = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    zeros += first.data<float>()[i] == 0;
    same += first.data<float>()[i] == y2->data<float>()[i];
    differ += first.data<float>()[i] != y3->data<float>()[i];
    EXPECT_EQ(eval->data<float>()[i], x.data<float>()[i]);
  }
  EXPECT_EQ(same, x.numel());
  EXPECT_GT(differ, 0);
  EXPECT_NEAR(static_cast<double>(zeros) / x.numel(), 0.3, 0.08);
}

TEST(TrainTape, BatchNormUpdatesRunningStatistics) {
  std::mt19937 rng(1);
  Tensor mean = Tensor::FromVector<float>({0.5f, -1.0f}, {2}),
         var = Tensor::FromVector<float>({1.0f, 2.0f}, {2});
  Model m = BuildModel({MakeNode("BatchNormalization", {"x", "s", "b", "mean", "var"}, {"y"},
                                 {{"momentum", Float(0.75f)}})},
                       {"x"},
                       {{"s", Tensor::FromVector<float>({1, 1}, {2})},
                        {"b", Tensor::FromVector<float>({0, 0}, {2})},
                        {"mean", mean},
                        {"var", var}},
                       15);
  auto tape = Tape::Create(m, {"s"}, "y");
  ASSERT_TRUE(tape.ok()) << tape.status().ToString();
  // Channel 0 holds 1, 3 (mean 2, unbiased variance 2); channel 1 holds 0, 4 (mean 2, var 8).
  Tensor x = Tensor::FromVector<float>({1, 0, 3, 4}, {2, 2});
  ASSERT_TRUE((*tape)->Forward({{"x", x}}, true, 0).ok());
  auto new_mean = (*tape)->Initializer("mean");
  auto new_var = (*tape)->Initializer("var");
  EXPECT_FLOAT_EQ(new_mean->data<float>()[0], 0.75f * 0.5f + 0.25f * 2);
  EXPECT_FLOAT_EQ(new_mean->data<float>()[1], 0.75f * -1.0f + 0.25f * 2);
  EXPECT_FLOAT_EQ(new_var->data<float>()[0], 0.75f * 1 + 0.25f * 2);
  EXPECT_FLOAT_EQ(new_var->data<float>()[1], 0.75f * 2 + 0.25f * 8);
  // Evaluation normalizes with the running statistics.
  auto y = (*tape)->Forward({{"x", x}}, false, 0);
  ASSERT_TRUE(y.ok());
  EXPECT_NEAR(y->data<float>()[0],
              (1 - new_mean->data<float>()[0]) / std::sqrt(new_var->data<float>()[0] + 1e-5f),
              1e-5);
}

TEST(TrainTape, OperatorWithoutRuleOnTrainablePathIsNamed) {
  Model m = BuildModel({MakeNode("Relu", {"x"}, {"h"}), MakeNode("Cos", {"h"}, {"y"})}, {"x"});
  m.graph.nodes[1].name = "the_cosine";
  auto tape = Tape::Create(m, {"x"}, "y");
  ASSERT_FALSE(tape.ok());
  EXPECT_EQ(tape.status().code(), StatusCode::kNotImplemented);
  EXPECT_NE(tape.status().message().find("the_cosine"), std::string::npos)
      << tape.status().message();
  EXPECT_NE(tape.status().message().find("Cos"), std::string::npos);
  // Off the trainable path the same operator is fine: x does not need a gradient there.
  Model off =
      BuildModel({MakeNode("Cos", {"x"}, {"c"}), MakeNode("Mul", {"c", "w"}, {"y"})}, {"x", "w"});
  EXPECT_TRUE(Tape::Create(off, {"w"}, "y").ok());
}

}  // namespace
}  // namespace privedge::train
