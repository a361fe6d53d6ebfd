// dnnl_f32_transpose, dnnl_f32_slice, dnnl_f32_concat: float32 data movement as oneDNN reorders
// and block copies, where the reference kernels walk an index vector per element. ShuffleNet's channel shuffle (Reshape-Transpose-Reshape) and
// channel split (Slice), and the channel concatenations of SqueezeNet and ShuffleNet run here.
//   Transpose: a reorder from X seen with permuted strides into a dense Y.
//   Slice (opset >= 10): steps of 1 only; a reorder from the window of X into a dense Y.
//   Concat: one memcpy per input and index of the axes before `axis` (oneDNN's concat on
//   plain layouts, simple:any, took 3x longer on SqueezeNet).
// Other dtypes, ranks above oneDNN's limit, empty tensors and anything else these do not take
// run the reference kernel, which also reports bad input.
#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "kernels/dnnl/dnnl_util.h"

namespace privedge::dnnl_kernels {
namespace {

using dnnl::memory;

// A reorder from a view of X (permuted or windowed) into a dense Y.
struct CopyPlan {
  std::optional<dnnl::primitive> primitive;  // unset: the reference runs for this key
  Shape output_shape;
  memory::desc src, dst;
  int threads = 1;
};

std::vector<int64_t> DenseStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

memory::desc Dense(const Shape& shape) {
  return memory::desc(Dims(shape), memory::data_type::f32, Dims(DenseStrides(shape)));
}

bool Usable(const Tensor* t) {
  return t && t->dtype() == DType::kFloat32 && t->rank() >= 1 && t->rank() <= DNNL_MAX_NDIMS &&
         t->numel() > 0;
}

// Runs the plan's reorder from `x` into a new output 0.
Status Execute(KernelContext& ctx, const CopyPlan& plan, const Tensor& x) {
  ThreadScope threads(plan.threads);
  PE_ASSIGN_OR_RETURN(Tensor * y, AllocateUninitialized(ctx, 0, plan.output_shape));
  const dnnl::engine& engine = CpuEngine();
  dnnl::stream stream(engine);
  memory src(plan.src, engine, const_cast<float*>(x.data<float>()));
  memory dst(plan.dst, engine, y->data<float>());
  plan.primitive->execute(stream, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
  stream.wait();
  return Status::OK();
}

// A reorder plan from `src` into a dense tensor of `shape`.
std::shared_ptr<CopyPlan> ReorderPlan(const memory::desc& src, const Shape& shape, int threads) {
  auto plan = std::make_shared<CopyPlan>();
  plan->output_shape = shape;
  plan->dst = Dense(shape);
  plan->src = src;
  plan->threads = ThreadsFor(threads, static_cast<double>(ShapeElementCount(shape)));
  ThreadScope scope(plan->threads);
  try {
    const dnnl::engine& engine = CpuEngine();
    plan->primitive = dnnl::reorder(dnnl::reorder::primitive_desc(engine, src, engine, plan->dst));
  } catch (const dnnl::error&) {
    // No reorder for this case: the reference runs.
  }
  return plan;
}

class DnnlTranspose final : public PreparedKernel {
 public:
  DnnlTranspose(std::vector<int64_t> perm, int threads) : perm_(std::move(perm)), threads_(threads) {}

  const char* name() const override { return "dnnl_f32_transpose"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!Usable(x) || (!perm_.empty() && perm_.size() != x->rank())) return RunReference(ctx);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const CopyPlan> plan,
                        plans_.Get(x->shape(), [&]() -> Result<std::shared_ptr<CopyPlan>> {
                          return Build(x->shape());
                        }));
    if (!plan->primitive) return RunReference(ctx);
    return Execute(ctx, *plan, *x);
  }

 private:
  std::shared_ptr<CopyPlan> Build(const Shape& x) const {
    std::vector<int64_t> perm = perm_;
    if (perm.empty())
      for (size_t i = x.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    const std::vector<int64_t> in_strides = DenseStrides(x);
    Shape out(x.size());
    std::vector<int64_t> strides(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      out[i] = x[perm[i]];
      strides[i] = in_strides[perm[i]];
    }
    // X read in Y's index order: Y's dims with X's strides permuted.
    return ReorderPlan(memory::desc(Dims(out), memory::data_type::f32, Dims(strides)), out,
                       threads_);
  }

  std::vector<int64_t> perm_;  // empty: reverse the axes
  int threads_;
  mutable ShapeCache<CopyPlan> plans_;
};

// The integer values of a 1-D int32/int64 input; nullopt when absent or of another kind.
std::optional<std::vector<int64_t>> ReadIndices(const KernelContext& ctx, int i) {
  const Tensor* t = ctx.input(i);
  if (!t || t->rank() != 1) return std::nullopt;
  std::vector<int64_t> v(static_cast<size_t>(t->numel()));
  if (t->dtype() == DType::kInt64) {
    std::copy_n(t->data<int64_t>(), v.size(), v.begin());
  } else if (t->dtype() == DType::kInt32) {
    std::copy_n(t->data<int32_t>(), v.size(), v.begin());
  } else {
    return std::nullopt;
  }
  return v;
}

class DnnlSlice final : public PreparedKernel {
 public:
  explicit DnnlSlice(int threads) : threads_(threads) {}

  const char* name() const override { return "dnnl_f32_slice"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!Usable(x)) return RunReference(ctx);
    const int64_t rank = static_cast<int64_t>(x->rank());
    auto starts = ReadIndices(ctx, 1), ends = ReadIndices(ctx, 2);
    if (!starts || !ends || starts->size() != ends->size()) return RunReference(ctx);
    std::vector<int64_t> axes;
    if (ctx.has_input(3)) {
      auto a = ReadIndices(ctx, 3);
      if (!a || a->size() != starts->size()) return RunReference(ctx);
      axes = *a;
    } else {
      for (size_t i = 0; i < starts->size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (ctx.has_input(4)) {
      auto steps = ReadIndices(ctx, 4);
      if (!steps || steps->size() != starts->size()) return RunReference(ctx);
      for (int64_t s : *steps)
        if (s != 1) return RunReference(ctx);
    }
    // Per axis: offset and extent of the window (ONNX clamping for step 1).
    std::vector<int64_t> offsets(rank, 0);
    Shape out = x->shape();
    std::set<int64_t> seen;
    for (size_t i = 0; i < axes.size(); ++i) {
      int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
      if (axis < 0 || axis >= rank || !seen.insert(axis).second) return RunReference(ctx);
      const int64_t dim = x->dim(axis);
      auto clamp = [dim](int64_t v) { return std::clamp(v < 0 ? v + dim : v, int64_t{0}, dim); };
      const int64_t begin = clamp((*starts)[i]), end = clamp((*ends)[i]);
      offsets[axis] = begin;
      out[axis] = std::max<int64_t>(0, end - begin);
    }
    if (ShapeElementCount(out) == 0) return RunReference(ctx);
    std::vector<int64_t> key = x->shape();
    key.insert(key.end(), offsets.begin(), offsets.end());
    key.insert(key.end(), out.begin(), out.end());
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const CopyPlan> plan,
                        plans_.Get(key, [&]() -> Result<std::shared_ptr<CopyPlan>> {
                          const memory::desc window =
                              Dense(x->shape()).submemory_desc(Dims(out), Dims(offsets));
                          return ReorderPlan(window, out, threads_);
                        }));
    if (!plan->primitive) return RunReference(ctx);
    return Execute(ctx, *plan, *x);
  }

 private:
  int threads_;
  mutable ShapeCache<CopyPlan> plans_;
};

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

Result<std::unique_ptr<PreparedKernel>> MakeTranspose(const PrepareContext& ctx) {
  const KernelContext kctx(ctx.node, ctx.opset, {});
  std::vector<int64_t> perm = kctx.attr_ints("perm");
  // An invalid perm is the reference's to report.
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i] != static_cast<int64_t>(i)) return std::unique_ptr<PreparedKernel>();
  if (kctx.has_attr("perm") && perm.empty()) return std::unique_ptr<PreparedKernel>();
  return std::unique_ptr<PreparedKernel>(new DnnlTranspose(std::move(perm), ctx.threads));
}

Result<std::unique_ptr<PreparedKernel>> MakeSlice(const PrepareContext& ctx) {
  if (ctx.opset < 10) return std::unique_ptr<PreparedKernel>();  // attributes, not inputs
  return std::unique_ptr<PreparedKernel>(new DnnlSlice(ctx.threads));
}

Result<std::unique_ptr<PreparedKernel>> MakeConcat(const PrepareContext& ctx) {
  const KernelContext kctx(ctx.node, ctx.opset, {});
  if (!kctx.has_attr("axis")) return std::unique_ptr<PreparedKernel>();
  return std::unique_ptr<PreparedKernel>(new DnnlConcat(kctx.attr_int("axis", 0)));
}

}  // namespace privedge::dnnl_kernels
