#include "train/train_test_util.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kernels/dnnl/dnnl_util.h"
#include "train/tape.h"

namespace privedge::train::testing {

Attribute Int(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
Attribute Float(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
Attribute Ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute Str(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

Node MakeNode(std::string op, std::vector<std::string> inputs, std::vector<std::string> outputs,
              std::map<std::string, Attribute> attrs) {
  Node n;
  n.name = op + "_node";
  n.op_type = std::move(op);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attributes = std::move(attrs);
  return n;
}

Model BuildModel(std::vector<Node> nodes, const std::vector<std::string>& inputs,
                 std::map<std::string, Tensor> initializers, int64_t opset) {
  Model m;
  m.ir_version = 8;
  m.opsets = {{"", opset}};
  for (const auto& name : inputs) m.graph.inputs.push_back(ValueInfo{name, {}});
  m.graph.outputs.push_back(ValueInfo{nodes.back().outputs[0], {}});
  m.graph.initializers = std::move(initializers);
  m.graph.nodes = std::move(nodes);
  return m;
}

Tensor Random(const Shape& shape, std::mt19937& rng, float lo, float hi, float gap) {
  Tensor t(DType::kFloat32, shape);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = u(rng);
    while (gap > 0 && std::fabs(v) < gap) v = u(rng);
    t.data<float>()[i] = v;
  }
  return t;
}

Tensor Distinct(const Shape& shape, std::mt19937& rng) {
  Tensor t(DType::kFloat32, shape);
  const int64_t n = t.numel();
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = -2.0f + 4.0f * static_cast<float>(i) / std::max<int64_t>(1, n - 1);
  std::shuffle(v.begin(), v.end(), rng);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

std::string CheckGradients(const Model& model, std::vector<std::pair<std::string, Tensor>> feeds,
                           const std::vector<std::string>& wrt, const GradCheckOptions& options) {
  const dnnl_kernels::ThreadScope threads(1);  // spinning OpenMP workers crawl on a busy machine
  const std::string output = model.graph.outputs[0].name;
  auto tape = Tape::Create(model, wrt, output);
  if (!tape.ok()) return tape.status().ToString();
  auto loss = [&](const Tensor& r) -> Result<double> {
    PE_ASSIGN_OR_RETURN(Tensor y, (*tape)->Forward(feeds, true, 7));
    double s = 0;
    for (int64_t i = 0; i < y.numel(); ++i)
      s += static_cast<double>(y.data<float>()[i]) * r.data<float>()[i];
    return s;
  };
  auto y = (*tape)->Forward(feeds, true, 7);
  if (!y.ok()) return y.status().ToString();
  std::mt19937 rng(99);
  const Tensor r = Random(y->shape(), rng);
  auto grads = (*tape)->Backward(r);
  if (!grads.ok()) return grads.status().ToString();
  for (size_t k = 0; k < wrt.size(); ++k) {
    Tensor* x = nullptr;
    for (auto& [name, t] : feeds)
      if (name == wrt[k]) x = &t;
    if (!x) return "no feed named " + wrt[k];
    const Tensor& g = (*grads)[k];
    std::vector<int64_t> picks(x->numel());
    for (int64_t i = 0; i < x->numel(); ++i) picks[i] = i;
    std::shuffle(picks.begin(), picks.end(), rng);
    if (static_cast<int>(picks.size()) > options.max_elements) picks.resize(options.max_elements);
    for (int64_t i : picks) {
      float* v = x->data<float>() + i;
      const float saved = *v;
      *v = static_cast<float>(saved + options.eps);
      auto up = loss(r);
      *v = static_cast<float>(saved - options.eps);
      auto down = loss(r);
      *v = saved;
      if (!up.ok()) return up.status().ToString();
      if (!down.ok()) return down.status().ToString();
      const double fd = (*up - *down) / (2 * options.eps);
      const double an = g.data<float>()[i];
      if (!(std::fabs(fd - an) <=
            options.atol + options.rtol * std::max(std::fabs(fd), std::fabs(an)))) {
        std::ostringstream os;
        os << "d/d " << wrt[k] << "[" << i << "]: analytic " << an << ", finite difference " << fd;
        return os.str();
      }
    }
  }
  return "";
}

float UniformFromCounter(uint64_t seed, uint64_t i) {
  uint64_t x = seed + i + 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return static_cast<float>(static_cast<double>(x >> 40) / static_cast<double>(1 << 24));
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

std::vector<float> InitValues(const std::string& name, const Shape& shape) {
  const int64_t n = ShapeElementCount(shape);
  const float scale = shape.size() >= 2 ? 1.0f / std::sqrt(static_cast<float>(n / shape[0])) : 0.1f;
  std::vector<float> v(n);
  const uint64_t seed = Fnv1a(name);
  for (int64_t i = 0; i < n; ++i) v[i] = (2.0f * UniformFromCounter(seed, i) - 1.0f) * scale;
  return v;
}

namespace {

// The initializers of each model in the order tools/torch_train_reference.py stored them in the
// external data file.
std::vector<std::pair<std::string, Shape>> ReferenceParameters(const std::string& model) {
  if (model == "mlp")
    return {{"fc1.weight", {128, 784}},
            {"fc1.bias", {128}},
            {"fc2.weight", {10, 128}},
            {"fc2.bias", {10}}};
  return {{"conv1.weight", {32, 1, 5, 5}},  {"conv1.bias", {32}},
          {"conv2.weight", {64, 32, 5, 5}}, {"conv2.bias", {64}},
          {"fc1.weight", {512, 3136}},      {"fc1.bias", {512}},
          {"fc2.weight", {10, 512}},        {"fc2.bias", {10}}};
}

}  // namespace

std::string MaterializeReferenceModel(const std::string& model) {
  const std::string src = std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/train/" + model + ".onnx";
  const std::string dir = std::string(PRIVEDGE_BINARY_DIR) + "/train_reference_" + model;
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(src, dir + "/" + model + ".onnx",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream out(dir + "/" + model + ".weights.bin", std::ios::binary | std::ios::trunc);
  for (const auto& [name, shape] : ReferenceParameters(model)) {
    const std::vector<float> v = InitValues(name, shape);
    out.write(reinterpret_cast<const char*>(v.data()),
              static_cast<std::streamsize>(v.size() * sizeof(float)));
  }
  return dir + "/" + model + ".onnx";
}

std::pair<Tensor, Tensor> ReferenceBatch(const std::string& model, int step) {
  const Shape shape = model == "mlp" ? Shape{8, 784} : Shape{8, 1, 28, 28};
  // Learnable synthetic data: x = 0.5 * noise + 0.5 * pattern[label], patterns binary.
  Tensor x(DType::kFloat32, shape), y(DType::kInt64, {8});
  for (int64_t n = 0; n < 8; ++n) {
    const int64_t label =
        static_cast<int64_t>(static_cast<double>(UniformFromCounter(5000 + step, n)) * 10);
    y.data<int64_t>()[n] = label;
    for (int64_t i = 0; i < 784; ++i) {
      const float pattern = UniformFromCounter(777 + label, i) > 0.5f ? 1.0f : 0.0f;
      x.data<float>()[n * 784 + i] =
          0.5f * UniformFromCounter(1000 + step, n * 784 + i) + 0.5f * pattern;
    }
  }
  return {x, y};
}

}  // namespace privedge::train::testing
