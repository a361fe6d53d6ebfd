// Checkpoint files (plain and sealed with a keystore-wrapped key) and training sessions created
// from model containers (.pmc, plain and encrypted; FusedConv, FusedMatMul and the fused
// LayerNormalization undone for training).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "model/container.h"
#include "model/onnx_import.h"
#include "optimize/optimize.h"
#include "privedge/session.h"
#include "privedge/training.h"
#include "protect/model_file.h"
#include "runtime/optimize_model.h"
#include "model/shape_inference.h"
#include "testing/memory_keystore.h"
#include "testing/temp_dir.h"
#include "train/train_test_util.h"

namespace privedge::train {
namespace {

using privedge::testing::MemoryKeystore;
using privedge::testing::TempDir;
using testing::MaterializeReferenceModel;
using testing::ReferenceBatch;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TrainingOptions Sgd() {
  TrainingOptions o;
  o.optimizer.learning_rate = 0.05f;
  o.optimizer.momentum = 0.9f;
  o.threads = 1;
  return o;
}

std::unique_ptr<TrainingSession> Open(const std::string& path, const TrainingOptions& o) {
  auto s = TrainingSession::Create(path, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::vector<double> Train(TrainingSession& s, const std::string& model, int first, int steps) {
  std::vector<double> losses;
  for (int i = first; i < first + steps; ++i) {
    auto [x, y] = ReferenceBatch(model, i);
    auto r = s.TrainStep({{"input", x}}, y);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    losses.push_back(r.ok() ? r->loss : NAN);
  }
  return losses;
}

TEST(SealedCheckpoint, HoldsNoPlaintextWeightsAndResumesIdentically) {
  TempDir dir;
  MemoryKeystore ks;
  const std::string model = MaterializeReferenceModel("mlp");
  auto a = Open(model, Sgd());
  ASSERT_TRUE(a);
  Train(*a, "mlp", 0, 3);
  const std::string path = dir.path() + "/ck.sealed";
  ASSERT_TRUE(a->SaveCheckpointFile(path, &ks).ok());
  const std::string sealed = ReadAll(path);
  ASSERT_TRUE(IsSealedCheckpoint(sealed));
  // No run of 4 consecutive weight floats (16 bytes) of any parameter appears in the file.
  const std::vector<float> w = a->Weights();
  for (const auto& p : a->Layout())
    for (int64_t k = 0; k + 4 <= p.size; k += 997) {
      const void* needle = w.data() + p.offset + k;
      EXPECT_EQ(memmem(sealed.data(), sealed.size(), needle, 16), nullptr)
          << p.name << " floats " << k << ".." << k + 3 << " found in plaintext";
    }
  // ...while the plaintext checkpoint does contain them (the check above can fail).
  const std::string plain_path = dir.path() + "/ck.plain";
  ASSERT_TRUE(a->SaveCheckpointFile(plain_path, nullptr).ok());
  const std::string plain = ReadAll(plain_path);
  EXPECT_NE(memmem(plain.data(), plain.size(), w.data(), 16), nullptr);

  const std::vector<double> want = Train(*a, "mlp", 3, 3);
  auto b = Open(model, Sgd());
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->LoadCheckpointFile(path, &ks).ok());
  EXPECT_EQ(b->step(), 3);
  EXPECT_EQ(Train(*b, "mlp", 3, 3), want);  // bit for bit
}

TEST(SealedCheckpoint, RefusesTamperingOtherDevicesAndMixups) {
  TempDir dir;
  MemoryKeystore ks, other;
  auto a = Open(MaterializeReferenceModel("mlp"), Sgd());
  ASSERT_TRUE(a);
  Train(*a, "mlp", 0, 1);
  const std::string path = dir.path() + "/ck";
  ASSERT_TRUE(a->SaveCheckpointFile(path, &ks).ok());
  const std::string good = ReadAll(path);
  const std::vector<float> before = a->Weights();

  EXPECT_EQ(a->LoadCheckpointFile(path, &other).code(), StatusCode::kPermissionDenied);
  Status s = a->LoadCheckpointFile(path, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("keystore"), std::string::npos) << s.message();
  for (size_t at : {size_t{9}, good.size() / 2, good.size() - 1}) {
    std::string bad = good;
    bad[at] ^= 0x20;
    const std::string p = dir.Write("bad", bad);
    EXPECT_FALSE(a->LoadCheckpointFile(p, &ks).ok()) << "byte " << at;
  }
  for (size_t len : {size_t{4}, size_t{12}, size_t{40}, good.size() - 1}) {
    const std::string p = dir.Write("short", good.substr(0, len));
    EXPECT_FALSE(a->LoadCheckpointFile(p, &ks).ok()) << "truncated to " << len;
  }
  // A plaintext file where a sealed one is expected.
  ASSERT_TRUE(a->SaveCheckpointFile(dir.path() + "/plain", nullptr).ok());
  EXPECT_FALSE(a->LoadCheckpointFile(dir.path() + "/plain", &ks).ok());
  EXPECT_EQ(a->Weights(), before);  // nothing changed by the failures
  EXPECT_TRUE(a->LoadCheckpointFile(path, &ks).ok());
}

// The reference CNN (Conv+Relu twice) optimized and written as a container.
std::string WriteCnnContainer(const std::string& path, Keystore* ks) {
  auto model = ImportOnnxFile(MaterializeReferenceModel("cnn"));
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  auto stats = OptimizeGraph(*model, OptimizeOptions{}, {});
  EXPECT_TRUE(stats.ok()) << stats.status().ToString();
  int fused = 0;
  for (const Node& n : model->graph.nodes) fused += n.op_type == "FusedConv";
  EXPECT_EQ(fused, 2);  // the container really holds fused nodes
  auto body = SerializeModel(*model);
  EXPECT_TRUE(body.ok());
  ContainerWriteOptions w;
  w.keystore = ks;
  EXPECT_TRUE(WriteContainerFile(path, body->span(), w).ok());
  return path;
}

TEST(ContainerTraining, FusedConvTrainsLikeTheOnnxModel) {
  TempDir dir;
  const std::string pmc = WriteCnnContainer(dir.path() + "/cnn.pmc", nullptr);
  auto onnx = Open(MaterializeReferenceModel("cnn"), Sgd());
  auto container = Open(pmc, Sgd());
  ASSERT_TRUE(onnx && container);
  ASSERT_EQ(onnx->ParameterCount(), container->ParameterCount());
  const std::vector<double> want = Train(*onnx, "cnn", 0, 4);
  const std::vector<double> got = Train(*container, "cnn", 0, 4);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "step " << i;
  EXPECT_LT(got.back(), got.front());

  // Exported as a container, the trained model runs on the inference engine and gives the
  // training session's own outputs.
  const std::string out = dir.path() + "/trained.pmc";
  ASSERT_TRUE(container->ExportContainer(out, nullptr).ok());
  auto session = Session::Load(out, {});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto [x, y] = ReferenceBatch("cnn", 9);
  auto inference = (*session)->Run({{"input", x}});
  ASSERT_TRUE(inference.ok()) << inference.status().ToString();
  auto eval = container->Evaluate({{"input", x}}, y);
  ASSERT_TRUE(eval.ok());
  auto onnx_eval = onnx->Evaluate({{"input", x}}, y);
  EXPECT_NEAR(eval->loss, onnx_eval->loss, 1e-4);
  EXPECT_FALSE(container->ExportOnnx(dir.path() + "/x.onnx").ok());
}

TEST(ContainerTraining, EncryptedContainerNeedsItsDevice) {
  TempDir dir;
  auto ks = std::make_shared<MemoryKeystore>();
  const std::string pmc = WriteCnnContainer(dir.path() + "/cnn.pmc", ks.get());
  TrainingOptions o = Sgd();
  o.keystore = ks;
  auto s = Open(pmc, o);
  ASSERT_TRUE(s);
  const std::vector<double> losses = Train(*s, "cnn", 0, 2);
  EXPECT_TRUE(std::isfinite(losses[1]));
  o.keystore = std::make_shared<MemoryKeystore>();
  auto other = TrainingSession::Create(pmc, o);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied) << other.status().ToString();
}

// Residual sums and Sigmoid / Swish activations fused by the optimizer are split back too: the
// optimized container trains exactly like the same graph unoptimized.
TEST(ContainerTraining, ResidualAndSwishFusionsTrainLikeTheUnfusedGraph) {
  TempDir dir;
  using testing::BuildModel;
  using testing::Ints;
  using testing::MakeNode;
  std::mt19937 rng(5);
  Model m = BuildModel(
      {
          MakeNode("Conv", {"input", "w1", "b1"}, {"c1"}, {{"pads", Ints({1, 1, 1, 1})}}),
          MakeNode("Sigmoid", {"c1"}, {"g1"}),
          MakeNode("Mul", {"c1", "g1"}, {"s1"}),
          MakeNode("Conv", {"s1", "w2"}, {"c2"}, {{"pads", Ints({1, 1, 1, 1})}}),
          MakeNode("Add", {"s1", "c2"}, {"r"}),
          MakeNode("Relu", {"r"}, {"h"}),
          MakeNode("Conv", {"h", "w3", "b3"}, {"c3"}),
          MakeNode("Sigmoid", {"c3"}, {"logits"}),
      },
      {"input"},
      {{"w1", testing::Random({2, 1, 3, 3}, rng)},
       {"b1", testing::Random({2}, rng)},
       {"w2", testing::Random({2, 2, 3, 3}, rng)},
       {"w3", testing::Random({1, 2, 1, 1}, rng)},
       {"b3", testing::Random({1}, rng)}});
  Model fused = m;
  ASSERT_TRUE(OptimizeGraph(fused, OptimizeOptions{}, {}).ok());
  std::vector<std::string> ops;
  for (const Node& n : fused.graph.nodes) ops.push_back(n.op_type);
  ASSERT_EQ(ops, (std::vector<std::string>{"FusedConv", "FusedConv", "FusedConv"}));
  std::vector<std::unique_ptr<TrainingSession>> sessions;
  for (const Model* model : {&m, &fused}) {
    auto body = SerializeModel(*model);
    ASSERT_TRUE(body.ok());
    const std::string pmc = dir.path() + (model == &m ? "/plain.pmc" : "/fused.pmc");
    ASSERT_TRUE(WriteContainerFile(pmc, body->span(), {}).ok());
    TrainingOptions o = Sgd();
    o.loss = LossKind::kMeanSquaredError;
    auto s = TrainingSession::Create(pmc, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    sessions.push_back(std::move(s).value());
  }
  const Tensor x = testing::Random({2, 1, 5, 4}, rng);
  const Tensor y = testing::Random({2, 1, 5, 4}, rng);
  for (int step = 0; step < 3; ++step) {
    auto a = sessions[0]->TrainStep({{"input", x}}, y);
    auto b = sessions[1]->TrainStep({{"input", x}}, y);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << " " << b.status().ToString();
    EXPECT_NEAR(b->loss, a->loss, 1e-6 * std::max(1.0, std::fabs(a->loss))) << "step " << step;
  }
}

TEST(ContainerTraining, ClipActivationIsRefusedByName) {
  TempDir dir;
  using testing::BuildModel;
  using testing::Ints;
  using testing::MakeNode;
  std::mt19937 rng(3);
  Model m = BuildModel(
      {
          MakeNode("Conv", {"input", "w", "b"}, {"c"}, {{"pads", Ints({1, 1, 1, 1})}}),
          MakeNode("Clip", {"c", "lo", "hi"}, {"logits"}),
      },
      {"input"},
      {{"w", testing::Random({2, 1, 3, 3}, rng)},
       {"b", testing::Random({2}, rng)},
       {"lo", Tensor::FromVector<float>({0.0f}, {})},
       {"hi", Tensor::FromVector<float>({6.0f}, {})}});
  ASSERT_TRUE(OptimizeGraph(m, OptimizeOptions{}, {}).ok());
  ASSERT_EQ(m.graph.nodes.size(), 1u);
  ASSERT_EQ(m.graph.nodes[0].op_type, "FusedConv");
  auto body = SerializeModel(m);
  ASSERT_TRUE(body.ok());
  const std::string pmc = dir.path() + "/clip.pmc";
  ASSERT_TRUE(WriteContainerFile(pmc, body->span(), {}).ok());
  TrainingOptions o = Sgd();
  o.loss = LossKind::kMeanSquaredError;
  auto s = TrainingSession::Create(pmc, o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotImplemented);
  EXPECT_NE(s.status().message().find("FusedConv with activation Clip"), std::string::npos)
      << s.status().message();
}

// MatMul + bias + Relu on a rank-3 input, then the LayerNorm PyTorch decomposes for opset 13:
// the optimizer turns them into com.privedge.FusedMatMul and com.privedge.LayerNormalization,
// and a container of that graph trains exactly like the same network written with ONNX's
// LayerNormalization (opset 17). (The decomposed graph itself cannot train: ReduceMean has no
// backward rule.)
TEST(ContainerTraining, FusedMatMulAndLayerNormTrainLikeOnnxLayerNorm) {
  TempDir dir;
  using testing::BuildModel;
  using testing::Ints;
  using testing::MakeNode;
  std::mt19937 rng(5);
  auto constant = [](const std::string& out, float v) {
    Node n = MakeNode("Constant", {}, {out});
    n.attributes["value"].kind = Attribute::Kind::kTensor;
    n.attributes["value"].t = Tensor::FromVector<float>({v}, {});
    return n;
  };
  Model m = BuildModel(
      {
          constant("two", 2.0f),
          constant("eps", 1e-5f),
          MakeNode("MatMul", {"input", "w"}, {"mm"}),
          MakeNode("Add", {"mm", "b"}, {"s"}),
          MakeNode("Relu", {"s"}, {"r"}),
          MakeNode("ReduceMean", {"r"}, {"mean"}, {{"axes", Ints({-1})}}),
          MakeNode("Sub", {"r", "mean"}, {"d"}),
          MakeNode("Pow", {"d", "two"}, {"sq"}),
          MakeNode("ReduceMean", {"sq"}, {"var"}, {{"axes", Ints({-1})}}),
          MakeNode("Add", {"var", "eps"}, {"ve"}),
          MakeNode("Sqrt", {"ve"}, {"sd"}),
          MakeNode("Div", {"d", "sd"}, {"n"}),
          MakeNode("Mul", {"n", "gamma"}, {"g"}),
          MakeNode("Add", {"g", "beta"}, {"logits"}),
      },
      {"input"},
      {{"w", testing::Random({4, 6}, rng)},
       {"b", testing::Random({6}, rng)},
       {"gamma", testing::Random({6}, rng, 0.5f, 1.5f)},
       {"beta", testing::Random({6}, rng)}});
  m.graph.inputs[0].type.kind = TypeInfo::Kind::kTensor;
  m.graph.inputs[0].type.elem_type = DType::kFloat32;
  m.graph.inputs[0].type.has_shape = true;
  for (int64_t d : {2, 3, 4}) m.graph.inputs[0].type.dims.push_back(Dim{d, ""});
  ASSERT_TRUE(InferGraphTypes(m.graph, 13).ok());
  Model fused = m;
  ASSERT_TRUE(OptimizeGraph(fused, OptimizeOptions{}, MakeReferenceEvaluator({}, 1 << 20)).ok());
  std::vector<std::string> ops;
  for (const Node& n : fused.graph.nodes) ops.push_back(n.op_type);
  ASSERT_EQ(ops, (std::vector<std::string>{"FusedMatMul", "LayerNormalization"}));

  auto write = [&](const Model& model, const std::string& name) {
    auto body = SerializeModel(model);
    EXPECT_TRUE(body.ok());
    const std::string path = dir.path() + "/" + name;
    EXPECT_TRUE(WriteContainerFile(path, body->span(), {}).ok());
    return path;
  };
  TrainingOptions o = Sgd();
  o.loss = LossKind::kMeanSquaredError;
  Model plain_model = BuildModel(
      {
          MakeNode("MatMul", {"input", "w"}, {"mm"}),
          MakeNode("Add", {"mm", "b"}, {"s"}),
          MakeNode("Relu", {"s"}, {"r"}),
          MakeNode("LayerNormalization", {"r", "gamma", "beta"}, {"logits"}),
      },
      {"input"}, m.graph.initializers, 17);
  plain_model.graph.nodes.back().attributes["epsilon"].kind = Attribute::Kind::kFloat;
  plain_model.graph.nodes.back().attributes["epsilon"].f = 1e-5f;
  auto plain = Open(write(plain_model, "plain.pmc"), o);
  auto container = Open(write(fused, "fused.pmc"), o);
  ASSERT_TRUE(plain && container);
  ASSERT_EQ(plain->ParameterCount(), container->ParameterCount());
  for (int step = 0; step < 4; ++step) {
    const Tensor x = testing::Random({2, 3, 4}, rng), y = testing::Random({2, 3, 6}, rng);
    auto want = plain->TrainStep({{"input", x}}, y);
    auto got = container->TrainStep({{"input", x}}, y);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_NEAR(got->loss, want->loss, 1e-5) << "step " << step;
  }
}

}  // namespace
}  // namespace privedge::train
