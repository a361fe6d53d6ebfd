// Backward rules of Gemm and MatMul. Both run forward and backward on oneDNN's sgemm: the
// weights change every step, so there is nothing to pack ahead of time.
#include "train/rules/util.h"

namespace privedge::train {
namespace {

float FloatAttr(const Node& node, const char* name, float def) {
  const Attribute* a = node.FindAttribute(name);
  return a ? a->f : def;
}
bool IntAttr(const Node& node, const char* name) {
  const Attribute* a = node.FindAttribute(name);
  return a && a->i != 0;
}

// Gemm: Y = alpha * op(A) * op(B) + beta * C, C broadcast to [M, N].
class GemmRule final : public NodeRule {
 public:
  explicit GemmRule(const Node& node)
      : alpha_(FloatAttr(node, "alpha", 1.0f)),
        beta_(FloatAttr(node, "beta", 1.0f)),
        trans_a_(IntAttr(node, "transA")),
        trans_b_(IntAttr(node, "transB")) {}

  Status Forward(NodeIO& io) override {
    PE_ASSIGN_OR_RETURN(const Tensor* a, io.FloatInput(0));
    PE_ASSIGN_OR_RETURN(const Tensor* b, io.FloatInput(1));
    if (a->rank() != 2 || b->rank() != 2)
      return io.Error("A and B must be 2-D, got ", ShapeToString(a->shape()), " and ",
                      ShapeToString(b->shape()));
    m_ = a->dim(trans_a_ ? 1 : 0);
    k_ = a->dim(trans_a_ ? 0 : 1);
    n_ = b->dim(trans_b_ ? 0 : 1);
    if (b->dim(trans_b_ ? 1 : 0) != k_)
      return io.Error("inner dimensions differ: A ", ShapeToString(a->shape()), ", B ",
                      ShapeToString(b->shape()));
    Tensor y = scratch_.Get(0, {m_, n_});
    float* yv = y.data<float>();
    const Tensor* c = io.input(2);
    if (c) {
      PE_ASSIGN_OR_RETURN(c, io.FloatInput(2));
      PE_ASSIGN_OR_RETURN(Shape s, BroadcastShapes(io, {m_, n_}, c->shape()));
      if (s != Shape{m_, n_})
        return io.Error("C ", ShapeToString(c->shape()), " does not broadcast to [M, N]");
      const float* cv = c->data<float>();
      ForEachBroadcast(y.shape(), y.shape(), c->shape(),
                       [&](int64_t o, int64_t, int64_t j) { yv[o] = beta_ * cv[j]; });
    }
    Sgemm(trans_a_, trans_b_, m_, n_, k_, alpha_, a->data<float>(), a->dim(1), b->data<float>(),
          b->dim(1), c ? 1.0f : 0.0f, yv, n_);
    io.outputs = {Value::FromTensor(std::move(y))};
    return Status::OK();
  }

  Status Backward(NodeIO& io) override {
    const Tensor dy = io.GradOutput(0);
    const Tensor *a = io.input(0), *b = io.input(1);
    const float *g = dy.data<float>(), *av = a->data<float>(), *bv = b->data<float>();
    const int64_t m = m_, n = n_, k = k_;
    if (io.needs_grad[0]) {
      Tensor da = scratch_.Get(1, a->shape());
      float* d = da.data<float>();
      if (!trans_a_) {  // dA = alpha dY op(B)^T, [M, K]
        Sgemm(false, !trans_b_, m, k, n, alpha_, g, n, bv, trans_b_ ? k : n, 0, d, k);
      } else {  // dA stored [K, M] = alpha op(B) dY^T
        Sgemm(trans_b_, true, k, m, n, alpha_, bv, trans_b_ ? k : n, g, n, 0, d, m);
      }
      io.grad_inputs[0] = std::move(da);
    }
    if (io.needs_grad[1]) {
      Tensor db = scratch_.Get(2, b->shape());
      float* d = db.data<float>();
      if (!trans_b_) {  // dB = alpha op(A)^T dY, [K, N]
        Sgemm(!trans_a_, false, k, n, m, alpha_, av, trans_a_ ? m : k, g, n, 0, d, n);
      } else {  // dB stored [N, K] = alpha dY^T op(A)
        Sgemm(true, trans_a_, n, k, m, alpha_, g, n, av, trans_a_ ? m : k, 0, d, k);
      }
      io.grad_inputs[1] = std::move(db);
    }
    if (io.needs_grad.size() > 2 && io.needs_grad[2]) {
      const Tensor* c = io.input(2);
      Tensor dc = Zeros(c->shape());
      float* d = dc.data<float>();
      ForEachBroadcast(dy.shape(), dy.shape(), c->shape(),
                       [&](int64_t o, int64_t, int64_t j) { d[j] += beta_ * g[o]; });
      io.grad_inputs[2] = std::move(dc);
    }
    return Status::OK();
  }

 private:
  float alpha_, beta_;
  bool trans_a_, trans_b_;
  int64_t m_ = 0, n_ = 0, k_ = 0;
  Scratch scratch_;
};

// MatMul with numpy semantics: 1-D operands are promoted (and the added axis removed from the
// result), leading batch axes broadcast.
class MatMulRule final : public NodeRule {
 public:
  Status Forward(NodeIO& io) override {
    PE_ASSIGN_OR_RETURN(const Tensor* a, io.FloatInput(0));
    PE_ASSIGN_OR_RETURN(const Tensor* b, io.FloatInput(1));
    if (a->rank() == 0 || b->rank() == 0) return io.Error("MatMul operands must have rank >= 1");
    sa_ = a->shape();
    sb_ = b->shape();
    if (sa_.size() == 1) sa_.insert(sa_.begin(), 1);
    if (sb_.size() == 1) sb_.push_back(1);
    m_ = sa_[sa_.size() - 2];
    k_ = sa_.back();
    n_ = sb_.back();
    if (sb_[sb_.size() - 2] != k_)
      return io.Error("inner dimensions differ: ", ShapeToString(a->shape()), " x ",
                      ShapeToString(b->shape()));
    batch_a_.assign(sa_.begin(), sa_.end() - 2);
    batch_b_.assign(sb_.begin(), sb_.end() - 2);
    PE_ASSIGN_OR_RETURN(batch_, BroadcastShapes(io, batch_a_, batch_b_));
    Shape out = batch_;
    if (a->rank() > 1) out.push_back(m_);
    if (b->rank() > 1) out.push_back(n_);
    Tensor y = Zeros(out);
    const float *av = a->data<float>(), *bv = b->data<float>();
    float* yv = y.data<float>();
    if (batch_b_.empty()) {  // one product over all rows of A
      Sgemm(false, false, ShapeElementCount(batch_a_) * m_, n_, k_, 1, av, k_, bv, n_, 0, yv, n_);
    } else {
      ForEachBroadcast(batch_, batch_a_, batch_b_, [&](int64_t o, int64_t i, int64_t j) {
        Sgemm(false, false, m_, n_, k_, 1, av + i * m_ * k_, k_, bv + j * k_ * n_, n_, 0,
              yv + o * m_ * n_, n_);
      });
    }
    io.outputs = {Value::FromTensor(std::move(y))};
    return Status::OK();
  }

  Status Backward(NodeIO& io) override {
    const Tensor dy = io.GradOutput(0);
    const Tensor *a = io.input(0), *b = io.input(1);
    const float *g = dy.data<float>(), *av = a->data<float>(), *bv = b->data<float>();
    Tensor da = Zeros(a->shape()), db = Zeros(b->shape());
    float *dav = da.data<float>(), *dbv = db.data<float>();
    const int64_t m = m_, n = n_, k = k_;
    if (batch_b_.empty()) {
      const int64_t rows = ShapeElementCount(batch_a_) * m;
      if (io.needs_grad[0]) Sgemm(false, true, rows, k, n, 1, g, n, bv, n, 0, dav, k);
      if (io.needs_grad[1]) Sgemm(true, false, k, n, rows, 1, av, k, g, n, 0, dbv, n);
    } else {
      ForEachBroadcast(batch_, batch_a_, batch_b_, [&](int64_t o, int64_t i, int64_t j) {
        const float* go = g + o * m * n;
        if (io.needs_grad[0])
          Sgemm(false, true, m, k, n, 1, go, n, bv + j * k * n, n, 1, dav + i * m * k, k);
        if (io.needs_grad[1])
          Sgemm(true, false, k, n, m, 1, av + i * m * k, k, go, n, 1, dbv + j * k * n, n);
      });
    }
    io.grad_inputs[0] = std::move(da);
    io.grad_inputs[1] = std::move(db);
    return Status::OK();
  }

 private:
  Shape sa_, sb_, batch_a_, batch_b_, batch_;
  int64_t m_ = 0, n_ = 0, k_ = 0;
};

Result<std::unique_ptr<NodeRule>> MakeGemm(const Node& node, int64_t) {
  return std::unique_ptr<NodeRule>(new GemmRule(node));
}
Result<std::unique_ptr<NodeRule>> MakeMatMul(const Node&, int64_t) {
  return std::unique_ptr<NodeRule>(new MatMulRule);
}

}  // namespace

void RegisterMatMulRules(RuleRegistry& r) {
  r.Add("Gemm", MakeGemm);
  r.Add("MatMul", MakeMatMul);
}

}  // namespace privedge::train
