// Static shape inference: against the run-time shapes of the PyTorch test models, and on small
// hand-built graphs (broadcasting with symbols, convolution geometry, Reshape's 0 and -1,
// shape arithmetic, hostile attributes).
#include "model/shape_inference.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "kernels/kernel.h"
#include "model/onnx_import.h"
#include "model/tensor_io.h"
#include "runtime/executor.h"

namespace privedge {
namespace {

// ---- Real models ------------------------------------------------------------------------------

std::string ModelDir() { return std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/models/"; }

// `t` repeated `copies` times along axis 0 (a batch of identical samples).
Tensor RepeatBatch(const Tensor& t, int64_t copies) {
  Shape shape = t.shape();
  shape[0] *= copies;
  Tensor out(t.dtype(), shape);
  for (int64_t c = 0; c < copies; ++c)
    std::memcpy(static_cast<char*>(out.raw_data()) + c * t.nbytes(), t.raw_data(), t.nbytes());
  return out;
}

// Runs `model` with every inferred node output made a graph output and checks each inferred
// dim against the run-time shape: a known extent must match, and every symbol must stand for
// one extent throughout (the one the input gave it).
void CheckAgainstRun(const Model& model, const std::map<std::string, TypeInfo>& types,
                     const Tensor& input) {
  Model probe = model;
  std::set<std::string> listed;
  for (auto& out : probe.graph.outputs) {
    listed.insert(out.name);
    if (types.count(out.name)) out.type = types.at(out.name);
  }
  for (const Node& n : probe.graph.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty() && types.count(o) && listed.insert(o).second)
        probe.graph.outputs.push_back({o, types.at(o)});
  auto exec = GraphExecutor::Create(probe, KernelRegistry::Global());
  ASSERT_TRUE(exec.ok()) << exec.status().message();
  const ValueInfo& in = probe.graph.inputs.at(0);
  auto outputs = (*exec)->Run({{in.name, Value::FromTensor(input)}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  ASSERT_EQ(outputs->size(), probe.graph.outputs.size());

  std::map<std::string, int64_t> symbols;
  ASSERT_EQ(in.type.dims.size(), input.rank());
  for (size_t i = 0; i < input.rank(); ++i)
    if (!in.type.dims[i].symbol.empty()) symbols[in.type.dims[i].symbol] = input.shape()[i];

  int checked_dims = 0;
  for (size_t k = 0; k < outputs->size(); ++k) {
    const ValueInfo& vi = probe.graph.outputs[k];
    const Value& v = (*outputs)[k];
    if (!v.is_tensor() || vi.type.kind != TypeInfo::Kind::kTensor) continue;
    SCOPED_TRACE(vi.name + " inferred " + vi.type.ToString() + ", actual " +
                 ShapeToString(v.tensor.shape()));
    if (vi.type.elem_type != DType::kUndefined) {
      EXPECT_EQ(vi.type.elem_type, v.tensor.dtype());
    }
    if (!vi.type.has_shape) continue;
    ASSERT_EQ(vi.type.dims.size(), v.tensor.rank());
    for (size_t i = 0; i < vi.type.dims.size(); ++i) {
      const Dim& d = vi.type.dims[i];
      if (d.known()) {
        EXPECT_EQ(d.value, v.tensor.shape()[i]) << "axis " << i;
        ++checked_dims;
      } else if (!d.symbol.empty()) {
        ASSERT_TRUE(symbols.count(d.symbol)) << "symbol " << d.symbol << " not from the input";
        EXPECT_EQ(symbols[d.symbol], v.tensor.shape()[i]) << "axis " << i << " " << d.symbol;
        ++checked_dims;
      }
    }
  }
  EXPECT_GT(checked_dims, 0);
}

struct ModelCase {
  const char* name;
  const char* output_type;  // declared, and expected from inference
  size_t min_fully_known;   // node outputs whose every dim is a value or a symbol
};

class ModelShapesTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelShapesTest, InferredTypesMatchDeclarationsAndRunTimeShapes) {
  const ModelCase& c = GetParam();
  auto model = ImportOnnxFile(ModelDir() + c.name + ".onnx");
  ASSERT_TRUE(model.ok()) << model.status().message();
  Graph graph = model->graph;
  // Infer without the declared output types, so the check below is not circular.
  for (auto& out : graph.outputs) out.type = TypeInfo{};
  graph.value_infos.clear();
  std::map<std::string, TypeInfo> types;
  ASSERT_TRUE(InferGraphTypes(graph, model->OpsetVersion(""), &types).ok());

  const ValueInfo& out = model->graph.outputs.at(0);
  EXPECT_EQ(out.type.ToString(), c.output_type);
  EXPECT_EQ(types[out.name].ToString(), c.output_type);

  size_t fully_known = 0, outputs = 0;
  for (const Node& n : graph.nodes) {
    for (const auto& o : n.outputs) {
      ++outputs;
      const TypeInfo& t = types[o];
      bool full = t.kind == TypeInfo::Kind::kTensor && t.has_shape;
      for (const Dim& d : t.dims) full = full && (d.known() || !d.symbol.empty());
      fully_known += full;
    }
  }
  EXPECT_GE(fully_known, c.min_fully_known) << "of " << outputs;
  // Import annotated the intermediate values too.
  EXPECT_FALSE(model->graph.value_infos.empty());

  auto input = ReadNpy(ModelDir() + c.name + ".input.npy");
  ASSERT_TRUE(input.ok()) << input.status().message();
  CheckAgainstRun(*model, types, *input);
  // Batch 2 tells a symbolic batch apart from a literal 1.
  CheckAgainstRun(*model, types, RepeatBatch(*input, 2));
}

INSTANTIATE_TEST_SUITE_P(
    Models, ModelShapesTest,
    ::testing::Values(ModelCase{"mobilenet_v2_w035", "float32[batch,1000]", 170},
                      ModelCase{"resnet18_2stages", "float32[batch,128,28,28]", 24},
                      ModelCase{"transformer_encoder", "float32[batch,seq,128]", 224},
                      ModelCase{"lstm", "float32[batch,seq,16]", 39}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- Hand-built graphs ------------------------------------------------------------------------

Dim D(int64_t v) { return Dim{v, ""}; }
Dim S(const std::string& s) { return Dim{-1, s}; }

TypeInfo T(DType t, std::vector<Dim> dims) {
  TypeInfo info;
  info.kind = TypeInfo::Kind::kTensor;
  info.elem_type = t;
  info.has_shape = true;
  info.dims = std::move(dims);
  return info;
}

Attribute Ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

Attribute Int(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}

Attribute Str(const std::string& s) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = s;
  return a;
}

// A graph under construction; Infer() returns every value's inferred type as a string.
struct GraphBuilder {
  Graph g;
  int64_t opset = 13;

  GraphBuilder& Input(const std::string& name, TypeInfo type) {
    g.inputs.push_back({name, std::move(type)});
    return *this;
  }
  GraphBuilder& Init(const std::string& name, Tensor t) {
    g.initializers[name] = std::move(t);
    return *this;
  }
  GraphBuilder& Op(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                   std::map<std::string, Attribute> attrs = {}) {
    Node n;
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attributes = std::move(attrs);
    g.nodes.push_back(std::move(n));
    return *this;
  }
  std::map<std::string, std::string> Infer() {
    std::map<std::string, TypeInfo> types;
    EXPECT_TRUE(InferGraphTypes(g, opset, &types).ok());
    std::map<std::string, std::string> out;
    for (const auto& [name, t] : types) out[name] = t.ToString();
    return out;
  }
};

Tensor I64(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<int64_t>(v, {n});
}

TEST(ShapeInferenceTest, BroadcastingKeepsSymbols) {
  GraphBuilder b;
  b.Input("a", T(DType::kFloat32, {S("batch"), D(1), D(4)}))
      .Input("b", T(DType::kFloat32, {D(3), D(1)}))
      .Input("c", T(DType::kFloat32, {S("batch"), S("seq")}))
      .Input("d", T(DType::kFloat32, {S("seq")}))
      .Input("e", T(DType::kFloat32, {D(5)}))
      .Input("f", T(DType::kFloat32, {D(4)}))
      .Input("g", T(DType::kFloat32, {S("batch"), Dim{}}))
      .Op("Add", {"a", "b"}, {"ab"})
      .Op("Mul", {"c", "c"}, {"cc"})
      .Op("Sub", {"c", "d"}, {"cd"})
      .Op("Max", {"d", "e", "d"}, {"de"})
      .Op("Div", {"e", "f"}, {"ef"})
      .Op("Less", {"a", "b"}, {"less"})
      .Op("Where", {"less", "ab", "b"}, {"where"})
      .Op("Relu", {"g"}, {"relu"})
      .Op("Add", {"g", "e"}, {"ge"})
      .Op("Cast", {"c"}, {"cast"}, {{"to", Int(7)}});
  auto t = b.Infer();
  EXPECT_EQ(t["ab"], "float32[batch,3,4]");
  EXPECT_EQ(t["cc"], "float32[batch,seq]");
  EXPECT_EQ(t["cd"], "float32[batch,seq]");
  EXPECT_EQ(t["de"], "float32[5]");  // seq must be 5 (or 1)
  EXPECT_EQ(t["ef"], "float32[?]");  // 5 vs 4: the kernel reports it; rank unknown
  EXPECT_EQ(t["less"], "bool[batch,3,4]");
  EXPECT_EQ(t["where"], "float32[batch,3,4]");
  EXPECT_EQ(t["relu"], "float32[batch,?]");
  EXPECT_EQ(t["ge"], "float32[batch,5]");
  EXPECT_EQ(t["cast"], "int64[batch,seq]");
}

TEST(ShapeInferenceTest, ConvolutionAndPoolingGeometry) {
  GraphBuilder b;
  b.Input("x", T(DType::kFloat32, {S("batch"), D(3), D(224), D(224)}))
      .Input("y", T(DType::kFloat32, {S("batch"), D(8), S("h"), S("w")}))
      .Init("w", Tensor(DType::kFloat32, {16, 3, 3, 3}))
      .Init("w1", Tensor(DType::kFloat32, {4, 8, 1, 1}))
      .Init("wt", Tensor(DType::kFloat32, {16, 4, 4, 4}))
      .Op("Conv", {"x", "w"}, {"s2"}, {{"strides", Ints({2, 2})}, {"pads", Ints({1, 1, 1, 1})}})
      .Op("Conv", {"x", "w"}, {"dil"}, {{"dilations", Ints({2, 2})}})
      .Op("Conv", {"x", "w"}, {"same"},
          {{"auto_pad", Str("SAME_UPPER")}, {"strides", Ints({3, 3})}})
      .Op("Conv", {"y", "w1"}, {"pointwise"})
      .Op("Conv", {"y", "w1"}, {"strided"}, {{"strides", Ints({2, 2})}})
      .Op("MaxPool", {"s2"}, {"pool", "idx"},
          {{"kernel_shape", Ints({3, 3})}, {"strides", Ints({2, 2})}, {"ceil_mode", Int(1)}})
      .Op("AveragePool", {"s2"}, {"avg"},
          {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}, {"pads", Ints({0, 0, 1, 1})}})
      .Op("GlobalAveragePool", {"s2"}, {"gap"})
      .Op("Flatten", {"gap"}, {"flat"})
      .Op("ConvTranspose", {"s2", "wt"}, {"up"},
          {{"strides", Ints({2, 2})}, {"pads", Ints({1, 1, 1, 1})}})
      .Op("BatchNormalization", {"s2", "bn", "bn", "bn", "bn"}, {"bn_out"});
  auto t = b.Infer();
  EXPECT_EQ(t["s2"], "float32[batch,16,112,112]");
  EXPECT_EQ(t["dil"], "float32[batch,16,220,220]");
  EXPECT_EQ(t["same"], "float32[batch,16,75,75]");
  EXPECT_EQ(t["pointwise"], "float32[batch,4,h,w]");
  EXPECT_EQ(t["strided"], "float32[batch,4,?,?]");
  EXPECT_EQ(t["pool"], "float32[batch,16,56,56]");  // ceil((112-3)/2)+1 = 56
  EXPECT_EQ(t["idx"], "int64[batch,16,56,56]");
  EXPECT_EQ(t["avg"], "float32[batch,16,56,56]");
  EXPECT_EQ(t["gap"], "float32[batch,16,1,1]");
  EXPECT_EQ(t["flat"], "float32[batch,16]");
  EXPECT_EQ(t["up"], "float32[batch,4,224,224]");  // 2*111 + 4 - 2
  EXPECT_EQ(t["bn_out"], "float32[batch,16,112,112]");
}

TEST(ShapeInferenceTest, MatMulGemmReduceSoftmax) {
  GraphBuilder b;
  b.Input("x", T(DType::kFloat32, {S("batch"), S("seq"), D(128)}))
      .Input("v", T(DType::kFloat32, {D(128)}))
      .Init("w", Tensor(DType::kFloat32, {128, 64}))
      .Init("heads", Tensor(DType::kFloat32, {1, 4, 64, 32}))
      .Init("g", Tensor(DType::kFloat32, {10, 64}))
      .Init("axes", I64({1}))
      .Op("MatMul", {"x", "w"}, {"proj"})
      .Op("MatMul", {"x", "v"}, {"dot"})
      .Op("Unsqueeze", {"proj", "axes"}, {"proj4"})
      .Op("MatMul", {"proj4", "heads"}, {"batched"})
      .Op("Gemm", {"m", "g"}, {"gemm"}, {{"transB", Int(1)}})
      .Op("Softmax", {"proj"}, {"sm"}, {{"axis", Int(-1)}})
      .Op("ReduceMean", {"proj"}, {"mean"}, {{"axes", Ints({-1})}})
      .Op("ReduceSum", {"proj", "axes"}, {"sum"}, {{"keepdims", Int(0)}})
      .Op("ArgMax", {"proj"}, {"arg"}, {{"axis", Int(2)}, {"keepdims", Int(0)}})
      .Op("LayerNormalization", {"proj", "lw", "lb"}, {"ln", "ln_mean"})
      .Op("Transpose", {"proj"}, {"tr"}, {{"perm", Ints({2, 0, 1})}})
      .Op("ReduceMax", {"proj"}, {"all"}, {{"keepdims", Int(0)}});
  b.g.inputs.push_back({"m", T(DType::kFloat32, {S("batch"), D(64)})});
  auto t = b.Infer();
  EXPECT_EQ(t["proj"], "float32[batch,seq,64]");
  EXPECT_EQ(t["dot"], "float32[batch,seq]");
  EXPECT_EQ(t["proj4"], "float32[batch,1,seq,64]");
  EXPECT_EQ(t["batched"], "float32[batch,4,seq,32]");
  EXPECT_EQ(t["gemm"], "float32[batch,10]");
  EXPECT_EQ(t["sm"], "float32[batch,seq,64]");
  EXPECT_EQ(t["mean"], "float32[batch,seq,1]");
  EXPECT_EQ(t["sum"], "float32[batch,64]");
  EXPECT_EQ(t["arg"], "int64[batch,seq]");
  EXPECT_EQ(t["ln"], "float32[batch,seq,64]");
  EXPECT_EQ(t["ln_mean"], "float32[batch,seq,1]");
  EXPECT_EQ(t["tr"], "float32[64,batch,seq]");
  EXPECT_EQ(t["all"], "float32[]");
}

TEST(ShapeInferenceTest, ReshapeZeroAndMinusOneWithSymbols) {
  GraphBuilder b;
  b.Input("x", T(DType::kFloat32, {S("batch"), S("seq"), D(4), D(32)}))
      .Input("y", T(DType::kFloat32, {D(2), D(3), D(4)}))
      .Init("keep2", I64({0, 0, -1}))
      .Init("rows", I64({-1, 32}))
      .Init("six", I64({-1, 4}))
      .Init("bad", I64({-5, 4}))
      .Init("two", I64({-1, -1}))
      .Op("Reshape", {"x", "keep2"}, {"merged"})
      .Op("Reshape", {"x", "rows"}, {"rows_out"})
      .Op("Reshape", {"y", "six"}, {"six_out"})
      .Op("Reshape", {"y", "bad"}, {"bad_out"})
      .Op("Reshape", {"y", "two"}, {"two_out"})
      .Op("Reshape", {"y", "dynamic"}, {"dyn_out"});
  b.g.inputs.push_back({"dynamic", T(DType::kInt64, {D(3)})});
  auto t = b.Infer();
  EXPECT_EQ(t["merged"], "float32[batch,seq,128]");
  EXPECT_EQ(t["rows_out"], "float32[?,32]");  // batch*seq*4 is no single symbol
  EXPECT_EQ(t["six_out"], "float32[6,4]");
  EXPECT_EQ(t["bad_out"], "float32[?]");
  EXPECT_EQ(t["two_out"], "float32[?]");  // two -1
  EXPECT_EQ(t["dyn_out"], "float32[?,?,?]");
}

// The exporters' shape arithmetic: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Slice
// of a shape, ConstantOfShape and Expand from computed shapes.
TEST(ShapeInferenceTest, TrackedShapeData) {
  GraphBuilder b;
  Attribute zero;
  zero.kind = Attribute::Kind::kTensor;
  zero.t = Tensor::Scalar<int64_t>(0);
  Attribute minus_one;
  minus_one.kind = Attribute::Kind::kInts;
  minus_one.ints = {-1};
  b.Input("x", T(DType::kFloat32, {S("batch"), S("seq"), D(128)}))
      .Op("Shape", {"x"}, {"shape"})
      .Op("Constant", {}, {"zero"}, {{"value", zero}})
      .Op("Gather", {"shape", "zero"}, {"batch"})
      .Op("Unsqueeze", {"batch", "axis0"}, {"batch1"})
      .Op("Constant", {}, {"m1"}, {{"value_ints", minus_one}})
      .Op("Concat", {"batch1", "m1"}, {"target"}, {{"axis", Int(0)}})
      .Op("Reshape", {"x", "target"}, {"flat"})
      .Op("Slice", {"shape", "s_start", "s_end"}, {"tail"})
      .Op("ConstantOfShape", {"shape"}, {"zeros"})
      .Op("Expand", {"one", "tail"}, {"expanded"})
      .Op("Size", {"x"}, {"size"});
  b.Init("axis0", I64({0})).Init("s_start", I64({1})).Init("s_end", I64({INT64_MAX}));
  b.Init("one", Tensor(DType::kFloat32, {1, 1}));
  auto t = b.Infer();
  EXPECT_EQ(t["shape"], "int64[3]");
  EXPECT_EQ(t["batch"], "int64[]");
  EXPECT_EQ(t["target"], "int64[2]");
  EXPECT_EQ(t["flat"], "float32[batch,?]");
  EXPECT_EQ(t["tail"], "int64[2]");
  EXPECT_EQ(t["zeros"], "float32[batch,seq,128]");
  EXPECT_EQ(t["expanded"], "float32[seq,128]");
  EXPECT_EQ(t["size"], "int64[]");
}

TEST(ShapeInferenceTest, ShapeOperators) {
  GraphBuilder b;
  b.Input("x", T(DType::kFloat32, {S("batch"), D(6), D(1), D(8)}))
      .Init("sq", I64({2}))
      .Init("starts", I64({0, -3}))
      .Init("ends", I64({INT64_MAX, -1}))
      .Init("axes", I64({0, 3}))
      .Init("split", I64({2, 4}))
      .Init("pads", I64({0, 1, 0, 2, 0, 1, 0, 2}))
      .Init("reps", I64({1, 2, 3, 1}))
      .Init("idx", Tensor(DType::kInt64, {5, 7}))
      .Op("Squeeze", {"x", "sq"}, {"squeezed"})
      .Op("Slice", {"x", "starts", "ends", "axes"}, {"sliced"})
      .Op("Split", {"x", "split"}, {"p0", "p1"}, {{"axis", Int(1)}})
      .Op("Split", {"x"}, {"h0", "h1", "h2"}, {{"axis", Int(1)}})
      .Op("Concat", {"p1", "x", "p0"}, {"joined"}, {{"axis", Int(1)}})
      .Op("Pad", {"x", "pads"}, {"padded"})
      .Op("Tile", {"x", "reps"}, {"tiled"})
      .Op("Gather", {"x", "idx"}, {"gathered"}, {{"axis", Int(1)}})
      .Op("Identity", {"x"}, {"same"})
      .Op("Dropout", {"x"}, {"drop", "mask"})
      .Op("Resize", {"x", "", "scales"}, {"resized"})
      .Op("LSTM", {"seq_in", "W", "R"}, {"Y", "Y_h", "Y_c"},
          {{"hidden_size", Int(16)}, {"direction", Str("bidirectional")}})
      .Op("Frobnicate", {"x"}, {"unknown_op"});
  b.Input("seq_in", T(DType::kFloat32, {S("seq"), S("batch"), D(64)}));
  auto t = b.Infer();
  EXPECT_EQ(t["squeezed"], "float32[batch,6,8]");
  EXPECT_EQ(t["sliced"], "float32[batch,6,1,2]");
  EXPECT_EQ(t["p0"], "float32[batch,2,1,8]");
  EXPECT_EQ(t["p1"], "float32[batch,4,1,8]");
  EXPECT_EQ(t["h2"], "float32[batch,2,1,8]");
  EXPECT_EQ(t["joined"], "float32[batch,12,1,8]");
  EXPECT_EQ(t["padded"], "float32[batch,8,1,12]");
  EXPECT_EQ(t["tiled"], "float32[batch,12,3,8]");
  EXPECT_EQ(t["gathered"], "float32[batch,5,7,1,8]");
  EXPECT_EQ(t["same"], "float32[batch,6,1,8]");
  EXPECT_EQ(t["mask"], "bool[batch,6,1,8]");
  EXPECT_EQ(t["resized"], "float32[?,?,?,?]");
  EXPECT_EQ(t["Y"], "float32[seq,2,batch,16]");
  EXPECT_EQ(t["Y_c"], "float32[2,batch,16]");
  EXPECT_EQ(t["unknown_op"], "unknown");
  // Unknown values get no value_info; inferred ones do.
  bool has_unknown = false, has_sliced = false;
  for (const auto& vi : b.g.value_infos) {
    has_unknown |= vi.name == "unknown_op";
    has_sliced |= vi.name == "sliced";
  }
  EXPECT_FALSE(has_unknown);
  EXPECT_TRUE(has_sliced);
}

TEST(ShapeInferenceTest, DeclaredValueInfosAreMerged) {
  GraphBuilder b;
  b.Input("x", T(DType::kFloat32, {S("batch"), Dim{}}))
      .Op("Relu", {"x"}, {"r"})
      .Op("Abs", {"r"}, {"a"});
  b.g.value_infos.push_back({"r", T(DType::kFloat32, {S("n"), D(7)})});
  b.Infer();
  ASSERT_EQ(b.g.value_infos.size(), 2u);
  EXPECT_EQ(b.g.value_infos[0].type.ToString(), "float32[batch,7]");
  EXPECT_EQ(b.g.value_infos[1].type.ToString(), "float32[batch,7]");  // a follows the merge
}

TEST(ShapeInferenceTest, SubgraphsSeeOuterValues) {
  auto then_branch = std::make_shared<Graph>();
  Node relu;
  relu.op_type = "Relu";
  relu.inputs = {"x"};
  relu.outputs = {"inner"};
  then_branch->nodes.push_back(relu);
  then_branch->outputs.push_back({"inner", TypeInfo{}});
  Attribute g;
  g.kind = Attribute::Kind::kGraph;
  g.g = then_branch;
  GraphBuilder b;
  b.Input("x", T(DType::kFloat32, {S("batch"), D(3)}))
      .Input("cond", T(DType::kBool, {}))
      .Op("If", {"cond"}, {"out"}, {{"then_branch", g}, {"else_branch", g}});
  auto t = b.Infer();
  EXPECT_EQ(t["out"], "unknown");
  ASSERT_EQ(then_branch->value_infos.size(), 0u);  // "inner" is the subgraph's output
  then_branch->outputs[0].name = "other";
  then_branch->nodes.push_back(relu);
  then_branch->nodes.back().inputs = {"inner"};
  then_branch->nodes.back().outputs = {"other"};
  b.Infer();
  ASSERT_EQ(then_branch->value_infos.size(), 1u);
  EXPECT_EQ(then_branch->value_infos[0].type.ToString(), "float32[batch,3]");
}

// Attributes the kernels refuse at run time must not crash, hang or throw here.
TEST(ShapeInferenceTest, HostileAttributesLeaveOutputsUnknown) {
  const int64_t big = INT64_MAX;
  GraphBuilder b;
  b.Input("x", T(DType::kFloat32, {D(1), D(3), D(8), D(8)}))
      .Init("w", Tensor(DType::kFloat32, {4, 3, 3, 3}))
      .Init("huge_pads", I64({0, 0, big, big, 0, 0, big, big}))
      .Init("bad_shape", I64({-7, 2}))
      .Init("step0", I64({0}))
      .Init("zero", I64({0}))
      .Init("big", I64({big}))
      .Init("min", I64({INT64_MIN}))
      .Init("dup_axes", I64({1, 1}))
      .Init("far_axes", I64({99}))
      .Op("Conv", {"x", "w"}, {"stride0"}, {{"strides", Ints({0, 0})}})
      .Op("Conv", {"x", "w"}, {"neg_pads"}, {{"pads", Ints({-5, -5, -5, -5})}})
      .Op("Conv", {"x", "w"}, {"huge_dil"}, {{"dilations", Ints({big, big})}})
      .Op("Conv", {"x", "w"}, {"short_strides"}, {{"strides", Ints({2})}})
      .Op("Conv", {"x", "w"}, {"huge_pad_attr"}, {{"pads", Ints({big, big, big, big})}})
      .Op("Conv", {"x", "w"}, {"bad_auto_pad"}, {{"auto_pad", Str("WHATEVER")}})
      .Op("MaxPool", {"x"}, {"pool0"}, {{"kernel_shape", Ints({0, 0})}})
      .Op("MaxPool", {"x"}, {"pool_big"},
          {{"kernel_shape", Ints({big, big})}, {"ceil_mode", Int(1)}})
      .Op("AveragePool", {"x"}, {"pool_stride_big"},
          {{"kernel_shape", Ints({1, 1})},
           {"strides", Ints({big, big})},
           {"ceil_mode", Int(1)},
           {"pads", Ints({big - 8, 0, 0, 0})}})
      .Op("ConvTranspose", {"x", "w"}, {"ct"},
          {{"strides", Ints({big, big})}, {"output_padding", Ints({big, big})}})
      .Op("ConvTranspose", {"x", "w"}, {"ct_group"}, {{"group", Int(big)}})
      .Op("Pad", {"x", "huge_pads"}, {"padded"})
      .Op("Reshape", {"x", "bad_shape"}, {"reshaped"})
      .Op("Slice", {"x", "zero", "big", "zero", "step0"}, {"slice0"})
      .Op("Slice", {"x", "big", "min", "zero", "min"}, {"slice_min"})
      .Op("Slice", {"x", "min", "big", "far_axes"}, {"slice_far"})
      .Op("Transpose", {"x"}, {"tr"}, {{"perm", Ints({0, 0, 1, 2})}})
      .Op("Transpose", {"x"}, {"tr_far"}, {{"perm", Ints({big, 0, 1, 2})}})
      .Op("Gather", {"x", "zero"}, {"gather_far"}, {{"axis", Int(-big)}})
      .Op("Concat", {"x", "x"}, {"concat_far"}, {{"axis", Int(INT64_MIN)}})
      .Op("Unsqueeze", {"x", "dup_axes"}, {"unsq_dup"})
      .Op("Squeeze", {"x", "far_axes"}, {"sq_far"})
      .Op("Split", {"x"}, {"s0", "s1"}, {{"axis", Int(big)}})
      .Op("Flatten", {"x"}, {"flat_far"}, {{"axis", Int(big)}})
      .Op("Softmax", {"x"}, {"sm_far"}, {{"axis", Int(big)}})
      .Op("ReduceSum", {"x", "far_axes"}, {"red_far"})
      .Op("ArgMax", {"x"}, {"arg_far"}, {{"axis", Int(INT64_MIN)}})
      .Op("DepthToSpace", {"x"}, {"d2s"}, {{"blocksize", Int(int64_t{1} << 32)}})
      .Op("SpaceToDepth", {"x"}, {"s2d"}, {{"blocksize", Int(0)}})
      .Op("Tile", {"x", "huge_pads"}, {"tiled"})
      .Op("Range", {"min", "big", "min"}, {"range"})
      .Op("Cast", {"x"}, {"cast_bad"}, {{"to", Int(12345)}})
      .Op("LSTM", {"x", "w", "w"}, {"lstm"}, {{"hidden_size", Int(-3)}})
      .Op("TopK", {"x", "big"}, {"topk_v", "topk_i"}, {{"axis", Int(big)}});
  auto t = b.Infer();
  EXPECT_EQ(t["stride0"], "float32[1,4,?,?]");
  EXPECT_EQ(t["neg_pads"], "float32[1,4,?,?]");
  EXPECT_EQ(t["huge_dil"], "float32[1,4,?,?]");
  EXPECT_EQ(t["short_strides"], "float32[1,4,?,?]");
  EXPECT_EQ(t["huge_pad_attr"], "float32[1,4,?,?]");
  EXPECT_EQ(t["bad_auto_pad"], "float32[1,4,?,?]");
  EXPECT_EQ(t["pool0"], "float32[1,3,?,?]");
  EXPECT_EQ(t["pool_big"], "float32[1,3,?,?]");
  EXPECT_EQ(t["ct"], "float32[1,3,?,?]");
  EXPECT_EQ(t["padded"], "float32[1,3,?,?]");
  EXPECT_EQ(t["reshaped"], "float32[?]");
  EXPECT_EQ(t["slice0"], "float32[?,3,8,8]");
  EXPECT_EQ(t["slice_far"], "float32[?,?,?,?]");
  EXPECT_EQ(t["tr"], "float32[?,?,?,?]");
  EXPECT_EQ(t["tr_far"], "float32[?,?,?,?]");
  EXPECT_EQ(t["gather_far"], "float32[?]");
  EXPECT_EQ(t["concat_far"], "float32[?]");
  EXPECT_EQ(t["unsq_dup"], "float32[?]");
  EXPECT_EQ(t["sq_far"], "float32[?]");
  EXPECT_EQ(t["s0"], "float32[?]");
  EXPECT_EQ(t["flat_far"], "float32[?,?]");
  EXPECT_EQ(t["red_far"], "float32[?]");
  EXPECT_EQ(t["d2s"], "float32[?,?,?,?]");
  EXPECT_EQ(t["s2d"], "float32[?,?,?,?]");
  EXPECT_EQ(t["cast_bad"], "unknown");
  EXPECT_EQ(t["topk_v"], "float32[1,3,8,8]");
}

}  // namespace
}  // namespace privedge
