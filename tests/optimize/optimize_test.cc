// Graph optimizer: each pass on small hand-built graphs (structure before/after, numerics
// through the executor), the pass manager, and sessions with and without optimization on the
// test models.
#include "optimize/optimize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "model/tensor_io.h"
#include "privedge/session.h"
#include "runtime/executor.h"
#include "runtime/optimize_model.h"

namespace privedge {
namespace {

namespace fs = std::filesystem;

Node MakeNode(const std::string& op, std::vector<std::string> inputs,
              std::vector<std::string> outputs, const std::string& domain = "") {
  Node n;
  n.name = op + "_" + (outputs.empty() ? "" : outputs[0]);
  n.op_type = op;
  n.domain = domain;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

ValueInfo FloatValue(const std::string& name, std::vector<int64_t> dims, bool has_shape = true) {
  ValueInfo vi;
  vi.name = name;
  vi.type.kind = TypeInfo::Kind::kTensor;
  vi.type.elem_type = DType::kFloat32;
  vi.type.has_shape = has_shape;
  for (int64_t d : dims) vi.type.dims.push_back(Dim{d, ""});
  return vi;
}

Model MakeModel(int64_t opset = 13) {
  Model m;
  m.ir_version = 8;
  m.opsets = {{"", opset}};
  return m;
}

Tensor RandomFloats(Shape shape, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(ShapeElementCount(shape)));
  for (auto& x : v) x = dist(rng);
  return Tensor::FromVector(v, shape);
}

std::vector<std::string> OpTypes(const Graph& g) {
  std::vector<std::string> ops;
  for (const Node& n : g.nodes) ops.push_back(n.op_type);
  return ops;
}

Evaluator ReferenceEvaluator() { return MakeReferenceEvaluator(KernelLimits{}, size_t{1} << 20); }

// Runs `model` on the reference kernels, or on the fast ones where they apply.
std::vector<Tensor> RunModel(const Model& model, const NamedTensors& inputs, bool fast = false) {
  ExecutorOptions options;
  options.fast_kernels = fast;
  auto exec = GraphExecutor::Create(model, KernelRegistry::Global(), options);
  EXPECT_TRUE(exec.ok()) << exec.status().message();
  if (!exec.ok()) return {};
  std::vector<std::pair<std::string, Value>> values;
  for (const auto& [name, t] : inputs) values.emplace_back(name, Value::FromTensor(t));
  auto out = (*exec)->Run(values);
  EXPECT_TRUE(out.ok()) << out.status().message();
  std::vector<Tensor> result;
  if (out.ok())
    for (const Value& v : *out) result.push_back(v.tensor);
  return result;
}

// Largest |a - b| relative to the largest |a|.
double RelativeError(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape() || a.numel() == 0) return a.shape() == b.shape() ? 0 : 1e30;
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    max_ref = std::max(max_ref, std::fabs(a.GetAsDouble(i)));
    max_diff = std::max(max_diff, std::fabs(a.GetAsDouble(i) - b.GetAsDouble(i)));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

void ExpectSameOutputs(const Model& before, const Model& after, const NamedTensors& inputs,
                       double tolerance = 1e-5) {
  // Rewritten weights must also suit the fast kernels that pack them.
  std::vector<Tensor> a = RunModel(before, inputs);
  for (bool fast : {false, true}) {
    std::vector<Tensor> b = RunModel(after, inputs, fast);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_LE(RelativeError(a[i], b[i]), tolerance) << i << (fast ? " fast" : " reference");
  }
}

TEST(DeadNodeElimination, RemovesUnusedChainsKeepsOutputsAndOtherDomains) {
  Model m = MakeModel();
  m.graph.inputs = {FloatValue("x", {2})};
  m.graph.outputs = {FloatValue("y", {2})};
  m.graph.nodes = {MakeNode("Relu", {"x"}, {"a"}), MakeNode("Neg", {"a"}, {"b"}),
                   MakeNode("Neg", {"x"}, {"y"}), MakeNode("Custom", {"x"}, {"c"}, "com.example")};
  auto removed = EliminateDeadNodes(m);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2);
  EXPECT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Neg", "Custom"}));
}

TEST(DeadNodeElimination, KeepsValuesUsedOnlyInsideSubgraphs) {
  Model m = MakeModel();
  m.graph.inputs = {FloatValue("x", {1}), {"cond", {}}};
  m.graph.outputs = {FloatValue("y", {1})};
  auto branch = std::make_shared<Graph>();
  branch->outputs = {FloatValue("r", {1})};
  branch->nodes = {MakeNode("Identity", {"a"}, {"r"})};
  Node if_node = MakeNode("If", {"cond"}, {"y"});
  if_node.attributes["then_branch"].kind = Attribute::Kind::kGraph;
  if_node.attributes["then_branch"].g = branch;
  if_node.attributes["else_branch"].kind = Attribute::Kind::kGraph;
  if_node.attributes["else_branch"].g = branch;
  m.graph.nodes = {MakeNode("Relu", {"x"}, {"a"}), if_node};
  auto removed = EliminateDeadNodes(m);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 0);
  EXPECT_EQ(m.graph.nodes.size(), 2u);
}

TEST(IdentityElimination, RewiresConsumersAndKeepsGraphOutputNames) {
  Model m = MakeModel();
  m.graph.inputs = {FloatValue("x", {3})};
  m.graph.outputs = {FloatValue("y", {3}), FloatValue("z", {3}), FloatValue("w", {3})};
  m.graph.nodes = {MakeNode("Relu", {"x"}, {"a"}),     MakeNode("Identity", {"a"}, {"b"}),
                   MakeNode("Neg", {"b"}, {"y"}),      MakeNode("Abs", {"x"}, {"c"}),
                   MakeNode("Identity", {"c"}, {"z"}),   // output: Abs is renamed to z
                   MakeNode("Identity", {"x"}, {"w"})};  // input to output: must stay
  Model before = m;
  auto removed = EliminateIdentities(m);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 2);
  EXPECT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Relu", "Neg", "Abs", "Identity"}));
  EXPECT_EQ(m.graph.nodes[1].inputs[0], "a");
  EXPECT_EQ(m.graph.nodes[2].outputs[0], "z");
  ExpectSameOutputs(before, m, {{"x", Tensor::FromVector<float>({-1, 0, 2}, {3})}});
}

TEST(IdentityElimination, DropoutOnlyInInferenceWithUnusedMask) {
  Model m = MakeModel(13);
  m.graph.inputs = {FloatValue("x", {3})};
  m.graph.outputs = {FloatValue("y", {3}), FloatValue("z", {3}), {"mask", {}}};
  m.graph.initializers["train"] = Tensor::Scalar<bool>(true);
  m.graph.nodes = {MakeNode("Dropout", {"x"}, {"a", "unused_mask"}), MakeNode("Relu", {"a"}, {"y"}),
                   MakeNode("Dropout", {"x"}, {"b", "mask"}),       // mask is an output
                   MakeNode("Dropout", {"b", "", "train"}, {"c"}),  // training mode
                   MakeNode("Neg", {"c"}, {"z"})};
  auto removed = EliminateIdentities(m);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Relu", "Dropout", "Dropout", "Neg"}));
  EXPECT_EQ(m.graph.nodes[0].inputs[0], "x");
}

TEST(ConstantFolding, FoldsConstantSubgraphsButNotLargeOrRandomResults) {
  Model m = MakeModel();
  m.graph.inputs = {FloatValue("x", {2, 3})};
  m.graph.outputs = {FloatValue("y", {2, 3}), FloatValue("big", {}, false), FloatValue("rnd", {2}),
                     FloatValue("s", {2})};
  m.graph.initializers["a"] = Tensor::FromVector<float>({1, 2, 3}, {3});
  m.graph.initializers["b"] = Tensor::FromVector<float>({10, 20, 30}, {3});
  m.graph.initializers["big_shape"] = Tensor::FromVector<int64_t>({1024, 1024}, {2});
  Node constant = MakeNode("Constant", {}, {"k"});
  constant.attributes["value"].kind = Attribute::Kind::kTensor;
  constant.attributes["value"].t = Tensor::FromVector<float>({2, 2, 2}, {3});
  Node random = MakeNode("RandomNormal", {}, {"rnd"});
  random.attributes["shape"].kind = Attribute::Kind::kInts;
  random.attributes["shape"].ints = {2};
  m.graph.nodes = {constant,
                   MakeNode("Add", {"a", "b"}, {"ab"}),
                   MakeNode("Mul", {"ab", "k"}, {"abk"}),
                   MakeNode("Mul", {"x", "abk"}, {"y"}),
                   MakeNode("ConstantOfShape", {"big_shape"}, {"big"}),  // 4 MiB: stays
                   random,
                   MakeNode("Shape", {"x"}, {"s"})};
  auto folded = FoldConstants(m, OptimizeOptions{}, ReferenceEvaluator());
  ASSERT_TRUE(folded.ok()) << folded.status().message();
  EXPECT_EQ(*folded, 4);  // Constant, Add, Mul, Shape of a fixed-shape input
  EXPECT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Mul", "ConstantOfShape", "RandomNormal"}));
  ASSERT_TRUE(m.graph.initializers.count("abk"));
  const Tensor& abk = m.graph.initializers.at("abk");
  EXPECT_FLOAT_EQ(abk.data<float>()[2], 66.0f);
  const Tensor& s = m.graph.initializers.at("s");
  EXPECT_EQ(s.GetAsInt64(0), 2);
  EXPECT_EQ(s.GetAsInt64(1), 3);
}

TEST(ConstantFolding, LeavesOverridableInitializersAndFailingNodes) {
  Model m = MakeModel();
  m.graph.outputs = {FloatValue("y", {}, false), FloatValue("z", {}, false)};
  m.graph.initializers["a"] = Tensor::FromVector<float>({1, 2}, {2});
  m.graph.initializers["bad_shape"] = Tensor::FromVector<int64_t>({5}, {1});
  m.graph.overridable_initializers = {"a"};
  m.graph.nodes = {MakeNode("Neg", {"a"}, {"y"}), MakeNode("Reshape", {"a", "bad_shape"}, {"z"})};
  // A failed evaluation is "do not fold", not an error.
  auto folded = FoldConstants(m, OptimizeOptions{}, ReferenceEvaluator());
  ASSERT_TRUE(folded.ok());
  EXPECT_EQ(*folded, 0);
  m.graph.overridable_initializers.clear();
  folded = FoldConstants(m, OptimizeOptions{}, ReferenceEvaluator());
  ASSERT_TRUE(folded.ok());
  EXPECT_EQ(*folded, 1);
  EXPECT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Reshape"}));
}

Model ConvBatchNormModel(bool conv_bias, bool extra_consumer) {
  Model m = MakeModel();
  m.graph.inputs = {FloatValue("x", {1, 3, 6, 6})};
  m.graph.outputs = {FloatValue("y", {1, 4, 4, 4})};
  m.graph.initializers["w"] = RandomFloats({4, 3, 3, 3}, 1);
  m.graph.initializers["gamma"] = RandomFloats({4}, 2, 0.5f, 2);
  m.graph.initializers["beta"] = RandomFloats({4}, 3);
  m.graph.initializers["mean"] = RandomFloats({4}, 4);
  m.graph.initializers["var"] = RandomFloats({4}, 5, 0.1f, 3);
  Node conv = MakeNode("Conv", {"x", "w"}, {"c"});
  if (conv_bias) {
    m.graph.initializers["cb"] = RandomFloats({4}, 6);
    conv.inputs.push_back("cb");
  }
  Node bn = MakeNode("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"bn"});
  bn.attributes["epsilon"].kind = Attribute::Kind::kFloat;
  bn.attributes["epsilon"].f = 1e-3f;
  m.graph.nodes = {conv, bn, MakeNode("Relu", {"bn"}, {"y"})};
  if (extra_consumer) {
    m.graph.outputs.push_back(FloatValue("c2", {1, 4, 4, 4}));
    m.graph.nodes.push_back(MakeNode("Neg", {"c"}, {"c2"}));
  }
  return m;
}

TEST(ConvBatchNormFolding, FoldsIntoWeightsAndBias) {
  for (bool conv_bias : {false, true}) {
    Model m = ConvBatchNormModel(conv_bias, false);
    Model before = m;
    auto folded = FoldConvBatchNorm(m);
    ASSERT_TRUE(folded.ok());
    EXPECT_EQ(*folded, 1);
    EXPECT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Conv", "Relu"}));
    EXPECT_EQ(m.graph.nodes[0].inputs.size(), 3u);
    EXPECT_EQ(m.graph.nodes[0].outputs[0], "bn");
    // The original weights are untouched (they could be shared with another node).
    EXPECT_EQ(m.graph.initializers.at("w").data<float>()[0],
              before.graph.initializers.at("w").data<float>()[0]);
    ExpectSameOutputs(before, m, {{"x", RandomFloats({1, 3, 6, 6}, 7)}});
    EXPECT_EQ(RemoveUnusedInitializers(m), conv_bias ? 6 : 5);
  }
}

TEST(ConvBatchNormFolding, SkipsWhenConvOutputHasAnotherConsumer) {
  Model m = ConvBatchNormModel(true, true);
  auto folded = FoldConvBatchNorm(m);
  ASSERT_TRUE(folded.ok());
  EXPECT_EQ(*folded, 0);
}

Model MatMulAddModel(bool left_rank_known, bool bias_first) {
  Model m = MakeModel();
  m.graph.inputs = {FloatValue("x", {5, 3}, left_rank_known)};
  m.graph.outputs = {FloatValue("y", {5, 4})};
  m.graph.initializers["w"] = RandomFloats({3, 4}, 11);
  m.graph.initializers["b"] = RandomFloats({4}, 12);
  m.graph.nodes = {
      MakeNode("MatMul", {"x", "w"}, {"mm"}),
      bias_first ? MakeNode("Add", {"b", "mm"}, {"y"}) : MakeNode("Add", {"mm", "b"}, {"y"})};
  return m;
}

TEST(MatMulAddToGemm, FusesWhenRanksAreKnown) {
  for (bool bias_first : {false, true}) {
    Model m = MatMulAddModel(true, bias_first);
    Model before = m;
    auto fused = FuseMatMulAdd(m);
    ASSERT_TRUE(fused.ok());
    EXPECT_EQ(*fused, 1);
    ASSERT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Gemm"}));
    EXPECT_EQ(m.graph.nodes[0].inputs, (std::vector<std::string>{"x", "w", "b"}));
    EXPECT_EQ(m.graph.nodes[0].outputs[0], "y");
    ExpectSameOutputs(before, m, {{"x", RandomFloats({5, 3}, 13)}});
  }
}

TEST(MatMulAddToGemm, SkipsUnknownRankAndSharedOutput) {
  Model unknown = MatMulAddModel(false, false);
  EXPECT_EQ(*FuseMatMulAdd(unknown), 0);
  Model shared = MatMulAddModel(true, false);
  shared.graph.outputs.push_back(FloatValue("mm", {5, 4}));
  EXPECT_EQ(*FuseMatMulAdd(shared), 0);
  Model batched = MatMulAddModel(true, false);
  batched.graph.inputs = {FloatValue("x", {2, 5, 3})};
  EXPECT_EQ(*FuseMatMulAdd(batched), 0);
}

// x -> Conv -> activation -> y, with Clip's bounds as constant inputs (opset 13).
Model ConvActivationModel(const std::string& activation) {
  Model m = MakeModel();
  m.graph.inputs = {FloatValue("x", {1, 3, 7, 6})};
  m.graph.outputs = {FloatValue("y", {1, 5, 7, 6})};
  m.graph.initializers["w"] = RandomFloats({5, 3, 3, 3}, 31);
  m.graph.initializers["b"] = RandomFloats({5}, 32);
  Node conv = MakeNode("Conv", {"x", "w", "b"}, {"c"});
  conv.attributes["pads"].kind = Attribute::Kind::kInts;
  conv.attributes["pads"].ints = {1, 1, 1, 1};
  Node act = MakeNode(activation, {"c"}, {"y"});
  if (activation == "Clip") {
    m.graph.initializers["lo"] = Tensor::Scalar<float>(-0.5f);
    m.graph.initializers["hi"] = Tensor::Scalar<float>(0.75f);
    act.inputs = {"c", "lo", "hi"};
  }
  if (activation == "LeakyRelu") {
    act.attributes["alpha"].kind = Attribute::Kind::kFloat;
    act.attributes["alpha"].f = 0.2f;
  }
  m.graph.nodes = {conv, act};
  return m;
}

TEST(ConvActivationFusion, FusesReluLeakyReluAndClip) {
  const std::pair<const char*, std::vector<float>> cases[] = {
      {"Relu", {}}, {"LeakyRelu", {0.2f}}, {"Clip", {-0.5f, 0.75f}}, {"Sigmoid", {}}};
  for (const auto& [activation, params] : cases) {
    SCOPED_TRACE(activation);
    Model m = ConvActivationModel(activation);
    Model before = m;
    auto fused = FuseConvActivation(m);
    ASSERT_TRUE(fused.ok());
    EXPECT_EQ(*fused, 1);
    ASSERT_EQ(OpTypes(m.graph), (std::vector<std::string>{"FusedConv"}));
    const Node& node = m.graph.nodes[0];
    EXPECT_EQ(node.domain, kPrivedgeDomain);
    EXPECT_EQ(node.inputs, (std::vector<std::string>{"x", "w", "b"}));
    EXPECT_EQ(node.outputs, (std::vector<std::string>{"y"}));
    ASSERT_NE(node.FindAttribute("activation"), nullptr);
    EXPECT_EQ(node.FindAttribute("activation")->s, activation);
    EXPECT_EQ(node.FindAttribute("activation_params")->floats, params);
    EXPECT_NE(node.FindAttribute("pads"), nullptr);  // the Conv's attributes stay
    EXPECT_EQ(m.OpsetVersion(kPrivedgeDomain), 1);
    ExpectSameOutputs(before, m, {{"x", RandomFloats({1, 3, 7, 6}, 33, -2, 2)}});
  }
}

TEST(ConvActivationFusion, FusesSwishOnlyWhenTheConvFeedsNothingElse) {
  for (bool sigmoid_first : {true, false}) {
    Model m = ConvActivationModel("Sigmoid");
    m.graph.nodes[1].outputs = {"g"};
    m.graph.nodes.push_back(
        MakeNode("Mul", sigmoid_first ? std::vector<std::string>{"g", "c"}
                                      : std::vector<std::string>{"c", "g"},
                 {"y"}));
    Model before = m;
    ASSERT_EQ(*FuseConvActivation(m), 1);
    ASSERT_EQ(OpTypes(m.graph), (std::vector<std::string>{"FusedConv"}));
    EXPECT_EQ(m.graph.nodes[0].FindAttribute("activation")->s, "Swish");
    EXPECT_EQ(m.graph.nodes[0].outputs, (std::vector<std::string>{"y"}));
    ExpectSameOutputs(before, m, {{"x", RandomFloats({1, 3, 7, 6}, 34, -3, 3)}});
  }
  // The Conv output or the gate read elsewhere: no fusion.
  for (const char* extra : {"c", "g"}) {
    Model m = ConvActivationModel("Sigmoid");
    m.graph.nodes[1].outputs = {"g"};
    m.graph.nodes.push_back(MakeNode("Mul", {"c", "g"}, {"y"}));
    m.graph.nodes.push_back(MakeNode("Neg", {extra}, {"n"}));
    m.graph.outputs.push_back(FloatValue("n", {1, 5, 7, 6}));
    EXPECT_EQ(*FuseConvActivation(m), 0) << extra;
  }
}

TEST(ConvActivationFusion, SkipsSharedOutputsAndRuntimeOrEmptyClipRanges) {
  Model output = ConvActivationModel("Relu");
  output.graph.outputs.push_back(FloatValue("c", {1, 5, 7, 6}));
  EXPECT_EQ(*FuseConvActivation(output), 0);
  Model shared = ConvActivationModel("Relu");
  shared.graph.outputs.push_back(FloatValue("n", {1, 5, 7, 6}));
  shared.graph.nodes.push_back(MakeNode("Neg", {"c"}, {"n"}));
  EXPECT_EQ(*FuseConvActivation(shared), 0);
  Model runtime_bound = ConvActivationModel("Clip");
  runtime_bound.graph.inputs.push_back(FloatValue("hi", {}));
  runtime_bound.graph.initializers.erase("hi");
  EXPECT_EQ(*FuseConvActivation(runtime_bound), 0);
  Model empty_range = ConvActivationModel("Clip");
  empty_range.graph.initializers["lo"] = Tensor::Scalar<float>(1.0f);
  EXPECT_EQ(*FuseConvActivation(empty_range), 0);
  Model other = ConvActivationModel("Tanh");
  EXPECT_EQ(*FuseConvActivation(other), 0);
  EXPECT_EQ(other.OpsetVersion(kPrivedgeDomain), 0);
}

// The decomposed LayerNorm PyTorch exports for opset 13, over x [2, 5, 8], with its output
// `y`; `swap` writes Mul/Add operands the other way round.
Model LayerNormModel(bool swap) {
  Model m = MakeModel(13);
  m.graph.inputs = {FloatValue("x", {2, 5, 8})};
  m.graph.outputs = {FloatValue("y", {2, 5, 8})};
  m.graph.initializers["two"] = Tensor::Scalar<float>(2.0f);
  m.graph.initializers["eps"] = Tensor::Scalar<float>(1e-5f);
  m.graph.initializers["gamma"] = RandomFloats({8}, 41);
  m.graph.initializers["beta"] = RandomFloats({8}, 42);
  Node mean = MakeNode("ReduceMean", {"x"}, {"mean"});
  mean.attributes["axes"].kind = Attribute::Kind::kInts;
  mean.attributes["axes"].ints = {-1};
  Node var = MakeNode("ReduceMean", {"sq"}, {"var"});
  var.attributes = mean.attributes;
  m.graph.nodes = {mean,
                   MakeNode("Sub", {"x", "mean"}, {"d"}),
                   MakeNode("Pow", {"d", "two"}, {"sq"}),
                   var,
                   MakeNode("Add", {"var", "eps"}, {"ve"}),
                   MakeNode("Sqrt", {"ve"}, {"sd"}),
                   MakeNode("Div", {"d", "sd"}, {"n"}),
                   MakeNode("Mul", swap ? std::vector<std::string>{"gamma", "n"}
                                        : std::vector<std::string>{"n", "gamma"}, {"g"}),
                   MakeNode("Add", swap ? std::vector<std::string>{"beta", "g"}
                                        : std::vector<std::string>{"g", "beta"}, {"y"})};
  return m;
}

TEST(LayerNormFusion, FusesTheDecomposedPattern) {
  for (bool swap : {false, true}) {
    SCOPED_TRACE(swap);
    Model m = LayerNormModel(swap);
    Model before = m;
    auto fused = FuseLayerNorm(m);
    ASSERT_TRUE(fused.ok());
    EXPECT_EQ(*fused, 1);
    ASSERT_EQ(OpTypes(m.graph), (std::vector<std::string>{"LayerNormalization"}));
    const Node& ln = m.graph.nodes[0];
    EXPECT_EQ(ln.domain, kPrivedgeDomain);
    EXPECT_EQ(ln.inputs, (std::vector<std::string>{"x", "gamma", "beta"}));
    EXPECT_EQ(ln.outputs, (std::vector<std::string>{"y"}));
    EXPECT_FLOAT_EQ(ln.FindAttribute("epsilon")->f, 1e-5f);
    EXPECT_EQ(m.OpsetVersion(kPrivedgeDomain), 1);
    ExpectSameOutputs(before, m, {{"x", RandomFloats({2, 5, 8}, 43, -3, 3)}});
  }
}

TEST(LayerNormFusion, SkipsOtherAxesExponentsAndSharedValues) {
  Model axis = LayerNormModel(false);
  axis.graph.nodes[3].attributes["axes"].ints = {1};
  EXPECT_EQ(*FuseLayerNorm(axis), 0);
  Model cube = LayerNormModel(false);
  cube.graph.initializers["two"] = Tensor::Scalar<float>(3.0f);
  EXPECT_EQ(*FuseLayerNorm(cube), 0);
  Model shared = LayerNormModel(false);
  shared.graph.outputs.push_back(FloatValue("n", {2, 5, 8}));
  EXPECT_EQ(*FuseLayerNorm(shared), 0);
  Model runtime_gamma = LayerNormModel(false);
  runtime_gamma.graph.initializers.erase("gamma");
  runtime_gamma.graph.inputs.push_back(FloatValue("gamma", {8}));
  EXPECT_EQ(*FuseLayerNorm(runtime_gamma), 0);
  EXPECT_EQ(runtime_gamma.OpsetVersion(kPrivedgeDomain), 0);
  // x's last axis must be known to match gamma: a broadcasting Mul would widen the output.
  Model unknown = LayerNormModel(false);
  unknown.graph.inputs = {FloatValue("x", {}, false)};
  EXPECT_EQ(*FuseLayerNorm(unknown), 0);
  Model wider = LayerNormModel(false);
  wider.graph.inputs = {FloatValue("x", {2, 5, 1})};
  EXPECT_EQ(*FuseLayerNorm(wider), 0);
}

// MatMul(x [2, 3, 6], w [6, 4]) + b, then `tail` ("Relu" or "" for none).
Model MatMulBiasModel(const std::string& tail) {
  Model m = MakeModel(13);
  m.graph.inputs = {FloatValue("x", {2, 3, 6})};
  m.graph.outputs = {FloatValue("y", {2, 3, 4})};
  m.graph.initializers["w"] = RandomFloats({6, 4}, 51);
  m.graph.initializers["b"] = RandomFloats({4}, 52);
  m.graph.nodes = {MakeNode("MatMul", {"x", "w"}, {"mm"}),
                   MakeNode("Add", {"b", "mm"}, {tail.empty() ? "y" : "s"})};
  if (!tail.empty()) m.graph.nodes.push_back(MakeNode(tail, {"s"}, {"y"}));
  return m;
}

TEST(MatMulBiasFusion, FusesBiasAndRelu) {
  for (const std::string tail : {"", "Relu"}) {
    SCOPED_TRACE(tail);
    Model m = MatMulBiasModel(tail);
    Model before = m;
    auto fused = FuseMatMulBias(m);
    ASSERT_TRUE(fused.ok());
    EXPECT_EQ(*fused, 1);
    ASSERT_EQ(OpTypes(m.graph), (std::vector<std::string>{"FusedMatMul"}));
    EXPECT_EQ(m.graph.nodes[0].inputs, (std::vector<std::string>{"x", "w", "b"}));
    EXPECT_EQ(m.graph.nodes[0].FindAttribute("activation")->s, tail);
    ExpectSameOutputs(before, m, {{"x", RandomFloats({2, 3, 6}, 53)}});
  }
  // Another activation ends the chain at the Add.
  Model tanh = MatMulBiasModel("Tanh");
  EXPECT_EQ(*FuseMatMulBias(tanh), 1);
  EXPECT_EQ(OpTypes(tanh.graph), (std::vector<std::string>{"FusedMatMul", "Tanh"}));
  // A bias that does not match W's columns, or a run-time W, is left alone.
  Model wide = MatMulBiasModel("");
  wide.graph.initializers["b"] = RandomFloats({1, 4}, 54);
  EXPECT_EQ(*FuseMatMulBias(wide), 0);
  Model runtime_w = MatMulBiasModel("");
  runtime_w.graph.initializers.erase("w");
  runtime_w.graph.inputs.push_back(FloatValue("w", {6, 4}));
  EXPECT_EQ(*FuseMatMulBias(runtime_w), 0);
}

// Conv(x) + z -> Relu, with z computed after the Conv (a residual branch); `z_shape` may
// broadcast.
Model ConvAddModel(const Shape& z_shape, bool conv_bias = true) {
  Model m = MakeModel();
  m.graph.inputs = {FloatValue("x", {1, 3, 7, 6}), FloatValue("z0", z_shape)};
  m.graph.outputs = {FloatValue("y", {}, false)};
  m.graph.initializers["w"] = RandomFloats({5, 3, 3, 3}, 41);
  if (conv_bias) m.graph.initializers["b"] = RandomFloats({5}, 42);
  Node conv = MakeNode("Conv", {"x", "w"}, {"c"});
  if (conv_bias) conv.inputs.push_back("b");
  conv.attributes["pads"].kind = Attribute::Kind::kInts;
  conv.attributes["pads"].ints = {1, 1, 1, 1};
  m.graph.nodes = {conv, MakeNode("Neg", {"z0"}, {"z"}), MakeNode("Add", {"z", "c"}, {"s"}),
                   MakeNode("Relu", {"s"}, {"y"})};
  return m;
}

TEST(ConvAddFusion, FusesResidualThenActivation) {
  for (const Shape& z_shape : {Shape{1, 5, 7, 6}, Shape{5, 1, 1}, Shape{2, 5, 7, 6}}) {
    for (bool bias : {true, false}) {
      SCOPED_TRACE(ShapeToString(z_shape) + (bias ? " bias" : ""));
      Model m = ConvAddModel(z_shape, bias);
      Model before = m;
      auto added = FuseConvAdd(m);
      ASSERT_TRUE(added.ok());
      EXPECT_EQ(*added, 1);
      ASSERT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Neg", "FusedConv", "Relu"}));
      const Node& node = m.graph.nodes[1];
      EXPECT_EQ(node.domain, kPrivedgeDomain);
      EXPECT_EQ(node.inputs, (std::vector<std::string>{"x", "w", bias ? "b" : "", "z"}));
      EXPECT_EQ(node.outputs, (std::vector<std::string>{"s"}));
      EXPECT_EQ(node.FindAttribute("activation"), nullptr);
      EXPECT_EQ(m.OpsetVersion(kPrivedgeDomain), 1);
      ExpectSameOutputs(before, m, {{"x", RandomFloats({1, 3, 7, 6}, 43, -2, 2)},
                                    {"z0", RandomFloats(z_shape, 44, -2, 2)}});
      // The Relu then joins the fused node, after the sum.
      ASSERT_EQ(*FuseConvActivation(m), 1);
      ASSERT_EQ(OpTypes(m.graph), (std::vector<std::string>{"Neg", "FusedConv"}));
      EXPECT_EQ(m.graph.nodes[1].FindAttribute("activation")->s, "Relu");
      EXPECT_EQ(m.graph.nodes[1].outputs, (std::vector<std::string>{"y"}));
      ExpectSameOutputs(before, m, {{"x", RandomFloats({1, 3, 7, 6}, 45, -2, 2)},
                                    {"z0", RandomFloats(z_shape, 46, -2, 2)}});
    }
  }
}

TEST(ConvAddFusion, SkipsSharedOutputsActivatedConvsAndSelfSums) {
  Model shared = ConvAddModel({1, 5, 7, 6});
  shared.graph.outputs.push_back(FloatValue("c", {1, 5, 7, 6}));
  EXPECT_EQ(*FuseConvAdd(shared), 0);
  // Conv -> Relu -> Add: the activation comes first, so the sum cannot join.
  Model activated = ConvAddModel({1, 5, 7, 6});
  ASSERT_EQ(*FuseConvActivation(activated), 0);  // the Relu reads the Add, not the Conv
  activated.graph.nodes[0].outputs = {"c0"};
  activated.graph.nodes.insert(activated.graph.nodes.begin() + 1, MakeNode("Relu", {"c0"}, {"c"}));
  ASSERT_EQ(*FuseConvActivation(activated), 1);
  EXPECT_EQ(*FuseConvAdd(activated), 0);
  Model self = ConvAddModel({1, 5, 7, 6});
  self.graph.nodes[2].inputs = {"c", "c"};
  EXPECT_EQ(*FuseConvAdd(self), 0);
}

TEST(OptimizeGraph, RunsPassesToAFixedPointAndCopiesSubgraphs) {
  Model m = ConvBatchNormModel(false, false);
  // Dropout between Conv and BN hides the pair until identity elimination removes it; the
  // BN's mean comes from a Constant-fed Add that folding must resolve first.
  m.graph.nodes[0].outputs[0] = "c0";
  m.graph.nodes.insert(m.graph.nodes.begin() + 1, MakeNode("Dropout", {"c0"}, {"c"}));
  m.graph.initializers["half_mean"] = Tensor::FromVector<float>({0.1f, 0.2f, 0.3f, 0.4f}, {4});
  m.graph.nodes.insert(m.graph.nodes.begin(),
                       MakeNode("Add", {"half_mean", "half_mean"}, {"mean2"}));
  m.graph.nodes[3].inputs[3] = "mean2";
  m.graph.nodes.push_back(MakeNode("Relu", {"x"}, {"dead"}));
  // A subgraph shared with the original model: optimizing must not change the original.
  auto branch = std::make_shared<Graph>();
  branch->outputs = {FloatValue("r", {}, false)};
  branch->nodes = {MakeNode("Neg", {"y"}, {"t"}), MakeNode("Identity", {"t"}, {"r"})};
  m.graph.inputs.push_back({"cond", {}});
  m.graph.inputs.back().type.kind = TypeInfo::Kind::kTensor;
  m.graph.inputs.back().type.elem_type = DType::kBool;
  Node if_node = MakeNode("If", {"cond"}, {"out2"});
  if_node.attributes["then_branch"].kind = Attribute::Kind::kGraph;
  if_node.attributes["then_branch"].g = branch;
  if_node.attributes["else_branch"].kind = Attribute::Kind::kGraph;
  if_node.attributes["else_branch"].g = branch;
  m.graph.nodes.push_back(if_node);
  m.graph.outputs.push_back(FloatValue("out2", {}, false));

  Model before = m;
  auto stats = OptimizeGraph(m, OptimizeOptions{}, ReferenceEvaluator());
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(OpTypes(m.graph), (std::vector<std::string>{"FusedConv", "If"}));
  EXPECT_EQ(stats->nodes_before, 11);  // 7 in the main graph, 2 in each branch
  EXPECT_EQ(stats->nodes_after, 4);    // FusedConv, If; each branch keeps Neg, renamed to r
  std::map<std::string, int64_t> counts;
  for (const auto& p : stats->passes) counts[p.pass] = p.count;
  EXPECT_EQ(counts["constant folding"], 1);
  EXPECT_EQ(counts["identity elimination"], 3);  // Dropout + the branch's Identity twice
  EXPECT_EQ(counts["conv+batchnorm folding"], 1);
  EXPECT_EQ(counts["conv+activation fusion"], 1);
  EXPECT_EQ(counts["dead node elimination"], 1);
  EXPECT_EQ(branch->nodes.size(), 2u);  // the shared original is intact
  ExpectSameOutputs(before, m,
                    {{"x", RandomFloats({1, 3, 6, 6}, 21)}, {"cond", Tensor::Scalar<bool>(true)}});
}

TEST(OptimizeGraph, SessionsWithAndWithoutOptimizationAgreeOnTestModels) {
  const std::string dir = std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/models";
  int models = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".onnx") continue;
    const std::string base = entry.path().string().substr(0, entry.path().string().size() - 5);
    SCOPED_TRACE(base);
    auto input = ReadNpy(base + ".input.npy");
    ASSERT_TRUE(input.ok()) << input.status().message();
    SessionOptions plain, optimized;
    plain.optimize = false;
    auto a = Session::Load(entry.path().string(), plain);
    auto b = Session::Load(entry.path().string(), optimized);
    ASSERT_TRUE(a.ok() && b.ok());
    const NamedTensors inputs = {{(*a)->inputs()[0].name, *input}};
    auto ra = (*a)->Run(inputs);
    auto rb = (*b)->Run(inputs);
    ASSERT_TRUE(ra.ok()) << ra.status().message();
    ASSERT_TRUE(rb.ok()) << rb.status().message();
    ASSERT_EQ(ra->size(), rb->size());
    for (size_t i = 0; i < ra->size(); ++i)
      EXPECT_LE(RelativeError((*ra)[i].second, (*rb)[i].second), 1e-5) << (*ra)[i].first;
    ++models;
  }
  EXPECT_GE(models, 4);
}

}  // namespace
}  // namespace privedge
