// dnnl_f32_eltwise and dnnl_f32_binary: float32 activations (Relu, LeakyRelu, Clip with constant
// bounds, Sigmoid) and Add/Sub/Mul/Div through oneDNN's eltwise and binary primitives, which
// are vectorized and threaded where the reference loops are neither. Binary ops take the
// shapes oneDNN broadcasts: the second operand's extents are 1 or the first's, after padding
// its rank with leading 1s (same shapes, scalars, per-channel [C,1,1] or [N,C,1,1] operands);
// Add and Mul also take that pattern with the operands swapped. Any other input (dtype,
// broadcast, empty tensor, a shape oneDNN has no primitive for) runs the reference kernel.
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "kernels/dnnl/dnnl_util.h"

namespace privedge::dnnl_kernels {
namespace {

using dnnl::memory;

// A primitive built for one input shape; unset when oneDNN has none (the reference runs).
struct ElementwisePlan {
  std::optional<dnnl::primitive> primitive;
  memory::desc src0, src1, dst;
  bool swapped = false;  // binary: the node's second input is the primitive's first source
  int threads = 1;
};

// Dense row-major descriptor for `dims` (rank 0 counts as [1]).
memory::desc DenseDesc(std::vector<int64_t> dims) {
  if (dims.empty()) dims = {1};
  memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size() - 1; i > 0; --i) strides[i - 1] = strides[i] * dims[i];
  return memory::desc(Dims(dims), memory::data_type::f32, strides);
}

class DnnlEltwise final : public PreparedKernel {
 public:
  DnnlEltwise(dnnl::algorithm algo, float alpha, float beta, int threads)
      : algo_(algo), alpha_(alpha), beta_(beta), threads_(threads) {}

  const char* name() const override { return "dnnl_f32_eltwise"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x || x->dtype() != DType::kFloat32 || x->numel() == 0) return RunReference(ctx);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const ElementwisePlan> plan,
                        plans_.Get({x->numel()}, [&] { return Build(x->numel()); }));
    if (!plan->primitive) return RunReference(ctx);
    ThreadScope threads(plan->threads);
    PE_ASSIGN_OR_RETURN(Tensor * y, AllocateUninitialized(ctx, 0, x->shape()));
    const dnnl::engine& engine = CpuEngine();
    dnnl::stream stream(engine);
    memory src(plan->src0, engine, const_cast<float*>(x->data<float>()));
    memory dst(plan->dst, engine, y->data<float>());
    plan->primitive->execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    stream.wait();
    return Status::OK();
  }

 private:
  Result<std::shared_ptr<ElementwisePlan>> Build(int64_t n) const {
    auto plan = std::make_shared<ElementwisePlan>();
    plan->threads = ThreadsFor(threads_, static_cast<double>(n));
    ThreadScope threads(plan->threads);
    plan->src0 = plan->dst = DenseDesc({n});
    try {
      dnnl::eltwise_forward::primitive_desc pd(
          dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algo_, plan->src0, alpha_,
                                      beta_),
          CpuEngine());
      plan->primitive = dnnl::eltwise_forward(pd);
    } catch (const dnnl::error&) {
      // No primitive: the reference kernel runs for this size.
    }
    return plan;
  }

  dnnl::algorithm algo_;
  float alpha_, beta_;
  int threads_;
  mutable ShapeCache<ElementwisePlan> plans_;
};

// True when `small` broadcasts onto `full` with `full` as the result shape.
bool BroadcastsOnto(const Shape& small, const Shape& full) {
  if (small.size() > full.size()) return false;
  const size_t pad = full.size() - small.size();
  for (size_t i = 0; i < small.size(); ++i)
    if (small[i] != 1 && small[i] != full[pad + i]) return false;
  return true;
}

class DnnlBinary final : public PreparedKernel {
 public:
  DnnlBinary(dnnl::algorithm algo, bool commutative, int threads)
      : algo_(algo), commutative_(commutative), threads_(threads) {}

  const char* name() const override { return "dnnl_f32_binary"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (!a || !b || a->dtype() != DType::kFloat32 || b->dtype() != DType::kFloat32 ||
        a->numel() == 0 || b->numel() == 0)
      return RunReference(ctx);
    bool swapped = false;
    if (!BroadcastsOnto(b->shape(), a->shape())) {
      if (!commutative_ || !BroadcastsOnto(a->shape(), b->shape())) return RunReference(ctx);
      swapped = true;
    }
    const Tensor* src0 = swapped ? b : a;
    const Tensor* src1 = swapped ? a : b;
    std::vector<int64_t> key = src0->shape();
    key.push_back(-1);
    key.insert(key.end(), src1->shape().begin(), src1->shape().end());
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const ElementwisePlan> plan,
                        plans_.Get(key, [&] { return Build(src0->shape(), src1->shape()); }));
    if (!plan->primitive) return RunReference(ctx);
    ThreadScope threads(plan->threads);
    PE_ASSIGN_OR_RETURN(Tensor * y, AllocateUninitialized(ctx, 0, src0->shape()));
    const dnnl::engine& engine = CpuEngine();
    dnnl::stream stream(engine);
    memory m0(plan->src0, engine, const_cast<float*>(src0->data<float>()));
    memory m1(plan->src1, engine, const_cast<float*>(src1->data<float>()));
    memory dst(plan->dst, engine, y->data<float>());
    plan->primitive->execute(stream,
                             {{DNNL_ARG_SRC_0, m0}, {DNNL_ARG_SRC_1, m1}, {DNNL_ARG_DST, dst}});
    stream.wait();
    return Status::OK();
  }

 private:
  Result<std::shared_ptr<ElementwisePlan>> Build(const Shape& full, const Shape& small) const {
    auto plan = std::make_shared<ElementwisePlan>();
    plan->threads = ThreadsFor(threads_, static_cast<double>(ShapeElementCount(full)));
    ThreadScope threads(plan->threads);
    std::vector<int64_t> padded(full.size() - small.size(), 1);
    padded.insert(padded.end(), small.begin(), small.end());
    plan->src0 = plan->dst = DenseDesc(full);
    plan->src1 = DenseDesc(padded);
    try {
      dnnl::binary::primitive_desc pd(dnnl::binary::desc(algo_, plan->src0, plan->src1, plan->dst),
                                      CpuEngine());
      plan->primitive = dnnl::binary(pd);
    } catch (const dnnl::error&) {
      // No primitive: the reference kernel runs for these shapes.
    }
    return plan;
  }

  dnnl::algorithm algo_;
  bool commutative_;
  int threads_;
  mutable ShapeCache<ElementwisePlan> plans_;
};

// Clip's bounds when they are attributes (opset < 11) or omitted / constant float32 scalars.
bool ConstantClipBounds(const PrepareContext& ctx, float* lo, float* hi) {
  *lo = std::numeric_limits<float>::lowest();
  *hi = std::numeric_limits<float>::max();
  const KernelContext kctx(ctx.node, ctx.opset, {});
  if (ctx.opset < 11) {
    *lo = kctx.attr_float("min", *lo);
    *hi = kctx.attr_float("max", *hi);
    return true;
  }
  float* bounds[2] = {lo, hi};
  for (size_t slot = 1; slot <= 2; ++slot) {
    if (ctx.node.inputs.size() <= slot || ctx.node.inputs[slot].empty()) continue;
    const Tensor* t = ctx.constant_inputs[slot];
    if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1 || t->rank() > 1) return false;
    *bounds[slot - 1] = t->data<float>()[0];
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<PreparedKernel>> MakeEltwise(const PrepareContext& ctx) {
  const std::string& op = ctx.node.op_type;
  const KernelContext kctx(ctx.node, ctx.opset, {});
  auto make = [&](dnnl::algorithm algo, float alpha, float beta) {
    return std::unique_ptr<PreparedKernel>(new DnnlEltwise(algo, alpha, beta, ctx.threads));
  };
  if (ctx.node.outputs.size() != 1) return std::unique_ptr<PreparedKernel>();
  if (op == "Relu") return make(dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  if (op == "LeakyRelu")
    return make(dnnl::algorithm::eltwise_relu, kctx.attr_float("alpha", 0.01f), 0.0f);
  if (op == "Sigmoid") return make(dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f);
  float lo = 0, hi = 0;
  // oneDNN clips to min when min > max; the reference to max: the reference handles that.
  if (op == "Clip" && ConstantClipBounds(ctx, &lo, &hi) && lo <= hi)
    return make(dnnl::algorithm::eltwise_clip_v2, lo, hi);
  return std::unique_ptr<PreparedKernel>();
}

Result<std::unique_ptr<PreparedKernel>> MakeBinary(const PrepareContext& ctx) {
  const std::string& op = ctx.node.op_type;
  if (ctx.node.inputs.size() != 2 || ctx.node.outputs.size() != 1)
    return std::unique_ptr<PreparedKernel>();
  auto make = [&](dnnl::algorithm algo, bool commutative) {
    return std::unique_ptr<PreparedKernel>(new DnnlBinary(algo, commutative, ctx.threads));
  };
  if (op == "Add") return make(dnnl::algorithm::binary_add, true);
  if (op == "Mul") return make(dnnl::algorithm::binary_mul, true);
  if (op == "Sub") return make(dnnl::algorithm::binary_sub, false);
  if (op == "Div") return make(dnnl::algorithm::binary_div, false);
  return std::unique_ptr<PreparedKernel>();
}

}  // namespace privedge::dnnl_kernels
