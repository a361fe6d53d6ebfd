// The fast kernels for sequence models (oneDNN RNN/GRU/LSTM, batched MatMul, Softmax,
// Transpose, LayerNormalization, FusedMatMul, Slice) against the reference kernels on the same
// random inputs, odd sizes included.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/kernel.h"
#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::FloatAttr;
using testing::IntAttr;
using testing::IntsAttr;
using testing::RelativeError;
using testing::RunOp;
using testing::StringAttr;

Tensor Random(const Shape& shape, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(static_cast<size_t>(ShapeElementCount(shape)));
  for (float& e : v) e = dist(rng);
  return Tensor::FromVector<float>(v, shape);
}

Attribute StringsAttr(const std::vector<std::string>& v) {
  Attribute a;
  a.kind = Attribute::Kind::kStrings;
  a.strings = v;
  return a;
}

struct FastRun {
  std::string name;  // "" when every factory declined
  std::vector<Tensor> outputs;
};

// Prepares the first fast kernel accepting the node (inputs flagged constant are handed to it
// as initializers) and runs it, twice, so the second run uses the cached plan.
Result<FastRun> RunFast(const std::string& op_type, const std::vector<Tensor>& inputs,
                        const std::vector<bool>& constant,
                        const std::map<std::string, Attribute>& attributes, int num_outputs,
                        int64_t opset = 17, const std::string& domain = "", int threads = 2) {
  Node node;
  node.name = "fast";
  node.op_type = op_type;
  node.domain = domain;
  node.attributes = attributes;
  for (int i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  std::vector<Value> values(inputs.size());
  std::vector<const Value*> ptrs;
  PrepareContext prep{node, opset, {}, threads};
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
    values[i] = Value::FromTensor(inputs[i]);
    ptrs.push_back(inputs[i].defined() ? &values[i] : nullptr);
    prep.constant_inputs.push_back(inputs[i].defined() && constant[i] ? &inputs[i] : nullptr);
  }
  FastRun run;
  for (KernelFactory factory : KernelRegistry::Global().FindFast(op_type, domain)) {
    PE_ASSIGN_OR_RETURN(std::unique_ptr<PreparedKernel> kernel, factory(prep));
    if (!kernel) continue;
    run.name = kernel->name();
    for (int pass = 0; pass < 2; ++pass) {
      KernelContext ctx(node, opset, ptrs);
      PE_RETURN_IF_ERROR(kernel->Run(ctx));
      run.outputs.clear();
      for (Value& v : ctx.outputs()) run.outputs.push_back(v.tensor);
    }
    return run;
  }
  return run;
}


// The fast kernel `expect_name` accepts the node, and each of its outputs matches the
// reference's within 1e-4 of the reference's largest magnitude.
void ExpectMatches(const std::string& op_type, const std::vector<Tensor>& inputs,
                   const std::vector<bool>& constant,
                   const std::map<std::string, Attribute>& attrs, const char* expect_name,
                   int num_outputs = 1, int64_t opset = 17, const std::string& domain = "") {
  auto fast = RunFast(op_type, inputs, constant, attrs, num_outputs, opset, domain);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  ASSERT_EQ(fast->name, expect_name) << "the fast kernel declined";
  auto ref = RunOp(op_type, inputs, attrs, num_outputs, opset, domain);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_EQ(fast->outputs.size(), ref->size());
  for (size_t i = 0; i < ref->size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "output " << i);
    EXPECT_LE(RelativeError(fast->outputs[i], (*ref)[i]), 1e-4);
  }
}

struct RecurrentCase {
  const char* op;
  int64_t seq, batch, input, hidden;
  const char* direction;
  int64_t layout;
  bool bias, initial, peephole, lbr;
  const char* activation;  // RNN only; nullptr: default
};

TEST(DnnlSequenceTest, RecurrentMatchesReference) {
  const RecurrentCase cases[] = {
      {"LSTM", 50, 1, 64, 128, "forward", 0, true, false, false, false, nullptr},
      {"LSTM", 7, 3, 5, 11, "reverse", 0, true, true, false, false, nullptr},
      {"LSTM", 6, 2, 9, 13, "bidirectional", 0, true, true, true, false, nullptr},
      {"LSTM", 5, 3, 4, 7, "bidirectional", 1, false, true, false, false, nullptr},
      {"LSTM", 4, 2, 3, 5, "forward", 1, true, true, true, false, nullptr},
      // Hidden sizes that are multiples of 16 at batch <= 8 take the AVX-512 steps (where the
      // CPU has them); batch 9 the oneDNN primitive again.
      {"LSTM", 9, 3, 10, 32, "bidirectional", 1, true, true, false, false, nullptr},
      {"LSTM", 6, 2, 7, 16, "reverse", 0, true, true, false, false, nullptr},
      {"LSTM", 5, 8, 6, 48, "forward", 1, false, false, false, false, nullptr},
      {"LSTM", 4, 2, 5, 80, "forward", 0, true, true, false, false, nullptr},  // 256 + 64 gates
      {"LSTM", 5, 9, 6, 16, "bidirectional", 0, true, true, false, false, nullptr},
      {"GRU", 9, 2, 6, 17, "forward", 0, true, true, false, false, nullptr},
      {"GRU", 5, 3, 7, 9, "bidirectional", 0, true, false, false, true, nullptr},
      {"GRU", 4, 1, 5, 6, "reverse", 1, true, true, false, true, nullptr},
      {"RNN", 8, 2, 5, 19, "forward", 0, true, true, false, false, nullptr},
      {"RNN", 6, 3, 4, 7, "bidirectional", 0, true, false, false, false, "Relu"},
      {"RNN", 5, 2, 3, 6, "reverse", 1, false, true, false, false, "Sigmoid"},
  };
  std::mt19937 rng(11);
  for (const RecurrentCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.op << " " << c.direction << " layout " << c.layout
                                      << " T" << c.seq << " N" << c.batch << " I" << c.input
                                      << " H" << c.hidden);
    const std::string op = c.op;
    const int64_t gates = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1;
    const int64_t dirs = std::string(c.direction) == "bidirectional" ? 2 : 1;
    const Shape x_shape =
        c.layout == 0 ? Shape{c.seq, c.batch, c.input} : Shape{c.batch, c.seq, c.input};
    const Shape state =
        c.layout == 0 ? Shape{dirs, c.batch, c.hidden} : Shape{c.batch, dirs, c.hidden};
    std::vector<Tensor> in = {Random(x_shape, rng), Random({dirs, gates * c.hidden, c.input}, rng, 0.5f),
                              Random({dirs, gates * c.hidden, c.hidden}, rng, 0.5f),
                              c.bias ? Random({dirs, 2 * gates * c.hidden}, rng) : Tensor(),
                              Tensor(),  // sequence_lens
                              c.initial ? Random(state, rng) : Tensor()};
    std::vector<bool> constant = {false, true, true, true, false, false};
    if (op == "LSTM") {
      in.push_back(c.initial ? Random(state, rng) : Tensor());
      in.push_back(c.peephole ? Random({dirs, 3 * c.hidden}, rng) : Tensor());
      constant.insert(constant.end(), {false, true});
    }
    std::map<std::string, Attribute> attrs = {{"direction", StringAttr(c.direction)},
                                              {"hidden_size", IntAttr(c.hidden)},
                                              {"layout", IntAttr(c.layout)}};
    if (c.lbr) attrs["linear_before_reset"] = IntAttr(1);
    if (c.activation) attrs["activations"] = StringsAttr({c.activation});
    const std::string name = op == "LSTM" ? "dnnl_f32_lstm" : op == "GRU" ? "dnnl_f32_gru"
                                                                          : "dnnl_f32_rnn";
    ExpectMatches(op, in, constant, attrs, name.c_str(), op == "LSTM" ? 3 : 2);
  }
}

TEST(DnnlSequenceTest, RecurrentDeclinesAndDelegates) {
  std::mt19937 rng(12);
  const Tensor x = Random({4, 2, 3}, rng);
  const Tensor w = Random({1, 20, 3}, rng), r = Random({1, 20, 5}, rng);
  std::map<std::string, Attribute> attrs = {{"hidden_size", IntAttr(5)}};
  // Clip, input_forget, non-default activations and run-time weights stay on the reference.
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, Attribute>>{
           {"clip", FloatAttr(0.5f)},
           {"input_forget", IntAttr(1)},
           {"activations", StringsAttr({"Sigmoid", "Tanh", "Relu"})}}) {
    SCOPED_TRACE(key);
    auto with = attrs;
    with[key] = value;
    auto run = RunFast("LSTM", {x, w, r}, {false, true, true}, with, 3);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->name, "");
  }
  auto runtime_w = RunFast("LSTM", {x, w, r}, {false, false, true}, attrs, 3);
  ASSERT_TRUE(runtime_w.ok());
  EXPECT_EQ(runtime_w->name, "");
  // Short sequence_lens run the reference through the fast kernel: same results.
  const Tensor lens = Tensor::FromVector<int32_t>({4, 2}, {2});
  ExpectMatches("LSTM", {x, w, r, Tensor(), lens}, {false, true, true, false, false}, attrs,
                "dnnl_f32_lstm", 3);
  // Bad input gets the reference's error.
  auto bad = RunFast("LSTM", {Random({4, 2, 4}, rng), w, r}, {false, true, true}, attrs, 3);
  EXPECT_FALSE(bad.ok());
}

TEST(DnnlSequenceTest, BatchedMatMulMatchesReference) {
  const std::pair<Shape, Shape> cases[] = {
      {{2, 7, 5}, {2, 5, 3}},   {{3, 1, 4, 9}, {1, 2, 9, 6}}, {{13, 17}, {17, 1}},
      {{4, 6, 5}, {5, 11}},     {{1, 128, 64}, {2, 64, 128}},
  };
  std::mt19937 rng(13);
  for (const auto& [a, b] : cases) {
    SCOPED_TRACE(ShapeToString(a) + " x " + ShapeToString(b));
    ExpectMatches("MatMul", {Random(a, rng), Random(b, rng)}, {false, false}, {},
                  "dnnl_f32_batched_matmul");
  }
  auto mismatch = RunFast("MatMul", {Random({2, 3, 4}, rng), Random({2, 5, 3}, rng)},
                          {false, false}, {}, 1);
  EXPECT_FALSE(mismatch.ok());
}

TEST(DnnlSequenceTest, SoftmaxMatchesReference) {
  std::mt19937 rng(14);
  ExpectMatches("Softmax", {Random({2, 3, 37}, rng, 5.0f)}, {false}, {}, "dnnl_f32_softmax");
  ExpectMatches("Softmax", {Random({5, 7, 3}, rng, 5.0f)}, {false}, {{"axis", IntAttr(1)}},
                "dnnl_f32_softmax");
  // Before opset 13 only the last axis is taken; other axes run the reference.
  ExpectMatches("Softmax", {Random({4, 9}, rng)}, {false}, {}, "dnnl_f32_softmax", 1, 11);
  const Tensor x = Random({4, 3, 5}, rng);
  auto old = RunFast("Softmax", {x}, {false}, {{"axis", IntAttr(1)}}, 1, 11);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->name, "dnnl_f32_softmax");
  auto ref = RunOp("Softmax", {x}, {{"axis", IntAttr(1)}}, 1, 11);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(testing::Floats(old->outputs[0]), testing::Floats((*ref)[0]));  // the reference ran
}

TEST(DnnlSequenceTest, TransposeMatchesReference) {
  std::mt19937 rng(15);
  const std::pair<Shape, std::vector<int64_t>> cases[] = {
      {{7, 2, 5}, {1, 0, 2}}, {{7, 2, 5}, {1, 2, 0}}, {{1, 13, 6}, {1, 0, 2}},
      {{3, 1, 4, 1}, {0, 3, 1, 2}}, {{2, 3, 4, 5}, {3, 1, 0, 2}}, {{6, 9}, {}},
  };
  for (const auto& [shape, perm] : cases) {
    SCOPED_TRACE(ShapeToString(shape));
    std::map<std::string, Attribute> attrs;
    if (!perm.empty()) attrs["perm"] = IntsAttr(perm);
    const Tensor x = Random(shape, rng);
    ExpectMatches("Transpose", {x}, {false}, attrs, "dnnl_transpose");
    auto fast = RunFast("Transpose", {x}, {false}, attrs, 1);
    ASSERT_TRUE(fast.ok());
    auto ref = RunOp("Transpose", {x}, attrs);
    ASSERT_TRUE(ref.ok());
    EXPECT_EQ(testing::Floats(fast->outputs[0]), testing::Floats((*ref)[0]));  // exact
  }
  // Other dtypes move unit axes only; int64 data with a real permutation runs the reference.
  const Tensor ints = Tensor::FromVector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto fast = RunFast("Transpose", {ints}, {false}, {}, 1);
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(testing::Ints(fast->outputs[0]), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
  EXPECT_FALSE(RunFast("Transpose", {ints}, {false}, {{"perm", IntsAttr({0, 0})}}, 1).ok());
}

TEST(DnnlSequenceTest, LayerNormMatchesReference) {
  std::mt19937 rng(16);
  for (const std::string domain : {"", "com.privedge"}) {
    SCOPED_TRACE(domain);
    ExpectMatches("LayerNormalization",
                  {Random({3, 5, 33}, rng, 3.0f), Random({33}, rng), Random({33}, rng)},
                  {false, true, true}, {{"epsilon", FloatAttr(1e-5f)}}, "dnnl_f32_layernorm", 1,
                  domain.empty() ? 17 : 1, domain);
    ExpectMatches("LayerNormalization", {Random({4, 3, 7}, rng), Random({3, 7}, rng), Tensor()},
                  {false, true, false}, {{"axis", IntAttr(1)}}, "dnnl_f32_layernorm", 1,
                  domain.empty() ? 17 : 1, domain);
  }
}

TEST(DnnlSequenceTest, FusedMatMulMatchesReference) {
  std::mt19937 rng(17);
  for (const char* act : {"", "Relu"}) {
    SCOPED_TRACE(act);
    ExpectMatches("FusedMatMul", {Random({2, 9, 13}, rng), Random({13, 21}, rng), Random({21}, rng)},
                  {false, true, true}, {{"activation", StringAttr(act)}},
                  std::string(act).empty() ? "dnnl_f32_matmul" : "dnnl_f32_matmul_relu",
                  1, 1, "com.privedge");
  }
  // The reference itself: MatMul, then bias, then Relu.
  const Tensor a = Tensor::FromVector<float>({1, 2, 3, 4}, {1, 2, 2});
  const Tensor w = Tensor::FromVector<float>({1, 0, 0, -1}, {2, 2});
  const Tensor b = Tensor::FromVector<float>({0.5f, 1.0f}, {2});
  auto out = RunOp("FusedMatMul", {a, w, b}, {{"activation", StringAttr("Relu")}}, 1, 1,
                   "com.privedge");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(testing::Floats((*out)[0]), (std::vector<float>{1.5f, 0.0f, 3.5f, 0.0f}));
  EXPECT_FALSE(RunOp("FusedMatMul", {a, w, Tensor::FromVector<float>({1, 2, 3}, {3})}, {}, 1, 1,
                     "com.privedge")
                   .ok());
}

TEST(DnnlSequenceTest, SliceMatchesReference) {
  std::mt19937 rng(18);
  auto ints = [](std::vector<int64_t> v) {
    const int64_t n = static_cast<int64_t>(v.size());
    return Tensor::FromVector<int64_t>(std::move(v), {n});
  };
  const Tensor x = Random({6, 1, 15}, rng);
  struct Case {
    std::vector<int64_t> starts, ends, axes;
  };
  const Case cases[] = {{{0}, {5}, {-1}},        {{5}, {10}, {2}},     {{-4}, {100}, {0}},
                        {{1, 3}, {4, 9}, {0, 2}}, {{0}, {0}, {2}},      {{2}, {-1}, {0}},
                        {{0, 0}, {6, 15}, {0, 2}}};
  for (const Case& c : cases) {
    ExpectMatches("Slice", {x, ints(c.starts), ints(c.ends), ints(c.axes)},
                  {false, false, false, false}, {}, "copy_slice", 1, 13);
  }
  // Steps other than 1 run the reference through the fast kernel.
  ExpectMatches("Slice", {x, ints({0}), ints({15}), ints({2}), ints({2})},
                {false, false, false, false, false}, {}, "copy_slice", 1, 13);
  EXPECT_FALSE(RunFast("Slice", {x, ints({0}), ints({5}), ints({7})}, {false, false, false, false},
                       {}, 1, 13)
                   .ok());
}

}  // namespace
}  // namespace privedge
