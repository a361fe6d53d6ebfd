// dnnl_f32_concat: float32 Concat as one memcpy per input and index of the axes before `axis`
// (oneDNN's concat on plain layouts, simple:any, took 3x longer on SqueezeNet); the channel
// concatenations of SqueezeNet and ShuffleNet run here. (Transpose and Slice: transformer.cc.)
// Other dtypes, empty tensors and anything else this does not take run the reference kernel,
// which also reports bad input.
#include <cstring>
#include <vector>

#include "kernels/dnnl/dnnl_util.h"

namespace privedge::dnnl_kernels {
namespace {

bool Usable(const Tensor* t) {
  return t && t->dtype() == DType::kFloat32 && t->rank() >= 1 && t->rank() <= DNNL_MAX_NDIMS &&
         t->numel() > 0;
}

class DnnlConcat final : public PreparedKernel {
 public:
  explicit DnnlConcat(int64_t axis) : axis_(axis) {}

  const char* name() const override { return "dnnl_f32_concat"; }

  Status Run(KernelContext& ctx) const override {
    std::vector<const Tensor*> ins;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor* t = ctx.input(i);
      if (!Usable(t)) return RunReference(ctx);
      ins.push_back(t);
    }
    if (ins.empty()) return RunReference(ctx);
    const int64_t rank = static_cast<int64_t>(ins[0]->rank());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis >= rank) return RunReference(ctx);
    Shape out = ins[0]->shape();
    out[axis] = 0;
    for (const Tensor* t : ins) {
      if (t->rank() != ins[0]->rank()) return RunReference(ctx);
      for (int64_t d = 0; d < rank; ++d)
        if (d != axis && t->dim(d) != out[d]) return RunReference(ctx);
      out[axis] += t->dim(axis);
    }
    // Each input is one contiguous block per index of the axes before `axis`.
    PE_ASSIGN_OR_RETURN(Tensor * y, AllocateUninitialized(ctx, 0, out));
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out[d];
    float* dst = y->data<float>();
    for (int64_t o = 0; o < outer; ++o) {
      for (const Tensor* t : ins) {
        const int64_t block = t->numel() / outer;
        std::memcpy(dst, t->data<float>() + o * block, static_cast<size_t>(block) * sizeof(float));
        dst += block;
      }
    }
    return Status::OK();
  }

 private:
  int64_t axis_;
};

}  // namespace

Result<std::unique_ptr<PreparedKernel>> MakeConcat(const PrepareContext& ctx) {
  const KernelContext kctx(ctx.node, ctx.opset, {});
  if (!kctx.has_attr("axis")) return std::unique_ptr<PreparedKernel>();
  return std::unique_ptr<PreparedKernel>(new DnnlConcat(kctx.attr_int("axis", 0)));
}

}  // namespace privedge::dnnl_kernels
