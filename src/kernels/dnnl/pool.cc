// dnnl_f32_pool: float32 MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool on 4-D NCHW
// tensors through oneDNN's pooling primitive (vectorized and threaded, where the reference
// pools go through double per tap). Global pools are a pool whose window is the whole image.
// Declined at session creation: MaxPool asked for its Indices output. Run on the reference:
// other dtypes and ranks, and windows the primitive would count differently: a window lying
// wholly in the padding, and a count_include_pad average whose ceil-mode window reaches past
// the declared padding.
#include <algorithm>
#include <optional>

#include "kernels/dnnl/dnnl_util.h"
#include "kernels/reference/conv_pool_util.h"

namespace privedge::dnnl_kernels {
namespace {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;

enum class PoolKind { kMax, kAverage, kGlobalAverage, kGlobalMax };

struct PoolPlan {
  std::optional<dnnl::primitive> primitive;  // unset: the reference runs for this shape
  Shape output_shape;
  memory::desc src, dst, workspace;
  int threads = 1;
};

class DnnlPool final : public PreparedKernel {
 public:
  DnnlPool(PoolKind kind, int threads) : kind_(kind), threads_(threads) {}

  const char* name() const override { return "dnnl_f32_pool"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x || x->dtype() != DType::kFloat32 || x->rank() != 4 || x->numel() == 0)
      return RunReference(ctx);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const PoolPlan> plan,
                        plans_.Get(x->shape(), [&] { return Build(ctx, x->shape()); }));
    if (!plan->primitive) return RunReference(ctx);
    ThreadScope threads(plan->threads);
    PE_ASSIGN_OR_RETURN(Tensor * y, AllocateUninitialized(ctx, 0, plan->output_shape));
    const dnnl::engine& engine = CpuEngine();
    dnnl::stream stream(engine);
    memory src(plan->src, engine, const_cast<float*>(x->data<float>()));
    memory dst(plan->dst, engine, y->data<float>());
    plan->primitive->execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    stream.wait();
    return Status::OK();
  }

 private:
  Result<std::shared_ptr<PoolPlan>> Build(const KernelContext& ctx, const Shape& x) const {
    auto plan = std::make_shared<PoolPlan>();
    const Shape image = {x[2], x[3]};
    memory::dims kernel, strides, dilations, pad_l, pad_r;
    dnnl::algorithm algo = dnnl::algorithm::pooling_max;
    if (kind_ == PoolKind::kGlobalAverage || kind_ == PoolKind::kGlobalMax) {
      plan->output_shape = {x[0], x[1], 1, 1};
      kernel = Dims(image);
      strides = {1, 1};
      dilations = pad_l = pad_r = {0, 0};
      if (kind_ == PoolKind::kGlobalAverage) algo = dnnl::algorithm::pooling_avg_exclude_padding;
    } else {
      // Bad attributes are the reference's to report.
      auto attrs = convpool::ReadWindowAttrs(ctx, 2, Shape{});
      if (!attrs.ok()) return plan;
      const bool ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
      auto g = convpool::ForwardGeometry(ctx, *attrs, image, ceil_mode);
      if (!g.ok()) return plan;
      const bool include_pad =
          kind_ == PoolKind::kAverage && ctx.attr_int("count_include_pad", 0) != 0;
      if (kind_ == PoolKind::kAverage)
        algo = include_pad ? dnnl::algorithm::pooling_avg_include_padding
                           : dnnl::algorithm::pooling_avg_exclude_padding;
      plan->output_shape = {x[0], x[1], g->cols[0], g->cols[1]};
      for (size_t d = 0; d < 2; ++d) {
        const int64_t eff = (g->kernel[d] - 1) * g->dilations[d] + 1;
        const int64_t begin = g->pads[d], end = g->pads[d + 2];
        // The trailing padding the last window needs; any value up to stride - 1 more gives
        // the same output extent, so clamp a negative one (unused declared padding) to 0.
        const int64_t needed = (g->cols[d] - 1) * g->strides[d] + eff - image[d] - begin;
        if (begin >= eff || needed >= eff) return plan;  // a window wholly in the padding
        if (include_pad && needed > end) return plan;    // counts past the declared padding
        kernel.push_back(g->kernel[d]);
        strides.push_back(g->strides[d]);
        dilations.push_back(g->dilations[d] - 1);
        pad_l.push_back(begin);
        pad_r.push_back(std::max<int64_t>(0, needed));
      }
    }
    plan->src = memory::desc(Dims(x), memory::data_type::f32, Tag::nchw);
    plan->dst = memory::desc(Dims(plan->output_shape), memory::data_type::f32, Tag::nchw);
    plan->threads = ThreadsFor(threads_, static_cast<double>(ShapeElementCount(x)));
    ThreadScope threads(plan->threads);
    try {
      dnnl::pooling_v2_forward::primitive_desc pd(
          dnnl::pooling_v2_forward::desc(dnnl::prop_kind::forward_inference, algo, plan->src,
                                         plan->dst, strides, kernel, dilations, pad_l, pad_r),
          CpuEngine());
      plan->primitive = dnnl::pooling_v2_forward(pd);
    } catch (const dnnl::error&) {
      // No primitive for this shape: the reference runs.
    }
    return plan;
  }

  PoolKind kind_;
  int threads_;
  mutable ShapeCache<PoolPlan> plans_;
};

}  // namespace

Result<std::unique_ptr<PreparedKernel>> MakePool(const PrepareContext& ctx) {
  PoolKind kind;
  const std::string& op = ctx.node.op_type;
  if (op == "MaxPool") {
    // The Indices output is the reference's (storage_order, flat offsets).
    if (ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty())
      return std::unique_ptr<PreparedKernel>();
    kind = PoolKind::kMax;
  } else if (op == "AveragePool") {
    kind = PoolKind::kAverage;
  } else if (op == "GlobalAveragePool") {
    kind = PoolKind::kGlobalAverage;
  } else if (op == "GlobalMaxPool") {
    kind = PoolKind::kGlobalMax;
  } else {
    return std::unique_ptr<PreparedKernel>();
  }
  return std::unique_ptr<PreparedKernel>(new DnnlPool(kind, ctx.threads));
}

}  // namespace privedge::dnnl_kernels
