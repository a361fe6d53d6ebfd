// Model containers: round trips of real models through SerializeModel/ParseModel and a .pmc
// file give bit-identical outputs; hostile bodies fail with one-line errors.
#include "model/container.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>

#include "model/onnx_import.h"
#include "model/tensor_io.h"
#include "privedge/session.h"
#include "protect/model_file.h"
#include "runtime/session_impl.h"

#include "testing/temp_dir.h"

namespace privedge {
namespace {

namespace fs = std::filesystem;

const std::string kModels = std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/models/";
const std::string kNode = "/usr/share/libonnx-testdata/data/node/";

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// Inputs of a model: its .input.npy (single input) or a backend test's input_N.pb files.
NamedTensors InputsFor(const Session& s, const std::vector<std::string>& files) {
  NamedTensors inputs;
  for (size_t i = 0; i < files.size(); ++i) {
    auto t = ReadTensorFile(files[i]);
    EXPECT_TRUE(t.ok()) << t.status().message();
    inputs.emplace_back(s.inputs()[i].name, *t);
  }
  return inputs;
}

struct Case {
  std::string model;
  std::vector<std::string> inputs;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (const char* m : {"resnet18_2stages", "mobilenet_v2_w035", "lstm", "transformer_encoder"})
    cases.push_back({kModels + m + ".onnx", {kModels + m + ".input.npy"}});
  // Subgraphs (If, Loop, Scan) and their outer-scope references.
  for (const char* t : {"test_if", "test_loop11", "test_scan9_sum"}) {
    Case c{kNode + t + "/model.onnx", {}};
    for (int i = 0;; ++i) {
      const std::string p = kNode + t + "/test_data_set_0/input_" + std::to_string(i) + ".pb";
      if (!fs::exists(p)) break;
      c.inputs.push_back(p);
    }
    if (fs::exists(c.model)) cases.push_back(c);
  }
  return cases;
}

TEST(ContainerTest, RoundTripGivesBitIdenticalOutputs) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path();
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.model);
    SessionOptions options;
    options.threads = 1;
    auto onnx = Session::Load(c.model, options);
    ASSERT_TRUE(onnx.ok()) << onnx.status().message();
    auto body = SerializeModel((*onnx)->impl().model);
    ASSERT_TRUE(body.ok()) << body.status().message();
    const std::string path = (dir / "m.pmc").string();
    ASSERT_TRUE(WriteContainerFile(path, body->span(), {}).ok());
    ASSERT_TRUE(IsContainerFile(path));
    auto pmc = Session::Load(path, options);
    ASSERT_TRUE(pmc.ok()) << pmc.status().message();
    ASSERT_TRUE((*pmc)->impl().container.has_value());
    const NamedTensors inputs = InputsFor(**onnx, c.inputs);
    auto want = (*onnx)->Run(inputs);
    auto got = (*pmc)->Run(inputs);
    ASSERT_TRUE(want.ok()) << want.status().message();
    ASSERT_TRUE(got.ok()) << got.status().message();
    ASSERT_EQ(want->size(), got->size());
    for (size_t i = 0; i < want->size(); ++i)
      EXPECT_TRUE(SameBytes((*want)[i].second, (*got)[i].second)) << (*want)[i].first;
  }
  fs::remove_all(dir);
}

TEST(ContainerTest, WeightsAreBorrowedAlignedFromTheMapping) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path();
  auto onnx = Session::Load(kModels + "resnet18_2stages.onnx");
  ASSERT_TRUE(onnx.ok());
  auto body = SerializeModel((*onnx)->impl().model);
  ASSERT_TRUE(body.ok());
  const std::string path = (dir / "m.pmc").string();
  ASSERT_TRUE(WriteContainerFile(path, body->span(), {}).ok());
  ContainerOpenOptions open;
  auto c = OpenContainerFile(path, open);
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto model = ParseModel(c->body, c->owner);
  ASSERT_TRUE(model.ok()) << model.status().message();
  ASSERT_FALSE(model->graph.initializers.empty());
  const auto* lo = c->body.data();
  for (const auto& [name, t] : model->graph.initializers) {
    if (t.nbytes() == 0) continue;
    const auto* p = static_cast<const uint8_t*>(t.raw_data());
    EXPECT_TRUE(p >= lo && p + t.nbytes() <= lo + c->body.size()) << name << " was copied";
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << name;
  }
  fs::remove_all(dir);
}

// A body whose graph section is edited by `edit` after serialization.
class HostileBodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = ImportOnnxFile(kModels + "resnet18_2stages.onnx");
    ASSERT_TRUE(model.ok());
    auto body = SerializeModel(*model);
    ASSERT_TRUE(body.ok());
    auto copy = SecureBuffer::Allocate(body->size());
    ASSERT_TRUE(copy.ok());
    std::memcpy(copy->data(), body->data(), body->size());
    bytes_ = std::move(copy).value();
  }
  Status Parse() { return ParseModel(bytes_.span(), nullptr).status(); }
  uint64_t GraphSize() const {
    uint64_t n;
    std::memcpy(&n, bytes_.data(), 8);
    return n;
  }
  SecureBuffer bytes_;
};

TEST_F(HostileBodyTest, IntactBodyParses) { EXPECT_TRUE(Parse().ok()) << Parse().message(); }

TEST_F(HostileBodyTest, EveryTruncationOfTheGraphSectionIsRejected) {
  const uint64_t graph = GraphSize();
  for (uint64_t cut = 0; cut < graph; cut += 1 + cut / 64) {
    std::memcpy(bytes_.data(), &cut, 8);
    Status s = Parse();
    EXPECT_FALSE(s.ok()) << "graph section cut to " << cut;
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
}

TEST_F(HostileBodyTest, OversizedGraphSectionIsRejected) {
  const uint64_t huge = bytes_.size();
  std::memcpy(bytes_.data(), &huge, 8);
  Status s = Parse();
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("exceeds the body"), std::string::npos) << s.message();
}

// Every 8-byte little-endian word of the graph section set to hostile values (huge counts,
// offsets, sizes, negative dims): parsing never crashes and either succeeds or fails in one
// line; a tensor that parses always lies inside the body.
TEST_F(HostileBodyTest, HostileWordsNeverReadOutOfBounds) {
  const uint64_t graph = GraphSize();
  const std::vector<uint64_t> values = {0xffffffffffffffffull, 0x7fffffffffffffffull,
                                        0x00000000ffffffffull, 0x0000000100000000ull, 0x40};
  int rejected = 0;
  for (uint64_t off = 8; off + 8 <= 8 + graph; off += 3) {
    for (uint64_t v : values) {
      uint8_t saved[8];
      std::memcpy(saved, bytes_.data() + off, 8);
      std::memcpy(bytes_.data() + off, &v, 8);
      auto model = ParseModel(bytes_.span(), nullptr);
      if (!model.ok()) {
        ++rejected;
        EXPECT_EQ(model.status().message().find('\n'), std::string::npos);
      } else {
        for (const auto& [name, t] : model->graph.initializers) {
          const auto* p = static_cast<const uint8_t*>(t.raw_data());
          if (t.nbytes() && t.dtype() != DType::kString) {
            EXPECT_TRUE(p >= bytes_.data() && p + t.nbytes() <= bytes_.data() + bytes_.size());
          }
        }
      }
      std::memcpy(bytes_.data() + off, saved, 8);
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST(ContainerTest, DanglingReferenceIsRejected) {
  auto model = ImportOnnxFile(kModels + "resnet18_2stages.onnx");
  ASSERT_TRUE(model.ok());
  model->graph.nodes[0].inputs[0] = "no_such_value";
  auto body = SerializeModel(*model);
  ASSERT_TRUE(body.ok());
  auto parsed = ParseModel(body->span(), nullptr);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("'no_such_value'"), std::string::npos)
      << parsed.status().message();
}

// A subgraph reads what its enclosing graph defined before its node; what the subgraph defines
// is not visible to the enclosing graph's later nodes.
TEST(ContainerTest, SubgraphScopesAreChecked) {
  auto tensor_info = [](const std::string& name) {
    ValueInfo vi;
    vi.name = name;
    vi.type.kind = TypeInfo::Kind::kTensor;
    vi.type.elem_type = DType::kFloat32;
    return vi;
  };
  Model model;
  model.ir_version = 8;
  model.graph.inputs = {tensor_info("x")};
  auto branch = std::make_shared<Graph>();
  branch->nodes.push_back({"inner", "Relu", "", {"x"}, {"y_inner"}, {}});
  branch->outputs = {tensor_info("y_inner")};
  Node if_node{"if", "If", "", {"x"}, {"y"}, {}};
  if_node.attributes["then_branch"].kind = Attribute::Kind::kGraph;
  if_node.attributes["then_branch"].g = branch;
  model.graph.nodes.push_back(if_node);
  model.graph.nodes.push_back({"after", "Relu", "", {"y"}, {"z"}, {}});
  model.graph.outputs = {tensor_info("z")};

  auto body = SerializeModel(model);
  ASSERT_TRUE(body.ok()) << body.status().message();
  auto parsed = ParseModel(body->span(), nullptr);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();

  model.graph.nodes[1].inputs = {"y_inner"};  // defined only inside the branch
  body = SerializeModel(model);
  ASSERT_TRUE(body.ok());
  parsed = ParseModel(body->span(), nullptr);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("reads 'y_inner'"), std::string::npos)
      << parsed.status().message();
}

// The reference check once copied the visible names for every subgraph: a body of 20000 graph
// inputs and one node with 20000 empty subgraphs (1 MB) took minutes of CPU; it is linear now.
TEST(ContainerTest, ManyNamesAndSubgraphsParseQuickly) {
  constexpr int kCount = 20000;
  Model model;
  model.ir_version = 8;
  for (int i = 0; i < kCount; ++i) {
    ValueInfo vi;
    vi.name = "i" + std::to_string(i);
    vi.type.kind = TypeInfo::Kind::kTensor;
    vi.type.elem_type = DType::kFloat32;
    model.graph.inputs.push_back(vi);
  }
  Node node{"n", "If", "", {}, {}, {}};
  Attribute& branches = node.attributes["branches"];
  branches.kind = Attribute::Kind::kGraphs;
  for (int i = 0; i < kCount; ++i) branches.graphs.push_back(std::make_shared<Graph>());
  model.graph.nodes.push_back(node);
  auto body = SerializeModel(model);
  ASSERT_TRUE(body.ok()) << body.status().message();
  const auto start = std::chrono::steady_clock::now();
  auto parsed = ParseModel(body->span(), nullptr);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->graph.nodes.at(0).attributes.at("branches").graphs.size(), size_t{kCount});
  EXPECT_LT(seconds, 10.0) << "the reference check is not linear in the model size";
}

// Containers skip the ONNX schema check, so nodes with missing inputs, outputs and attributes
// must still fail in their kernels with an error, never crash.
TEST(ContainerTest, MalformedNodesFailCleanlyWithoutSchemaChecks) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path();
  for (const char* op : {"Conv",    "Gemm",    "MatMul",
                         "Relu",    "Add",     "Reshape",
                         "Gather",  "Concat",  "BatchNormalization",
                         "MaxPool", "Softmax", "Transpose",
                         "Slice",   "LSTM",    "Loop",
                         "If",      "Scan",    "Split",
                         "Resize",  "Pad"}) {
    SCOPED_TRACE(op);
    Model m;
    m.ir_version = 8;
    m.opsets.push_back({"", 13});
    ValueInfo y{"y", {}};
    y.type.kind = TypeInfo::Kind::kTensor;
    y.type.elem_type = DType::kFloat32;
    Node n;
    n.op_type = op;
    n.outputs = {"y"};
    m.graph.nodes.push_back(n);
    m.graph.outputs.push_back(y);
    auto body = SerializeModel(m);
    ASSERT_TRUE(body.ok());
    const std::string path = (dir / "bad.pmc").string();
    ASSERT_TRUE(WriteContainerFile(path, body->span(), {}).ok());
    SessionOptions options;
    options.threads = 1;
    auto s = Session::Load(path, options);
    if (!s.ok()) continue;  // rejected at plan time: fine
    auto out = (*s)->Run({});
    EXPECT_FALSE(out.ok());
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace privedge
