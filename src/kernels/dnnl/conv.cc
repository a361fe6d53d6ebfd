// dnnl_f32_conv: float32 2-D convolution through oneDNN. Weights are packed once per layout
// the chosen primitive asks for; primitives are built on the first run of each input shape.
// Inputs and outputs stay plain NCHW tensors. 1x1 stride-1 layers on images of 64 pixels or
// more run as a matmul on NCHW directly; the others work in the layout oneDNN picks (format
// any: NHWC for brgconv, nChw16c for Winograd) with reorders on either side. Measured on this machine, that beats primitives
// on plain NCHW by 15% (ResNet-18) to 40% (MobileNetV2) even with the reorders; keeping the
// layout across operators is the optimizer's job.
// The same kernel serves com.privedge.FusedConv (Conv [+ residual Z] [+ activation]
// from the optimizer): Z is a oneDNN sum post-op (Y starts as Z, in the primitive's layout) and
// the activation an eltwise post-op, applied while the output is still in cache.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include "kernels/dnnl/dnnl_util.h"
#include "kernels/reference/conv_pool_util.h"

namespace privedge::dnnl_kernels {
namespace {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;

// Everything one input shape needs at run time.
struct ConvPlan {
  Shape output_shape;
  dnnl::primitive primitive;
  memory::desc user_src, user_dst;  // plain NCHW views of X and Y
  memory::desc bias;
  bool pointwise = false;  // a matmul: weights and image swap roles, Y starts as the bias
  memory::desc src, dst, scratchpad;
  std::optional<dnnl::reorder> to_src, from_dst;  // set when the primitive wants another layout
  std::optional<dnnl::reorder> to_dst;            // Z into the primitive's dst layout
  memory weights;
  std::string impl;
  int threads = 1;
};

class DnnlConv final : public PreparedKernel {
 public:
  DnnlConv(const Tensor& w, const Tensor* bias, int64_t group, int threads,
           std::optional<convpool::FusedActivation> activation, bool sum, bool sensitive)
      : weights_(w),
        bias_(bias ? *bias : Tensor()),
        group_(group),
        threads_(threads),
        activation_(activation),
        sum_(sum),
        packed_(PlainWeightsDesc(), w.data<float>(), sensitive) {}

  const char* name() const override { return activation_ ? "dnnl_f32_conv_act" : "dnnl_f32_conv"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x || x->dtype() != DType::kFloat32 || x->rank() != 4 || x->numel() == 0)
      return RunReference(ctx);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const ConvPlan> plan,
                        plans_.Get(x->shape(), [&] { return Build(ctx, x->shape()); }));
    // The summand Z: summed in place when it has Y's shape; broadcasting is the reference's.
    const Tensor* z = sum_ ? ctx.input(3) : nullptr;
    if (sum_ && (!z || z->dtype() != DType::kFloat32 || z->shape() != plan->output_shape))
      return RunReference(ctx);
    ThreadScope threads(plan->threads);
    PE_ASSIGN_OR_RETURN(Tensor * y, AllocateUninitialized(ctx, 0, plan->output_shape));
    const dnnl::engine& engine = CpuEngine();
    dnnl::stream stream(engine);
    memory user_src(plan->user_src, engine, const_cast<float*>(x->data<float>()));
    memory user_dst(plan->user_dst, engine, y->data<float>());
    memory src = user_src, dst = user_dst;
    if (plan->to_src) {
      src = memory(plan->src, engine);
      plan->to_src->execute(stream, user_src, src);
    }
    if (plan->from_dst) dst = memory(plan->dst, engine);
    if (z && plan->to_dst) {
      memory user_z(plan->user_dst, engine, const_cast<float*>(z->data<float>()));
      plan->to_dst->execute(stream, user_z, dst);
    } else if (z) {
      std::memcpy(y->data<float>(), z->data<float>(), static_cast<size_t>(z->numel()) * sizeof(float));
    }
    memory scratchpad(plan->scratchpad, engine);
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},
                                            {DNNL_ARG_WEIGHTS, plan->weights},
                                            {DNNL_ARG_DST, dst},
                                            {DNNL_ARG_SCRATCHPAD, scratchpad}};
    if (plan->pointwise) {
      std::swap(args[DNNL_ARG_SRC], args[DNNL_ARG_WEIGHTS]);
      if (bias_.defined()) AddBias(y);
    } else if (bias_.defined()) {
      args[DNNL_ARG_BIAS] = memory(plan->bias, engine, const_cast<float*>(bias_.data<float>()));
    }
    plan->primitive.execute(stream, args);
    if (plan->from_dst) plan->from_dst->execute(stream, dst, user_dst);
    stream.wait();
    return Status::OK();
  }

 private:
  // The fused activation as the last post-op of `ops`.
  void AppendActivation(dnnl::post_ops& ops) const {
    if (!activation_) return;
    using Kind = convpool::FusedActivation::Kind;
    switch (activation_->kind) {
      case Kind::kNone:
        break;
      case Kind::kSigmoid:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f);
        break;
      case Kind::kSwish:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_swish, 1.0f, 0.0f);
        break;
      case Kind::kRelu:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
        break;
      case Kind::kLeakyRelu:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, activation_->alpha, 0.0f);
        break;
      case Kind::kClip:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip_v2, activation_->alpha,
                           activation_->beta);
        break;
    }
  }

  // Y[n, m, :] = bias[m] (+= with a summand already in Y), for the pointwise matmul to sum into.
  void AddBias(Tensor* y) const {
    const int64_t m = bias_.dim(0), plane = y->numel() / std::max<int64_t>(1, y->dim(0) * m);
    const float* b = bias_.data<float>();
    float* out = y->data<float>();
    for (int64_t i = 0; i < y->dim(0) * m; ++i) {
      float* row = out + i * plane;
      const float v = b[i % m];
      if (sum_) {
        for (int64_t k = 0; k < plane; ++k) row[k] += v;
      } else {
        std::fill_n(row, plane, v);
      }
    }
  }

  memory::desc PlainWeightsDesc() const {
    const Shape& w = weights_.shape();
    if (group_ == 1) return {Dims(w), memory::data_type::f32, Tag::oihw};
    return {{group_, w[0] / group_, w[1], w[2], w[3]}, memory::data_type::f32, Tag::goihw};
  }

  // Winograd computes a 3x3 stride-1 layer with fewer multiplications; oneDNN never picks it
  // by itself. Measured on ResNet-18 (1 thread): it saves about 1 ms per run on each 56x56 and
  // 28x28 layer, nothing measurable at 14x14 and 7x7, and packing its weights costs 20-80 ms
  // per 256- and 512-channel layer at the first run. So: large images, enough channels.
  static bool WantWinograd(const convpool::ConvSetup& s, const Shape& w) {
    const auto& g = s.geometry;
    return s.dims.group == 1 && w[2] == 3 && w[3] == 3 && g.strides == std::vector<int64_t>{1, 1} &&
           g.dilations == std::vector<int64_t>{1, 1} && w[0] >= 64 && w[1] >= 64 &&
           g.cols[0] * g.cols[1] >= 28 * 28;
  }

  // Below this many output pixels the product's N is too narrow for the matmul kernels: the
  // 7x7 layers of EfficientNet-B0 (and its 1x1 squeeze-excitation layers) ran 10-15% faster as
  // brgconv_1x1 with reorders, MobileNetV2 and ShuffleNet 2-4% (CPU time, 1 thread); 14x14
  // layers are faster as the matmul.
  static constexpr int64_t kMinMatmulImage = 64;

  // A 1x1 stride-1 unpadded convolution is a matrix product per image that reads and writes
  // NCHW directly: Y[M, HW] = W[M, C] * X[C, HW]. oneDNN has a fast (brgemm) matmul for this
  // form only without a per-row bias, so Y starts as the bias and the product is summed into
  // it. Measured on MobileNetV2's 1x1 layers (1 thread): 2-3x faster than brgconv_1x1 plus
  // its NCHW<->NHWC reorders, and often faster than the convolution alone.
  bool IsPointwise(const convpool::ConvSetup& s) const {
    const auto& g = s.geometry;
    return group_ == 1 && g.kernel == Shape{1, 1} && g.strides == std::vector<int64_t>{1, 1} &&
           g.pads == std::vector<int64_t>{0, 0, 0, 0} && g.cols[0] * g.cols[1] >= kMinMatmulImage;
  }

  Result<std::shared_ptr<const ConvPlan>> BuildPointwise(const KernelContext& ctx, const Shape& x,
                                                         const convpool::ConvSetup& s) const {
    const int64_t n = x[0], c = x[1], hw = x[2] * x[3], m = weights_.dim(0);
    auto plan = std::make_shared<ConvPlan>();
    plan->threads = ThreadsFor(threads_, static_cast<double>(n) * m * c * hw / 16);
    ThreadScope threads(plan->threads);
    plan->pointwise = true;
    plan->output_shape = s.output_shape;
    plan->user_src = plan->src = memory::desc({n, c, hw}, memory::data_type::f32, Tag::abc);
    plan->user_dst = plan->dst = memory::desc({n, m, hw}, memory::data_type::f32, Tag::abc);
    const memory::desc w({1, m, c}, memory::data_type::f32, Tag::abc);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops ops;
    if (bias_.defined() || sum_) ops.append_sum(1.0f);
    AppendActivation(ops);
    attr.set_post_ops(ops);
    try {
      // The weights are the product's left operand, the image its right one.
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(w, plan->src, plan->dst), attr,
                                      CpuEngine());
      plan->primitive = dnnl::matmul(pd);
      plan->scratchpad = pd.scratchpad_desc();
      plan->impl = pd.impl_info_str();
      plan->weights = memory(w, CpuEngine(), const_cast<float*>(weights_.data<float>()));
    } catch (const dnnl::error& e) {
      return Internal(ctx.node().Describe(), ": oneDNN 1x1 convolution for input ",
                      ShapeToString(x), ": ", e.what());
    }
    return std::shared_ptr<const ConvPlan>(std::move(plan));
  }

  Result<std::shared_ptr<const ConvPlan>> Build(const KernelContext& ctx, const Shape& x) const {
    PE_ASSIGN_OR_RETURN(convpool::ConvSetup s, convpool::PrepareConv(ctx, x, weights_.shape()));
    if (IsPointwise(s)) return BuildPointwise(ctx, x, s);
    const auto& g = s.geometry;
    const memory::dims strides = Dims(g.strides);
    const memory::dims dilations = {g.dilations[0] - 1, g.dilations[1] - 1};
    const memory::dims pad_l = {g.pads[0], g.pads[1]}, pad_r = {g.pads[2], g.pads[3]};
    auto plan = std::make_shared<ConvPlan>();
    const Shape& w = weights_.shape();
    plan->threads = ThreadsFor(threads_, static_cast<double>(ShapeElementCount(s.output_shape)) *
                                            w[1] * w[2] * w[3] / 16);
    ThreadScope threads(plan->threads);
    plan->output_shape = s.output_shape;
    plan->user_src = memory::desc(Dims(x), memory::data_type::f32, Tag::nchw);
    plan->user_dst = memory::desc(Dims(s.output_shape), memory::data_type::f32, Tag::nchw);
    if (bias_.defined()) plan->bias = memory::desc({bias_.dim(0)}, memory::data_type::f32, Tag::x);
    const memory::desc plain_w = PlainWeightsDesc();
    const memory::desc any_w(plain_w.dims(), memory::data_type::f32, Tag::any);
    const memory::desc bias = bias_.defined()
                                  ? memory::desc({bias_.dim(0)}, memory::data_type::f32, Tag::x)
                                  : memory::desc();
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops ops;
    if (sum_) ops.append_sum(1.0f);
    AppendActivation(ops);
    attr.set_post_ops(ops);
    auto make_pd = [&](dnnl::algorithm algo) {
      const memory::desc src(Dims(x), memory::data_type::f32, Tag::any);
      const memory::desc dst(Dims(s.output_shape), memory::data_type::f32, Tag::any);
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, algo, src, any_w, bias,
                                        dst, strides, dilations, pad_l, pad_r);
      return dnnl::convolution_forward::primitive_desc(d, attr, CpuEngine());
    };
    std::optional<dnnl::convolution_forward::primitive_desc> pd;
    if (WantWinograd(s, weights_.shape())) {
      try {
        pd = make_pd(dnnl::algorithm::convolution_winograd);
      } catch (const dnnl::error&) {
        // No Winograd implementation for this shape or CPU: direct convolution below.
      }
    }
    try {
      if (!pd) pd = make_pd(dnnl::algorithm::convolution_direct);
      plan->primitive = dnnl::convolution_forward(*pd);
      plan->src = pd->src_desc();
      plan->dst = pd->dst_desc();
      plan->scratchpad = pd->scratchpad_desc();
      plan->impl = pd->impl_info_str();
      const dnnl::engine& engine = CpuEngine();
      if (plan->src != plan->user_src)
        plan->to_src = dnnl::reorder({engine, plan->user_src, engine, plan->src});
      if (plan->dst != plan->user_dst) {
        plan->from_dst = dnnl::reorder({engine, plan->dst, engine, plan->user_dst});
        if (sum_) plan->to_dst = dnnl::reorder({engine, plan->user_dst, engine, plan->dst});
      }
      plan->weights = packed_.Get(pd->weights_desc());
    } catch (const dnnl::error& e) {
      return Internal(ctx.node().Describe(), ": oneDNN convolution for input ", ShapeToString(x),
                      ": ", e.what());
    }
    return std::shared_ptr<const ConvPlan>(std::move(plan));
  }

  Tensor weights_;  // shares the initializer's storage
  Tensor bias_;     // undefined when the node has no bias
  int64_t group_;
  int threads_;
  std::optional<convpool::FusedActivation> activation_;  // FusedConv only
  bool sum_;  // FusedConv with a summand Z (input 3)
  mutable PackedWeights packed_;
  mutable ShapeCache<ConvPlan> plans_;
};

}  // namespace

Result<std::unique_ptr<PreparedKernel>> MakeConv(const PrepareContext& ctx) {
  auto decline = [] { return std::unique_ptr<PreparedKernel>(); };
  const auto& in = ctx.constant_inputs;
  const Tensor* w = in.size() >= 2 ? in[1] : nullptr;
  if (!w || w->dtype() != DType::kFloat32 || w->rank() != 4 || w->numel() == 0) return decline();
  const Tensor* bias = nullptr;
  if (ctx.node.inputs.size() > 2 && !ctx.node.inputs[2].empty()) {
    bias = in[2];
    if (!bias || bias->dtype() != DType::kFloat32 || bias->rank() != 1 || bias->dim(0) != w->dim(0))
      return decline();
  }
  // Attributes the reference would reject are left to it, so the error reads the same.
  const KernelContext kctx(ctx.node, ctx.opset, {});
  const int64_t group = kctx.attr_int("group", 1);
  if (group < 1 || w->dim(0) % group != 0) return decline();
  if (!convpool::ReadWindowAttrs(kctx, 2, {w->dim(2), w->dim(3)}).ok()) return decline();
  std::optional<convpool::FusedActivation> activation;
  bool sum = false;
  if (ctx.node.op_type == "FusedConv") {
    auto act = convpool::ReadFusedActivation(kctx);
    if (!act.ok()) return decline();
    activation = *act;
    sum = ctx.node.inputs.size() > 3 && !ctx.node.inputs[3].empty();
  }
  return std::unique_ptr<PreparedKernel>(new DnnlConv(*w, bias, group, ctx.threads, activation,
                                                      sum, ctx.sensitive_weights));
}

}  // namespace privedge::dnnl_kernels
