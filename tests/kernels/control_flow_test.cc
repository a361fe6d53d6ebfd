// Control-flow, sequence and optional kernels. Subgraph bodies are stood in for by a C++
// runner, so these tests need no runtime.
#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::Floats;

using testing::IntAttr;
using testing::IntsAttr;

// Runs `op_type` on Values (nullptr: omitted input) with an optional fake subgraph runner.
Result<std::vector<Value>> RunValues(const std::string& op_type,
                                     const std::vector<const Value*>& inputs,
                                     const std::map<std::string, Attribute>& attributes = {},
                                     int num_outputs = 1, int64_t opset = 17,
                                     SubgraphRunner runner = nullptr) {
  Node node;
  node.name = "test";
  node.op_type = op_type;
  node.attributes = attributes;
  for (size_t i = 0; i < inputs.size(); ++i)
    node.inputs.push_back(inputs[i] ? "in" + std::to_string(i) : "");
  for (int i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  KernelFn fn = KernelRegistry::Global().Find(op_type);
  if (!fn) return NotImplemented("no kernel for ", op_type);
  KernelContext ctx(node, opset, inputs, std::move(runner));
  PE_RETURN_IF_ERROR(fn(ctx));
  return ctx.outputs();
}

// A graph attribute whose body only declares how many inputs and outputs it has.
Attribute GraphAttr(const std::string& name, int num_inputs, int num_outputs) {
  Attribute a;
  a.kind = Attribute::Kind::kGraph;
  a.g = std::make_shared<Graph>();
  a.g->name = name;
  a.g->inputs.resize(num_inputs);
  a.g->outputs.resize(num_outputs);
  for (ValueInfo& v : a.g->outputs) {
    v.type.kind = TypeInfo::Kind::kTensor;
    v.type.elem_type = DType::kFloat32;
    v.type.has_shape = true;
    v.type.dims = {Dim{2, ""}};
  }
  return a;
}

Value T(const std::vector<float>& v, Shape s) {
  return Value::FromTensor(Tensor::FromVector<float>(v, std::move(s)));
}
Value I64(int64_t v) { return Value::FromTensor(Tensor::Scalar<int64_t>(v)); }

// Elementwise sum of two float tensors of the same shape.
Tensor Add(const Tensor& a, const Tensor& b) {
  Tensor out = a.Clone();
  for (int64_t i = 0; i < a.numel(); ++i) out.data<float>()[i] += b.data<float>()[i];
  return out;
}

TEST(ControlFlowTest, SequenceBuildAndEdit) {
  Value a = T({1}, {1}), b = T({2, 3}, {2}), c = T({4}, {1});
  auto seq = RunValues("SequenceConstruct", {&a, &b});
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  ASSERT_TRUE((*seq)[0].is_sequence());
  Value s = (*seq)[0];
  Value front = I64(0);
  auto ins = RunValues("SequenceInsert", {&s, &c, &front});
  ASSERT_TRUE(ins.ok()) << ins.status().ToString();
  ASSERT_EQ((*ins)[0].sequence.size(), 3u);
  EXPECT_EQ(Floats((*ins)[0].sequence[0]), std::vector<float>({4}));
  Value minus_one = I64(-1);
  auto at = RunValues("SequenceAt", {&(*ins)[0], &minus_one});
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(Floats((*at)[0].tensor), std::vector<float>({2, 3}));
  auto erased = RunValues("SequenceErase", {&(*ins)[0]});  // default: the last element
  ASSERT_TRUE(erased.ok());
  auto len = RunValues("SequenceLength", {&(*erased)[0]});
  ASSERT_TRUE(len.ok());
  EXPECT_EQ((*len)[0].tensor.GetAsInt64(0), 2);

  Value three = I64(3);
  EXPECT_FALSE(RunValues("SequenceAt", {&s, &three}).ok());
  EXPECT_FALSE(RunValues("SequenceInsert", {&s, &c, &three}).ok());
  Value ints = I64(1);
  EXPECT_FALSE(RunValues("SequenceInsert", {&s, &ints}).ok());  // type mismatch
  EXPECT_FALSE(RunValues("SequenceConstruct", {&a, &ints}).ok());
  EXPECT_FALSE(RunValues("SequenceLength", {&a}).ok());  // not a sequence
}

TEST(ControlFlowTest, SequenceEmptyKeepsType) {
  auto e = RunValues("SequenceEmpty", {}, {{"dtype", IntAttr(7)}});
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE((*e)[0].sequence.empty());
  EXPECT_EQ((*e)[0].sequence_elem_type, DType::kInt64);
  EXPECT_FALSE(RunValues("SequenceEmpty", {}, {{"dtype", IntAttr(99)}}).ok());
  EXPECT_FALSE(RunValues("SequenceErase", {&(*e)[0]}).ok());
}

TEST(ControlFlowTest, SplitAndConcat) {
  Value x = T({1, 2, 3, 4, 5, 6}, {2, 3});
  auto ones = RunValues("SplitToSequence", {&x}, {{"axis", IntAttr(1)}, {"keepdims", IntAttr(0)}});
  ASSERT_TRUE(ones.ok()) << ones.status().ToString();
  ASSERT_EQ((*ones)[0].sequence.size(), 3u);
  EXPECT_EQ((*ones)[0].sequence[1].shape(), Shape({2}));
  EXPECT_EQ(Floats((*ones)[0].sequence[1]), std::vector<float>({2, 5}));

  Value chunk = I64(2);
  auto chunks = RunValues("SplitToSequence", {&x, &chunk}, {{"axis", IntAttr(-1)}});
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ((*chunks)[0].sequence.size(), 2u);
  EXPECT_EQ((*chunks)[0].sequence[1].shape(), Shape({2, 1}));

  Value sizes = Value::FromTensor(Tensor::FromVector<int64_t>({1, 2}, {2}));
  auto parts = RunValues("SplitToSequence", {&x, &sizes}, {{"axis", IntAttr(1)}});
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(Floats((*parts)[0].sequence[1]), std::vector<float>({2, 3, 5, 6}));
  auto back = RunValues("ConcatFromSequence", {&(*parts)[0]}, {{"axis", IntAttr(1)}});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(Floats((*back)[0].tensor), Floats(x.tensor));

  auto stacked = RunValues("ConcatFromSequence", {&(*ones)[0]},
                           {{"axis", IntAttr(-1)}, {"new_axis", IntAttr(1)}});
  ASSERT_TRUE(stacked.ok());
  EXPECT_EQ((*stacked)[0].tensor.shape(), Shape({2, 3}));
  EXPECT_EQ(Floats((*stacked)[0].tensor), Floats(x.tensor));

  Value bad = Value::FromTensor(Tensor::FromVector<int64_t>({1, 1}, {2}));
  EXPECT_FALSE(RunValues("SplitToSequence", {&x, &bad}, {{"axis", IntAttr(1)}}).ok());
  EXPECT_FALSE(RunValues("ConcatFromSequence", {&(*parts)[0]}, {{"axis", IntAttr(0)}}).ok());
}

TEST(ControlFlowTest, Optionals) {
  Value x = T({1}, {1});
  auto some = RunValues("Optional", {&x});
  auto none = RunValues("Optional", {nullptr});
  ASSERT_TRUE(some.ok() && none.ok());
  EXPECT_TRUE((*none)[0].is_none());
  auto has = RunValues("OptionalHasElement", {&(*some)[0]});
  auto has_not = RunValues("OptionalHasElement", {&(*none)[0]});
  ASSERT_TRUE(has.ok() && has_not.ok());
  EXPECT_EQ((*has)[0].tensor.GetAsInt64(0), 1);
  EXPECT_EQ((*has_not)[0].tensor.GetAsInt64(0), 0);
  auto got = RunValues("OptionalGetElement", {&(*some)[0]});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Floats((*got)[0].tensor), std::vector<float>({1}));
  EXPECT_FALSE(RunValues("OptionalGetElement", {&(*none)[0]}).ok());
}

TEST(ControlFlowTest, IfPicksBranch) {
  SubgraphRunner runner = [](const Graph& g, std::vector<Value>) -> Result<std::vector<Value>> {
    return std::vector<Value>{T({g.name == "then" ? 1.f : 2.f}, {1})};
  };
  std::map<std::string, Attribute> attrs = {{"then_branch", GraphAttr("then", 0, 1)},
                                            {"else_branch", GraphAttr("else", 0, 1)}};
  for (bool c : {true, false}) {
    Value cond = Value::FromTensor(Tensor::Scalar<bool>(c));
    auto out = RunValues("If", {&cond}, attrs, 1, 17, runner);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(Floats((*out)[0].tensor), std::vector<float>({c ? 1.f : 2.f}));
  }
  Value cond = T({1, 1}, {2});
  EXPECT_FALSE(RunValues("If", {&cond}, attrs, 1, 17, runner).ok());
  EXPECT_FALSE(RunValues("If", {&cond}, attrs).ok());  // no runner
}

TEST(ControlFlowTest, LoopCarriesAndScans) {
  // Body: (i, cond, acc) -> (i < 2, acc + i, acc): stops after iteration 2.
  SubgraphRunner runner = [](const Graph&, std::vector<Value> in) -> Result<std::vector<Value>> {
    const int64_t i = in[0].tensor.GetAsInt64(0);
    Tensor acc = in[2].tensor;
    Tensor next = Add(acc, Tensor::FromVector<float>({float(i), float(i)}, {2}));
    return std::vector<Value>{Value::FromTensor(Tensor::Scalar<bool>(i < 2)),
                              Value::FromTensor(next), Value::FromTensor(acc)};
  };
  std::map<std::string, Attribute> attrs = {{"body", GraphAttr("body", 3, 3)}};
  Value m = I64(10), init = T({0, 0}, {2});
  auto out = RunValues("Loop", {&m, nullptr, &init}, attrs, 2, 16, runner);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Floats((*out)[0].tensor), std::vector<float>({3, 3}));
  EXPECT_EQ((*out)[1].tensor.shape(), Shape({3, 2}));
  EXPECT_EQ(Floats((*out)[1].tensor), std::vector<float>({0, 0, 0, 0, 1, 1}));

  Value zero = I64(0);
  auto empty = RunValues("Loop", {&zero, nullptr, &init}, attrs, 2, 16, runner);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)[1].tensor.shape(), Shape({0, 2}));
  EXPECT_FALSE(RunValues("Loop", {&m, nullptr}, attrs, 1, 16, runner).ok());  // body arity
}

TEST(ControlFlowTest, ScanRunningSum) {
  // Body: (sum, x) -> (sum + x, sum + x).
  SubgraphRunner runner = [](const Graph&, std::vector<Value> in) -> Result<std::vector<Value>> {
    Tensor s = Add(in[0].tensor, in[1].tensor);
    return std::vector<Value>{Value::FromTensor(s), Value::FromTensor(s)};
  };
  std::map<std::string, Attribute> attrs = {{"body", GraphAttr("body", 2, 2)},
                                            {"num_scan_inputs", IntAttr(1)}};
  Value init = T({0, 0}, {2}), x = T({1, 2, 3, 4, 5, 6}, {3, 2});
  auto out = RunValues("Scan", {&init, &x}, attrs, 2, 11, runner);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Floats((*out)[0].tensor), std::vector<float>({9, 12}));
  EXPECT_EQ(Floats((*out)[1].tensor), std::vector<float>({1, 2, 4, 6, 9, 12}));

  // Scan along axis 1, in reverse, output stacked along axis 1 in reverse.
  attrs["scan_input_axes"] = IntsAttr({1});
  attrs["scan_input_directions"] = IntsAttr({1});
  attrs["scan_output_axes"] = IntsAttr({-1});
  attrs["scan_output_directions"] = IntsAttr({1});
  Value init3 = T({0, 0, 0}, {3}), xt = T({1, 2, 3, 4, 5, 6}, {3, 2});
  out = RunValues("Scan", {&init3, &xt}, attrs, 2, 11, runner);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Floats((*out)[0].tensor), std::vector<float>({3, 7, 11}));
  EXPECT_EQ((*out)[1].tensor.shape(), Shape({3, 2}));
  EXPECT_EQ(Floats((*out)[1].tensor), std::vector<float>({3, 2, 7, 4, 11, 6}));
}

TEST(ControlFlowTest, ScanOpset8BatchAndLengths) {
  SubgraphRunner runner = [](const Graph&, std::vector<Value> in) -> Result<std::vector<Value>> {
    Tensor s = Add(in[0].tensor, in[1].tensor);
    return std::vector<Value>{Value::FromTensor(s), Value::FromTensor(s)};
  };
  std::map<std::string, Attribute> attrs = {{"body", GraphAttr("body", 2, 2)},
                                            {"num_scan_inputs", IntAttr(1)}};
  Value lens = Value::FromTensor(Tensor::FromVector<int32_t>({2, 1}, {2}));
  Value init = T({0, 10}, {2, 1}), x = T({1, 2, 3, 4}, {2, 2, 1});
  auto out = RunValues("Scan", {&lens, &init, &x}, attrs, 2, 8, runner);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Floats((*out)[0].tensor), std::vector<float>({3, 13}));
  EXPECT_EQ((*out)[1].tensor.shape(), Shape({2, 2, 1}));
  EXPECT_EQ(Floats((*out)[1].tensor), std::vector<float>({1, 3, 13, 0}));
}

TEST(ControlFlowTest, SequenceMapBroadcastsTensors) {
  SubgraphRunner runner = [](const Graph&, std::vector<Value> in) -> Result<std::vector<Value>> {
    return std::vector<Value>{Value::FromTensor(Add(in[0].tensor, in[1].tensor))};
  };
  std::map<std::string, Attribute> attrs = {{"body", GraphAttr("body", 2, 1)}};
  Value seq = Value::FromSequence({Tensor::FromVector<float>({1, 2}, {2}),
                                   Tensor::FromVector<float>({3, 4}, {2})});
  Value bias = T({10, 20}, {2});
  auto out = RunValues("SequenceMap", {&seq, &bias}, attrs, 1, 17, runner);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ((*out)[0].sequence.size(), 2u);
  EXPECT_EQ(Floats((*out)[0].sequence[1]), std::vector<float>({13, 24}));
  Value short_seq = Value::FromSequence({Tensor::FromVector<float>({1, 2}, {2})});
  EXPECT_FALSE(RunValues("SequenceMap", {&seq, &short_seq}, attrs, 1, 17, runner).ok());
}

}  // namespace
}  // namespace privedge
