// dnnl_f32_gemm and dnnl_f32_matmul: Y[R, N] = op(A)[R, K] * B'[K, N] + bias[N] through a
// oneDNN matmul primitive, where B' is the constant right operand (alpha folded in) packed once
// per layout. MatMul flattens A's leading axes into R; Gemm takes transA through A's strides.
#include <optional>
#include <string>

#include "kernels/dnnl/dnnl_util.h"

namespace privedge::dnnl_kernels {
namespace {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;

struct GemmPlan {
  Shape output_shape;
  dnnl::matmul primitive;
  memory::desc src, dst, scratchpad;
  memory weights;
  int threads = 1;
};

class DnnlGemm final : public PreparedKernel {
 public:
  // `b` is B' as [K, N] (trans_b: stored [N, K]); `bias` has N values or is empty.
  DnnlGemm(bool is_gemm, Tensor b, int64_t k, int64_t n, bool trans_a, bool trans_b,
           std::vector<float> bias, int threads, bool sensitive, bool relu = false)
      : is_gemm_(is_gemm),
        relu_(relu),
        b_(std::move(b)),
        bias_(std::move(bias)),
        k_(k),
        n_(n),
        trans_a_(trans_a),
        threads_(threads),
        packed_(memory::desc({k, n}, memory::data_type::f32, trans_b ? Tag::ba : Tag::ab),
                b_.data<float>(), sensitive) {}

  const char* name() const override {
    return is_gemm_ ? "dnnl_f32_gemm" : relu_ ? "dnnl_f32_matmul_relu" : "dnnl_f32_matmul";
  }

  Status Run(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    if (!a || a->dtype() != DType::kFloat32 || a->numel() == 0) return RunReference(ctx);
    int64_t rows = 0;
    Shape out_shape;
    if (is_gemm_) {
      if (a->rank() != 2 || a->dim(trans_a_ ? 0 : 1) != k_) return RunReference(ctx);
      rows = a->dim(trans_a_ ? 1 : 0);
      out_shape = {rows, n_};
    } else {
      if (a->rank() < 1 || a->dim(-1) != k_) return RunReference(ctx);
      rows = a->numel() / k_;
      out_shape.assign(a->shape().begin(), a->shape().end() - 1);
      out_shape.push_back(n_);
    }
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const GemmPlan> plan,
                        plans_.Get({rows}, [&] { return Build(ctx, rows); }));
    ThreadScope threads(plan->threads);
    PE_ASSIGN_OR_RETURN(Tensor * y, AllocateUninitialized(ctx, 0, out_shape));
    const dnnl::engine& engine = CpuEngine();
    dnnl::stream stream(engine);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, memory(plan->src, engine, const_cast<float*>(a->data<float>()))},
        {DNNL_ARG_WEIGHTS, plan->weights},
        {DNNL_ARG_DST, memory(plan->dst, engine, y->data<float>())},
        {DNNL_ARG_SCRATCHPAD, ThreadScratchpad(plan->scratchpad)}};
    if (!bias_.empty()) {
      args[DNNL_ARG_BIAS] = memory({{1, n_}, memory::data_type::f32, Tag::ab}, engine,
                                   const_cast<float*>(bias_.data()));
    }
    plan->primitive.execute(stream, args);
    stream.wait();
    return Status::OK();
  }

 private:
  Result<std::shared_ptr<const GemmPlan>> Build(const KernelContext& ctx, int64_t rows) const {
    auto plan = std::make_shared<GemmPlan>();
    plan->threads = ThreadsFor(threads_, static_cast<double>(rows) * k_ * n_ / 16);
    ThreadScope threads(plan->threads);
    plan->src = memory::desc({rows, k_}, memory::data_type::f32, trans_a_ ? Tag::ba : Tag::ab);
    plan->dst = memory::desc({rows, n_}, memory::data_type::f32, Tag::ab);
    const memory::desc any_w({k_, n_}, memory::data_type::f32, Tag::any);
    const memory::desc bias =
        bias_.empty() ? memory::desc() : memory::desc({1, n_}, memory::data_type::f32, Tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (relu_) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      attr.set_post_ops(ops);
    }
    try {
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(plan->src, any_w, bias, plan->dst), attr,
                                      CpuEngine());
      plan->primitive = dnnl::matmul(pd);
      plan->scratchpad = pd.scratchpad_desc();
      plan->weights = packed_.Get(pd.weights_desc());
    } catch (const dnnl::error& e) {
      return Internal(ctx.node().Describe(), ": oneDNN matmul for ", rows, " rows: ", e.what());
    }
    return std::shared_ptr<const GemmPlan>(std::move(plan));
  }

  bool is_gemm_;
  bool relu_;  // FusedMatMul with activation Relu
  Tensor b_;                 // B' = alpha * B in B's layout (B's own storage when alpha is 1)
  std::vector<float> bias_;  // beta * C as N values; empty without C
  int64_t k_, n_;
  bool trans_a_;
  int threads_;
  mutable PackedWeights packed_;
  mutable ShapeCache<GemmPlan> plans_;
};

bool IsFloat2D(const Tensor* t) {
  return t && t->dtype() == DType::kFloat32 && t->rank() == 2 && t->numel() > 0;
}

std::vector<float> Scaled(const Tensor& t, float scale) {
  std::vector<float> v(t.data<float>(), t.data<float>() + t.numel());
  if (scale != 1.0f)
    for (float& e : v) e *= scale;
  return v;
}

Tensor ScaledTensor(const Tensor& t, float scale) {
  return scale == 1.0f ? t : Tensor::FromVector<float>(Scaled(t, scale), t.shape());
}

}  // namespace

Result<std::unique_ptr<PreparedKernel>> MakeGemm(const PrepareContext& ctx) {
  auto decline = [] { return std::unique_ptr<PreparedKernel>(); };
  const auto& in = ctx.constant_inputs;
  const Tensor* b = in.size() >= 2 ? in[1] : nullptr;
  if (!IsFloat2D(b)) return decline();
  const KernelContext kctx(ctx.node, ctx.opset, {});
  const bool trans_a = kctx.attr_int("transA", 0) != 0, trans_b = kctx.attr_int("transB", 0) != 0;
  const float alpha = kctx.attr_float("alpha", 1.0f), beta = kctx.attr_float("beta", 1.0f);
  const int64_t k = b->dim(trans_b ? 1 : 0), n = b->dim(trans_b ? 0 : 1);
  std::vector<float> bias;
  if (ctx.node.inputs.size() > 2 && !ctx.node.inputs[2].empty()) {
    // A constant C that is one row (or one value) becomes the primitive's bias.
    const Tensor* c = in[2];
    if (!c || c->dtype() != DType::kFloat32 || c->rank() > 2) return decline();
    const bool row = c->rank() >= 1 && c->numel() == n && c->dim(-1) == n;
    if (!row && c->numel() != 1) return decline();
    bias = Scaled(*c, beta);
    if (!row) bias.assign(static_cast<size_t>(n), bias[0]);
  }
  return std::unique_ptr<PreparedKernel>(new DnnlGemm(true, ScaledTensor(*b, alpha), k, n, trans_a,
                                                      trans_b, std::move(bias), ctx.threads,
                                                      ctx.sensitive_weights));
}

Result<std::unique_ptr<PreparedKernel>> MakeMatMul(const PrepareContext& ctx) {
  const auto& in = ctx.constant_inputs;
  const Tensor* b = in.size() >= 2 ? in[1] : nullptr;
  if (!IsFloat2D(b)) return std::unique_ptr<PreparedKernel>();
  return std::unique_ptr<PreparedKernel>(
      new DnnlGemm(false, *b, b->dim(0), b->dim(1), false, false, {}, ctx.threads,
                   ctx.sensitive_weights));
}

Result<std::unique_ptr<PreparedKernel>> MakeFusedMatMul(const PrepareContext& ctx) {
  auto decline = [] { return std::unique_ptr<PreparedKernel>(); };
  const auto& in = ctx.constant_inputs;
  const Tensor* b = in.size() >= 2 ? in[1] : nullptr;
  const Tensor* bias = in.size() >= 3 ? in[2] : nullptr;
  if (!IsFloat2D(b) || !bias || bias->dtype() != DType::kFloat32 || bias->numel() != b->dim(1))
    return decline();
  const std::string act = KernelContext(ctx.node, ctx.opset, {}).attr_string("activation", "");
  if (act != "" && act != "Relu") return decline();
  return std::unique_ptr<PreparedKernel>(new DnnlGemm(
      false, *b, b->dim(0), b->dim(1), false, false, Scaled(*bias, 1.0f), ctx.threads,
      ctx.sensitive_weights, act == "Relu"));
}

}  // namespace privedge::dnnl_kernels
