// Backward rules of the elementwise family: Add, Sub, Mul, Div (numpy broadcasting), Relu,
// LeakyRelu, Sigmoid, Tanh, and Dropout (seeded, deterministic).
#include <algorithm>
#include <cmath>

#include "train/rules/util.h"

namespace privedge::train {
namespace {

// Gradients of a binary op: dA += dY * da(a, b), dB += dY * db(a, b), summed over broadcasts.
template <class DA, class DB>
Status BinaryBackward(NodeIO& io, DA da, DB db) {
  PE_ASSIGN_OR_RETURN(const Tensor* a, io.FloatInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* b, io.FloatInput(1));
  const Tensor dy = io.GradOutput(0);
  Tensor ga = Zeros(a->shape()), gb = Zeros(b->shape());
  const float *av = a->data<float>(), *bv = b->data<float>(), *g = dy.data<float>();
  float *gav = ga.data<float>(), *gbv = gb.data<float>();
  const bool want_a = io.needs_grad[0], want_b = io.needs_grad[1];
  ForEachBroadcast(dy.shape(), a->shape(), b->shape(), [&](int64_t o, int64_t i, int64_t j) {
    if (want_a) gav[i] += g[o] * da(av[i], bv[j]);
    if (want_b) gbv[j] += g[o] * db(av[i], bv[j]);
  });
  io.grad_inputs[0] = std::move(ga);
  io.grad_inputs[1] = std::move(gb);
  return Status::OK();
}

Status AddBackward(NodeIO& io) {
  return BinaryBackward(
      io, [](float, float) { return 1.0f; }, [](float, float) { return 1.0f; });
}
Status SubBackward(NodeIO& io) {
  return BinaryBackward(
      io, [](float, float) { return 1.0f; }, [](float, float) { return -1.0f; });
}
Status MulBackward(NodeIO& io) {
  return BinaryBackward(
      io, [](float, float b) { return b; }, [](float a, float) { return a; });
}
Status DivBackward(NodeIO& io) {
  return BinaryBackward(
      io, [](float, float b) { return 1.0f / b; }, [](float a, float b) { return -a / (b * b); });
}

// dX = dY * f(x, y) elementwise.
template <class F>
Status UnaryBackward(NodeIO& io, F f) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
  const Tensor& y = io.outputs[0].tensor;
  const Tensor dy = io.GradOutput(0);
  Tensor dx = Zeros(x->shape());
  const float *xv = x->data<float>(), *yv = y.data<float>(), *g = dy.data<float>();
  float* out = dx.data<float>();
  for (int64_t i = 0; i < x->numel(); ++i) out[i] = g[i] * f(xv[i], yv[i]);
  io.grad_inputs[0] = std::move(dx);
  return Status::OK();
}

// Relu and LeakyRelu (slope alpha below zero; 0 for Relu), on buffers kept across steps.
class ReluRule final : public NodeRule {
 public:
  explicit ReluRule(float alpha) : alpha_(alpha) {}

  Status Forward(NodeIO& io) override {
    PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
    Tensor y = scratch_.Get(0, x->shape());
    const float* xv = x->data<float>();
    float* yv = y.data<float>();
    const float a = alpha_;
    const int64_t n = x->numel();
    // Branch-free so that it vectorizes (signs of activations are unpredictable).
#pragma omp parallel for simd if (n > (1 << 18))
    for (int64_t i = 0; i < n; ++i) {
      const float v = xv[i];
      yv[i] = (v > 0.0f ? v : 0.0f) + a * (v < 0.0f ? v : 0.0f);
    }
    io.outputs = {Value::FromTensor(std::move(y))};
    return Status::OK();
  }

  Status Backward(NodeIO& io) override {
    const Tensor* x = io.input(0);
    const Tensor dy = io.GradOutput(0);
    Tensor dx = scratch_.Get(1, x->shape());
    const float *xv = x->data<float>(), *g = dy.data<float>();
    float* out = dx.data<float>();
    const float a = alpha_;
    const int64_t n = x->numel();
#pragma omp parallel for simd if (n > (1 << 18))
    for (int64_t i = 0; i < n; ++i) {
      const float slope = xv[i] > 0.0f ? 1.0f : a;
      out[i] = g[i] * slope;
    }
    io.grad_inputs[0] = std::move(dx);
    return Status::OK();
  }

 private:
  float alpha_;
  Scratch scratch_;
};

Result<std::unique_ptr<NodeRule>> MakeRelu(const Node& node, int64_t) {
  float alpha = 0.0f;
  if (node.op_type == "LeakyRelu")
    alpha = node.FindAttribute("alpha") ? node.FindAttribute("alpha")->f : 0.01f;
  return std::unique_ptr<NodeRule>(new ReluRule(alpha));
}
Status SigmoidBackward(NodeIO& io) {
  return UnaryBackward(io, [](float, float y) { return y * (1 - y); });
}
Status TanhBackward(NodeIO& io) {
  return UnaryBackward(io, [](float, float y) { return 1 - y * y; });
}

// SplitMix64: a counter-based generator, so element i's draw depends only on (seed, i).
uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Dropout: in training steps, zeroes each element with probability `ratio` (the draw is a
// function of the session seed, the step and the node) and scales the rest by 1/(1-ratio);
// identity in evaluation, whatever the node's training_mode input says.
class DropoutRule final : public NodeRule {
 public:
  Status Forward(NodeIO& io) override {
    PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
    double ratio = 0.5;
    if (const auto* a = io.node->FindAttribute("ratio")) ratio = a->f;
    if (io.opset >= 12 && io.input(1)) ratio = io.input(1)->GetAsDouble(0);
    if (!(ratio >= 0 && ratio < 1)) return io.Error("ratio must be in [0, 1), got ", ratio);
    scale_ = static_cast<float>(1.0 / (1.0 - ratio));
    keep_.assign(static_cast<size_t>(x->numel()), 1);
    io.outputs.resize(io.node->outputs.size());
    if (!io.training || ratio == 0) {
      scale_ = 1.0f;
      io.outputs[0] = Value::FromTensor(*x);
    } else {
      const uint64_t threshold = static_cast<uint64_t>(ratio * 18446744073709551616.0);
      Tensor y = Zeros(x->shape());
      const float* xv = x->data<float>();
      float* yv = y.data<float>();
      for (int64_t i = 0; i < x->numel(); ++i) {
        keep_[i] = SplitMix(io.seed + static_cast<uint64_t>(i)) >= threshold;
        yv[i] = keep_[i] ? xv[i] * scale_ : 0.0f;
      }
      io.outputs[0] = Value::FromTensor(std::move(y));
    }
    if (io.outputs.size() > 1 && !io.node->outputs[1].empty()) {
      Tensor mask(DType::kBool, x->shape());
      for (int64_t i = 0; i < x->numel(); ++i) mask.data<bool>()[i] = keep_[i];
      io.outputs[1] = Value::FromTensor(std::move(mask));
    }
    return Status::OK();
  }

  Status Backward(NodeIO& io) override {
    const Tensor dy = io.GradOutput(0);
    Tensor dx = Zeros(dy.shape());
    const float* g = dy.data<float>();
    float* out = dx.data<float>();
    for (int64_t i = 0; i < dy.numel(); ++i) out[i] = keep_[i] ? g[i] * scale_ : 0.0f;
    io.grad_inputs[0] = std::move(dx);
    return Status::OK();
  }

 private:
  std::vector<uint8_t> keep_;
  float scale_ = 1.0f;
};

Result<std::unique_ptr<NodeRule>> MakeDropout(const Node&, int64_t) {
  return std::unique_ptr<NodeRule>(new DropoutRule);
}

}  // namespace

void RegisterElementwiseRules(RuleRegistry& r) {
  r.AddSimple("Add", AddBackward);
  r.AddSimple("Sub", SubBackward);
  r.AddSimple("Mul", MulBackward);
  r.AddSimple("Div", DivBackward);
  r.Add("Relu", MakeRelu);
  r.Add("LeakyRelu", MakeRelu);
  r.AddSimple("Sigmoid", SigmoidBackward);
  r.AddSimple("Tanh", TanhBackward);
  r.Add("Dropout", MakeDropout);
}

}  // namespace privedge::train
