// End-to-end checks on real-sized PyTorch-exported models against float64 references.
//
// The models, inputs and references in tests/data/models/ come from tools/gen_test_models.py
// (see docs/test-models.md): random but deterministic weights, exported from the float32
// module with torch.onnx.export (opset 13, a dynamic "batch" dimension and, for the sequence
// models, a dynamic "seq" dimension); the reference is the same module run in float64.
//
// Every check is max|out - expected| / max|expected| <= 1e-4. Besides the batch-1 run against
// the reference, the symbolic dimensions are exercised with inputs whose expected output
// follows exactly from the reference:
//   - batch 2 (two copies of the input) must give two copies of the reference (all models);
//   - the LSTM is causal, so the first 20 steps of the input give the first 20 steps of ref;
//   - the transformer encoder has no positional encoding and no mask, so it is permutation
//     equivariant along the sequence, and attending over a sequence in which every token
//     appears twice gives the same result as attending over it once: the input
//     [x ; reversed(x)] (sequence 64) must give [ref ; reversed(ref)].
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "model/tensor_io.h"
#include "privedge/session.h"
#include "privedge/tensor.h"

namespace privedge {
namespace {

constexpr double kTolerance = 1e-4;

std::string ModelDir() { return std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/models/"; }

struct Expected {
  Shape shape;
  std::vector<double> values;
};

Expected FromTensor(const Tensor& t) {
  Expected e{t.shape(), std::vector<double>(static_cast<size_t>(t.numel()))};
  for (int64_t i = 0; i < t.numel(); ++i) e.values[static_cast<size_t>(i)] = t.GetAsDouble(i);
  return e;
}

// Copies of `t` stacked along axis 0 (t has a leading batch axis of extent 1).
Tensor RepeatBatch(const Tensor& t, int64_t copies) {
  Shape shape = t.shape();
  shape[0] *= copies;
  Tensor out(t.dtype(), shape);
  auto* dst = static_cast<char*>(out.raw_data());
  for (int64_t c = 0; c < copies; ++c)
    std::memcpy(dst + static_cast<size_t>(c) * t.nbytes(), t.raw_data(), t.nbytes());
  return out;
}

// For a [1, seq, d] tensor: the rows listed in `rows`, as a [1, rows.size(), d] tensor.
template <class T>
std::vector<T> SelectRows(const std::vector<T>& data, int64_t d, const std::vector<int64_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size() * static_cast<size_t>(d));
  for (int64_t r : rows)
    out.insert(out.end(), data.begin() + r * d, data.begin() + (r + 1) * d);
  return out;
}

std::vector<float> FloatData(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = static_cast<float>(t.GetAsDouble(i));
  return v;
}

// max|out - expected| / max|expected|, with a readable failure message. NaN fails.
void ExpectClose(const std::string& what, const Tensor& out, const Expected& expected) {
  ASSERT_TRUE(out.defined()) << what << ": output tensor is empty";
  ASSERT_TRUE(IsFloatingDType(out.dtype())) << what << ": output dtype " << DTypeName(out.dtype());
  ASSERT_EQ(ShapeToString(out.shape()), ShapeToString(expected.shape)) << what << ": output shape";
  double max_ref = 0.0, max_err = 0.0;
  int64_t worst = 0;
  bool finite = true;
  for (int64_t i = 0; i < out.numel(); ++i) {
    double e = expected.values[static_cast<size_t>(i)];
    double o = out.GetAsDouble(i);
    max_ref = std::max(max_ref, std::fabs(e));
    if (!std::isfinite(o)) {
      if (finite) worst = i;
      finite = false;
      continue;
    }
    double err = std::fabs(o - e);
    if (err > max_err && finite) {
      max_err = err;
      worst = i;
    }
  }
  ASSERT_GT(max_ref, 0.0) << what << ": reference is all zeros";
  double rel = max_err / max_ref;
  std::printf("[ model    ] %-48s max|out-ref| = %.3e  max|ref| = %.4g  relative = %.3e\n",
              what.c_str(), max_err, max_ref, rel);
  EXPECT_TRUE(finite) << what << ": non-finite output at flat index " << worst << " ("
                      << out.GetAsDouble(worst) << ")";
  EXPECT_LE(rel, kTolerance) << what << ": max|out - ref| = " << max_err << " at flat index "
                             << worst << " (out " << out.GetAsDouble(worst) << ", ref "
                             << expected.values[static_cast<size_t>(worst)] << "), max|ref| = "
                             << max_ref;
}

struct Loaded {
  std::unique_ptr<Session> session;
  Tensor input;  // float32, batch 1
  Tensor ref;    // float64, batch 1
};

// Loads <name>.onnx, <name>.input.npy and <name>.ref.npy and checks the declared signature:
// one float32 input named "input" whose first dimension is the symbol "batch".
void LoadModel(const std::string& name, Loaded* out) {
  const std::string base = ModelDir() + name;
  auto input = ReadNpy(base + ".input.npy");
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  auto ref = ReadNpy(base + ".ref.npy");
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_EQ(input->dtype(), DType::kFloat32);
  ASSERT_EQ(ref->dtype(), DType::kFloat64);

  SessionOptions options;
  options.threads = 2;
  auto session = Session::Load(base + ".onnx", options);
  ASSERT_TRUE(session.ok()) << name << ".onnx: " << session.status().ToString();
  const auto& inputs = (*session)->inputs();
  ASSERT_EQ(inputs.size(), 1u) << name;
  EXPECT_EQ(inputs[0].name, "input");
  EXPECT_EQ(inputs[0].dtype, DType::kFloat32);
  ASSERT_TRUE(inputs[0].has_shape) << inputs[0].ToString();
  ASSERT_EQ(inputs[0].shape.size(), input->rank()) << inputs[0].ToString();
  EXPECT_EQ(inputs[0].shape[0].symbol, "batch") << inputs[0].ToString();
  ASSERT_EQ((*session)->outputs().size(), 1u) << name;
  EXPECT_EQ((*session)->outputs()[0].name, "output");

  out->session = std::move(*session);
  out->input = std::move(*input);
  out->ref = std::move(*ref);
}

// Runs with one input and returns the single output (or fails the test).
void RunOne(const Session& session, const std::string& what, const Tensor& input, Tensor* output) {
  auto result = session.Run({{"input", input}});
  ASSERT_TRUE(result.ok()) << what << ": " << result.status().ToString();
  ASSERT_EQ(result->size(), 1u) << what;
  EXPECT_EQ((*result)[0].first, "output");
  *output = (*result)[0].second;
}

void CheckReference(const std::string& name) {
  Loaded m;
  ASSERT_NO_FATAL_FAILURE(LoadModel(name, &m));
  Tensor out;
  ASSERT_NO_FATAL_FAILURE(RunOne(*m.session, name, m.input, &out));
  ExpectClose(name + " batch 1", out, FromTensor(m.ref));
}

void CheckBatch2(const std::string& name) {
  Loaded m;
  ASSERT_NO_FATAL_FAILURE(LoadModel(name, &m));
  Tensor out;
  ASSERT_NO_FATAL_FAILURE(RunOne(*m.session, name + " batch 2", RepeatBatch(m.input, 2), &out));
  ExpectClose(name + " batch 2 (two copies)", out, FromTensor(RepeatBatch(m.ref, 2)));
}

TEST(PyTorchModels, MobileNetV2MatchesFloat64Reference) { CheckReference("mobilenet_v2_w035"); }
TEST(PyTorchModels, ResNet18TwoStagesMatchesFloat64Reference) { CheckReference("resnet18_2stages"); }
TEST(PyTorchModels, TransformerEncoderMatchesFloat64Reference) {
  CheckReference("transformer_encoder");
}
TEST(PyTorchModels, LstmMatchesFloat64Reference) { CheckReference("lstm"); }

TEST(PyTorchModels, MobileNetV2Batch2) { CheckBatch2("mobilenet_v2_w035"); }
TEST(PyTorchModels, ResNet18TwoStagesBatch2) { CheckBatch2("resnet18_2stages"); }
TEST(PyTorchModels, TransformerEncoderBatch2) { CheckBatch2("transformer_encoder"); }
TEST(PyTorchModels, LstmBatch2) { CheckBatch2("lstm"); }

// The LSTM is causal: a shorter sequence gives the prefix of the reference.
TEST(PyTorchModels, LstmShorterSequenceGivesReferencePrefix) {
  Loaded m;
  ASSERT_NO_FATAL_FAILURE(LoadModel("lstm", &m));
  const int64_t steps = 20, in_dim = m.input.dim(2), out_dim = m.ref.dim(2);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < steps; ++i) rows.push_back(i);
  Tensor x = Tensor::FromVector(SelectRows(FloatData(m.input), in_dim, rows), {1, steps, in_dim});
  Tensor out;
  ASSERT_NO_FATAL_FAILURE(RunOne(*m.session, "lstm seq 20", x, &out));
  Expected all = FromTensor(m.ref);
  ExpectClose("lstm seq 20 (prefix)", out,
              Expected{{1, steps, out_dim}, SelectRows(all.values, out_dim, rows)});
}

// No positional encoding and no mask: [x ; reversed(x)] (sequence 64, every token twice)
// must give [ref ; reversed(ref)].
TEST(PyTorchModels, TransformerEncoderLongerPermutedSequence) {
  Loaded m;
  ASSERT_NO_FATAL_FAILURE(LoadModel("transformer_encoder", &m));
  const int64_t seq = m.input.dim(1), d = m.input.dim(2);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < seq; ++i) rows.push_back(i);
  for (int64_t i = seq - 1; i >= 0; --i) rows.push_back(i);
  const int64_t n = static_cast<int64_t>(rows.size());
  Tensor x = Tensor::FromVector(SelectRows(FloatData(m.input), d, rows), {1, n, d});
  Tensor out;
  ASSERT_NO_FATAL_FAILURE(RunOne(*m.session, "transformer_encoder seq 64", x, &out));
  Expected all = FromTensor(m.ref);
  ExpectClose("transformer_encoder seq 64 ([x;rev x])", out,
              Expected{{1, n, m.ref.dim(2)}, SelectRows(all.values, m.ref.dim(2), rows)});
}

}  // namespace
}  // namespace privedge
