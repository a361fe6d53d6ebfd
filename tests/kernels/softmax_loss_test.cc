#include <gtest/gtest.h>

#include <cmath>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Floats;

using testing::FloatAttr;
using testing::IntAttr;
using testing::RunOp;
using testing::StringAttr;

TEST(SoftmaxLossTest, SoftmaxAxisSemanticsByOpset) {
  Tensor x = Tensor::FromVector<float>({0, 0, 0, 0}, {2, 2});
  // Opset 13: along the last axis only.
  auto r13 = RunOp("Softmax", {x});
  ASSERT_TRUE(r13.ok()) << r13.status().ToString();
  EXPECT_EQ(Floats((*r13)[0]), (std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f}));
  // Opset 11, axis 0: coerced to [1, 4].
  auto r11 = RunOp("Softmax", {x}, {{"axis", IntAttr(0)}}, 1, 11);
  ASSERT_TRUE(r11.ok());
  EXPECT_EQ(Floats((*r11)[0]), (std::vector<float>{0.25f, 0.25f, 0.25f, 0.25f}));
  auto log = RunOp("LogSoftmax", {x});
  ASSERT_TRUE(log.ok());
  EXPECT_NEAR(Floats((*log)[0])[0], std::log(0.5f), 1e-6);
}

TEST(SoftmaxLossTest, HardmaxFirstMax) {
  Tensor x = Tensor::FromVector<float>({1, 3, 3, 2, 0, 0}, {2, 3});
  auto r = RunOp("Hardmax", {x});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{0, 1, 0, 1, 0, 0}));
  EXPECT_FALSE(RunOp("Hardmax", {x}, {{"axis", IntAttr(2)}}).ok());
}

TEST(SoftmaxLossTest, NllLossWeightsIgnoreIndex) {
  // log-probabilities [N=2, C=3].
  Tensor x = Tensor::FromVector<float>({-1, -2, -3, -4, -5, -6}, {2, 3});
  Tensor target = Tensor::FromVector<int64_t>({2, 0}, {2});
  Tensor weight = Tensor::FromVector<float>({1, 2, 3}, {3});
  auto none = RunOp("NegativeLogLikelihoodLoss", {x, target, weight},
                    {{"reduction", StringAttr("none")}});
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(Floats((*none)[0]), (std::vector<float>{9, 4}));
  auto mean = RunOp("NegativeLogLikelihoodLoss", {x, target, weight});
  ASSERT_TRUE(mean.ok());
  EXPECT_FLOAT_EQ(Floats((*mean)[0])[0], 13.0f / 4.0f);
  auto ignored = RunOp("NegativeLogLikelihoodLoss", {x, target},
                       {{"reduction", StringAttr("sum")}, {"ignore_index", IntAttr(2)}});
  ASSERT_TRUE(ignored.ok());
  EXPECT_EQ(Floats((*ignored)[0]), (std::vector<float>{4}));
  Tensor bad = Tensor::FromVector<int64_t>({3, 0}, {2});
  EXPECT_FALSE(RunOp("NegativeLogLikelihoodLoss", {x, bad}).ok());
}

TEST(SoftmaxLossTest, SoftmaxCrossEntropyWithLogProb) {
  Tensor scores = Tensor::FromVector<float>({0, 0, 1, 1}, {2, 2});
  Tensor labels = Tensor::FromVector<int64_t>({1, 0}, {2});
  auto r = RunOp("SoftmaxCrossEntropyLoss", {scores, labels}, {}, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(Floats((*r)[0])[0], std::log(2.0f), 1e-6);
  EXPECT_NEAR(Floats((*r)[1])[3], std::log(0.5f), 1e-6);
}

// The optimizers live in the training domain, which RunOp does not reach: build the node here.
Result<std::vector<Tensor>> RunTraining(const std::string& op, const std::vector<Tensor>& inputs,
                                        std::map<std::string, Attribute> attrs, int outputs) {
  Node node;
  node.op_type = op;
  node.domain = "ai.onnx.preview.training";
  node.attributes = std::move(attrs);
  std::vector<Value> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back("in" + std::to_string(i));
    values.push_back(Value::FromTensor(inputs[i]));
  }
  std::vector<const Value*> ptrs;
  for (const Value& v : values) ptrs.push_back(&v);
  for (int i = 0; i < outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  KernelFn fn = KernelRegistry::Global().Find(op, node.domain);
  if (fn == nullptr) return NotImplemented("no kernel for ", op);
  KernelContext ctx(node, 1, ptrs);
  PE_RETURN_IF_ERROR(fn(ctx));
  std::vector<Tensor> out;
  for (Value& v : ctx.outputs()) out.push_back(v.tensor);
  return out;
}

TEST(SoftmaxLossTest, Optimizers) {
  Tensor r = Tensor::Scalar<float>(0.5f), t = Tensor::Scalar<int64_t>(0);
  Tensor x = Tensor::FromVector<float>({1}, {1}), g = Tensor::FromVector<float>({2}, {1});
  Tensor h = Tensor::FromVector<float>({0}, {1});
  auto ada = RunTraining("Adagrad", {r, t, x, g, h}, {{"epsilon", FloatAttr(0)}}, 2);
  ASSERT_TRUE(ada.ok()) << ada.status().ToString();
  EXPECT_FLOAT_EQ(Floats((*ada)[0])[0], 0.5f);  // 1 - 0.5 * 2 / sqrt(4)
  EXPECT_FLOAT_EQ(Floats((*ada)[1])[0], 4.0f);
  std::map<std::string, Attribute> mom = {{"alpha", FloatAttr(0.9f)},
                                          {"beta", FloatAttr(0.1f)},
                                          {"norm_coefficient", FloatAttr(0)},
                                          {"mode", StringAttr("standard")}};
  auto m = RunTraining("Momentum", {r, t, x, g, h}, mom, 2);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FLOAT_EQ(Floats((*m)[0])[0], 0.0f);  // v = 2 on the first step; 1 - 0.5 * 2
  mom.erase("mode");
  EXPECT_FALSE(RunTraining("Momentum", {r, t, x, g, h}, mom, 2).ok());
  auto adam = RunTraining("Adam", {r, t, x, g, h, h}, {{"epsilon", FloatAttr(0)}}, 3);
  ASSERT_TRUE(adam.ok()) << adam.status().ToString();
  EXPECT_EQ((*adam).size(), 3u);
}

}  // namespace
}  // namespace privedge
