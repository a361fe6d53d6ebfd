// Session API: loading, input/output listing, input validation, limits, and the hostile models
// of tests/data/bad that import fine but must fail when run.
#include "privedge/session.h"

#include <gtest/gtest.h>

#include "runtime/session_impl.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace privedge {
namespace {

namespace fs = std::filesystem;

const std::string kSource = PRIVEDGE_SOURCE_DIR;
const std::string kBad = kSource + "/tests/data/bad/";
const std::string kSessionModels = kSource + "/tests/data/session/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<Session> LoadOrDie(const std::string& path, const SessionOptions& options = {}) {
  auto session = Session::Load(path, options);
  EXPECT_TRUE(session.ok()) << session.status().message();
  return session.ok() ? std::move(session).value() : nullptr;
}

Tensor Floats(const std::vector<float>& v, Shape shape) { return Tensor::FromVector(v, shape); }

// Expects `result` to fail with `code` and a one-line message containing `fragment`.
template <class R>
void ExpectError(const R& result, StatusCode code, const std::string& fragment) {
  ASSERT_FALSE(result.ok());
  const std::string msg = result.status().message();
  EXPECT_EQ(result.status().code(), code) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// ---- hostile models that fail in the planner or a kernel ----

struct RunCase {
  const char* file;
  StatusCode code;
  const char* fragment;
};

// Rejected by Session::Load (no kernel for the operator).
const RunCase kLoadCases[] = {
    {"unsupported_op.onnx", StatusCode::kNotImplemented,
     "node 'fancy' (FancyOp): operator 'FancyOp' (opset 13) is not supported by privedge"},
    {"custom_domain_op.onnx", StatusCode::kNotImplemented,
     "operator 'com.example.Frob' (opset 1) is not supported"},
};

// Load fine, fail in Run (they have no inputs).
const RunCase kRunCases[] = {
    {"huge_constant_of_shape.onnx", StatusCode::kOutOfRange,
     "node 'big' (ConstantOfShape): tensor of shape [1048576,1048576] and type float32 needs more "
     "than the 4294967296-byte limit (SessionOptions::max_tensor_bytes)"},
    {"overflow_constant_of_shape.onnx", StatusCode::kInvalidArgument,
     "node 'big' (ConstantOfShape): element count of shape "
     "[4294967296,4294967296,4294967296] overflows int64"},
    {"negative_constant_of_shape.onnx", StatusCode::kInvalidArgument,
     "node 'big' (ConstantOfShape): shape [-5] has a negative dimension"},
    {"huge_expand.onnx", StatusCode::kOutOfRange,
     "node 'big' (Expand): tensor of shape [1048576,1048576] and type float32 needs more than"},
    {"huge_tile.onnx", StatusCode::kOutOfRange,
     "node 'big' (Tile): tensor of shape [1099511627776] and type float32 needs more than"},
    {"huge_reshape.onnx", StatusCode::kInvalidArgument,
     "node 'big' (Reshape): cannot reshape [1] (1 elements) to [1099511627776]"},
    {"huge_range.onnx", StatusCode::kOutOfRange,
     "node 'big' (Range): tensor of shape [4611686018427387904] and type int64 needs more than"},
    {"huge_range_float.onnx", StatusCode::kInvalidArgument,
     "node 'big' (Range): range has too many elements"},
    {"huge_resize.onnx", StatusCode::kOutOfRange,
     "node 'big' (Resize): tensor of shape [1,1,2000000,2000000] and type float32 needs more"},
    {"huge_resize_sizes.onnx", StatusCode::kOutOfRange,
     "node 'big' (Resize): tensor of shape [1,1,2147483648,2147483648]"},
    {"type_mismatch.onnx", StatusCode::kInvalidArgument,
     "node 'add' (Add): input 1 has type int64, expected the type of input 0 (float32)"},
    {"string_to_relu.onnx", StatusCode::kNotImplemented,
     "node 'relu' (Relu): type string is not supported here"},
    {"matmul_shape_mismatch.onnx", StatusCode::kInvalidArgument,
     "node 'mm' (MatMul): inner dimensions differ: A is [2,3] and B is [4,5]"},
    {"broadcast_mismatch.onnx", StatusCode::kInvalidArgument,
     "node 'add' (Add): shapes [2,3] and [4,5] cannot be broadcast together"},
    {"gather_out_of_range.onnx", StatusCode::kInvalidArgument,
     "node 'g' (Gather): index 1099511627776 is out of range for axis 0 of extent 2"},
    {"transpose_bad_perm.onnx", StatusCode::kInvalidArgument,
     "node 't' (Transpose): perm [0,7] is not a permutation of 2 axes"},
    {"concat_bad_axis.onnx", StatusCode::kInvalidArgument,
     "node 'c' (Concat): axis 5 is out of range for rank 2"},
    {"pool_zero_stride.onnx", StatusCode::kInvalidArgument,
     "node 'pool' (MaxPool): strides values must be in [1, 2147483648], got 0"},
    {"depth_to_space_huge_block.onnx", StatusCode::kInvalidArgument,
     "node 'd2s' (DepthToSpace): blocksize must be in [1, 2^31], got 1099511627776"},
    {"empty_huge_extents.onnx", StatusCode::kOutOfRange,
     "node 'empty' (ConstantOfShape): tensor has shape [1048576,0,1048576]: its non-zero extents "
     "multiply to more than the 4294967296-element limit"},
    {"empty_reshape_extents.onnx", StatusCode::kOutOfRange,
     "node 'r' (Reshape): output 'y' has shape [1048576,0,1048576]: its non-zero extents"},
    {"split_to_sequence_huge.onnx", StatusCode::kInvalidArgument,
     "node 'split' (SplitToSequence): splitting extent 1073741824 gives 1073741824 chunks, more "
     "than the limit of 10000000"},
    {"loop_forever.onnx", StatusCode::kInvalidArgument,
     "node 'forever' (Loop): stopped after 1000 iterations (SessionOptions::max_loop_iterations)"},
    {"limits/loop_scan_growth.onnx", StatusCode::kInvalidArgument,
     "node 'grow' (Loop): scan output 0 would exceed the 67108864-byte tensor limit"},
};

// Limits low enough that the loop cases fail in milliseconds.
SessionOptions FastLimits() {
  SessionOptions options;
  options.max_loop_iterations = 1000;
  options.max_tensor_bytes = size_t{64} << 20;
  return options;
}

TEST(SessionHostileTest, UnsupportedOperatorsFailAtLoad) {
  for (const RunCase& c : kLoadCases) {
    SCOPED_TRACE(c.file);
    ExpectError(Session::Load(kBad + c.file), c.code, c.fragment);
  }
}

TEST(SessionHostileTest, KernelsRefuseHostileValues) {
  for (const RunCase& c : kRunCases) {
    SCOPED_TRACE(c.file);
    SessionOptions options;
    if (std::string(c.file).find("loop") != std::string::npos) options = FastLimits();
    auto session = LoadOrDie(kBad + c.file, options);
    ASSERT_NE(session, nullptr);
    ExpectError(session->Run({}), c.code, c.fragment);
  }
}

TEST(SessionHostileTest, EveryCorpusFileFailsWithOneLine) {
  // Whatever the case, the full path (load, then run without inputs) gives one error line.
  int count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kBad)) {
    if (entry.path().extension() != ".onnx") continue;
    SCOPED_TRACE(entry.path().string());
    ++count;
    auto session = Session::Load(entry.path().string(), FastLimits());
    if (!session.ok()) {
      EXPECT_EQ(session.status().message().find('\n'), std::string::npos);
      continue;
    }
    auto out = (*session)->Run({});
    ASSERT_FALSE(out.ok()) << "hostile model ran successfully";
    EXPECT_EQ(out.status().message().find('\n'), std::string::npos);
  }
  EXPECT_GE(count, 65) << "corpus missing: run tools/make_bad_models.py";
}

// ---- the API ----

TEST(SessionTest, ListsInputsAndOutputsWithSymbolicDims) {
  auto session = LoadOrDie(kSource + "/tests/data/models/lstm.onnx");
  ASSERT_NE(session, nullptr);
  ASSERT_EQ(session->inputs().size(), 1u);
  const TensorInfo& in = session->inputs()[0];
  EXPECT_EQ(in.name, "input");
  EXPECT_EQ(in.kind, "tensor");
  EXPECT_EQ(in.dtype, DType::kFloat32);
  ASSERT_TRUE(in.has_shape);
  ASSERT_EQ(in.shape.size(), 3u);
  EXPECT_EQ(in.shape[0].value, -1);
  EXPECT_EQ(in.shape[0].symbol, "batch");
  EXPECT_EQ(in.shape[1].symbol, "seq");
  EXPECT_EQ(in.shape[2].value, 64);
  EXPECT_EQ(in.ToString(), "float32[batch,seq,64]");
  ASSERT_EQ(session->outputs().size(), 1u);
  EXPECT_EQ(session->outputs()[0].ToString(), "float32[batch,seq,16]");
}

TEST(SessionTest, LoadFromBufferRuns) {
  const std::string bytes = ReadFile(kSessionModels + "add_symbolic.onnx");
  auto session = Session::LoadFromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(session.ok()) << session.status().message();
  ASSERT_EQ((*session)->inputs().size(), 2u);
  EXPECT_EQ((*session)->inputs()[1].ToString(), "float32[batch,3]");
  auto out = (*session)->Run({{"a", Floats({1, 2, 3}, {1, 3})}, {"b", Floats({4, 5, 6}, {1, 3})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].first, "y");
  EXPECT_EQ((*out)[0].second.shape(), (Shape{1, 3}));
  EXPECT_EQ((*out)[0].second.data<float>()[2], 9.0f);
}

TEST(SessionTest, ProfilesEveryNodeOfEachRun) {
  auto session = LoadOrDie(kSessionModels + "add_symbolic.onnx");
  ASSERT_NE(session, nullptr);
  GraphExecutor& executor = *session->impl().executor;
  EXPECT_TRUE(executor.Profile().empty());  // off by default
  const std::vector<std::pair<std::string, Tensor>> feed = {{"a", Floats({1, 2, 3}, {1, 3})},
                                                            {"b", Floats({4, 5, 6}, {1, 3})}};
  ASSERT_TRUE(session->Run(feed).ok());
  executor.SetProfiling(true);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(session->Run(feed).ok());
  auto profile = executor.Profile();
  const Graph& graph = session->impl().model.graph;
  ASSERT_EQ(profile.size(), graph.nodes.size());
  const std::vector<std::string> kernels = executor.KernelNames();
  for (size_t i = 0; i < profile.size(); ++i) {
    EXPECT_EQ(profile[i].op_type, graph.nodes[i].op_type);
    EXPECT_EQ(profile[i].kernel, kernels[i]);
    EXPECT_EQ(profile[i].calls, 3);
    EXPECT_GT(profile[i].total_ms, 0.0);
    EXPECT_GE(profile[i].total_ms, profile[i].median_ms);
  }
  executor.SetProfiling(true);  // turning it on again starts from zero
  ASSERT_TRUE(session->Run(feed).ok());
  EXPECT_EQ(executor.Profile()[0].calls, 1);
  executor.SetProfiling(false);
  EXPECT_TRUE(executor.Profile().empty());
}

TEST(SessionTest, LoadFromBufferRejectsGarbage) {
  const std::string bytes = ReadFile(kBad + "garbage.onnx");
  ExpectError(Session::LoadFromBuffer(bytes.data(), bytes.size()), StatusCode::kInvalidModel,
              "protobuf parsing failed");
  ExpectError(Session::LoadFromBuffer(nullptr, 0), StatusCode::kInvalidModel,
              "model is empty (0 bytes)");
}

class AddSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    session_ = LoadOrDie(kSessionModels + "add_symbolic.onnx");
    ASSERT_NE(session_, nullptr);
  }
  std::unique_ptr<Session> session_;
  Tensor a_ = Floats({1, 2, 3, 4, 5, 6}, {2, 3});
};

TEST_F(AddSessionTest, WrongInputName) {
  ExpectError(session_->Run({{"a", a_}, {"nope", a_}}), StatusCode::kInvalidArgument,
              "unknown input 'nope' (model inputs: a, b)");
}

TEST_F(AddSessionTest, WrongInputType) {
  ExpectError(session_->Run({{"a", a_}, {"b", Tensor::FromVector<int64_t>({1, 2, 3}, {1, 3})}}),
              StatusCode::kInvalidArgument, "input 'b': expected type float32, got int64");
}

TEST_F(AddSessionTest, WrongInputRank) {
  ExpectError(session_->Run({{"a", a_}, {"b", Floats({1, 2, 3}, {3})}}),
              StatusCode::kInvalidArgument,
              "input 'b': expected shape float32[batch,3] (rank 2), got [3] (rank 1)");
}

TEST_F(AddSessionTest, WrongFixedDimension) {
  ExpectError(session_->Run({{"a", a_}, {"b", Floats({1, 2, 3, 4}, {2, 2})}}),
              StatusCode::kInvalidArgument,
              "input 'b': dimension 1 must be 3 (declared float32[batch,3]), got [2,2]");
}

TEST_F(AddSessionTest, MissingInput) {
  ExpectError(session_->Run({{"a", a_}}), StatusCode::kInvalidArgument,
              "missing input 'b' (float32[batch,3])");
}

TEST_F(AddSessionTest, InputGivenTwice) {
  ExpectError(session_->Run({{"a", a_}, {"a", a_}, {"b", a_}}), StatusCode::kInvalidArgument,
              "input 'a' given twice");
}

TEST_F(AddSessionTest, InconsistentSymbolicDims) {
  const Tensor b = Floats(std::vector<float>(12, 1.0f), {4, 3});
  ExpectError(session_->Run({{"a", a_}, {"b", b}}), StatusCode::kInvalidArgument,
              "input 'b': dimension 0 ('batch') is 4 but another input set 'batch' to 2");
}

TEST_F(AddSessionTest, SymbolicDimsBindPerRun) {
  // 'batch' is 2 in one run and 1 in the next: bindings do not leak between runs.
  ASSERT_TRUE(session_->Run({{"a", a_}, {"b", a_}}).ok());
  const Tensor one = Floats({1, 1, 1}, {1, 3});
  auto out = session_->Run({{"a", one}, {"b", one}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].second.shape(), (Shape{1, 3}));
}

TEST_F(AddSessionTest, EmptyInputWithHugeExtents) {
  // Costs nothing to build, but a kernel looping over its rows would spin for hours.
  const Tensor empty(DType::kFloat32, {int64_t{1} << 40, 0});
  ExpectError(session_->Run({{"a", empty}, {"b", empty}}), StatusCode::kOutOfRange,
              "input 'a' has shape [1099511627776,0]: its non-zero extents multiply to more");
}

TEST(SessionTest, MaxTensorBytesReachesKernels) {
  SessionOptions options;
  options.max_tensor_bytes = 16;  // the [2,3] float output needs 24 bytes
  auto session = LoadOrDie(kSessionModels + "add_symbolic.onnx", options);
  ASSERT_NE(session, nullptr);
  const Tensor a = Floats({1, 2, 3, 4, 5, 6}, {2, 3});
  ExpectError(session->Run({{"a", a}, {"b", a}}), StatusCode::kOutOfRange,
              "(Add): tensor of shape [2,3] and type float32 needs more than the 16-byte limit");
}

TEST(SessionTest, OverridableInitializers) {
  auto session = LoadOrDie(kSessionModels + "overridable_bias.onnx");
  ASSERT_NE(session, nullptr);
  ASSERT_EQ(session->inputs().size(), 2u);
  EXPECT_EQ(session->inputs()[0].name, "x");
  EXPECT_EQ(session->inputs()[1].name, "bias");
  EXPECT_EQ(session->inputs()[1].ToString(), "float32[2]");
  const Tensor x = Floats({1, 2}, {2});
  // Without the override the initializer's value (10, 20) is used.
  auto out = session->Run({{"x", x}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].second.data<float>()[0], 11.0f);
  EXPECT_EQ((*out)[0].second.data<float>()[1], 22.0f);
  out = session->Run({{"x", x}, {"bias", Floats({100, 200}, {2})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].second.data<float>()[0], 101.0f);
  EXPECT_EQ((*out)[0].second.data<float>()[1], 202.0f);
  // An override must still match the initializer's type and shape.
  ExpectError(session->Run({{"x", x}, {"bias", Floats({1, 2, 3}, {3})}}),
              StatusCode::kInvalidArgument, "input 'bias': dimension 0 must be 2");
  // The graph input itself is still required.
  ExpectError(session->Run({}), StatusCode::kInvalidArgument, "missing input 'x'");
}

TEST(SessionTest, MissingModelFile) {
  ExpectError(Session::Load(kBad + "nope.onnx"), StatusCode::kNotFound, "cannot open model file");
}

}  // namespace
}  // namespace privedge
