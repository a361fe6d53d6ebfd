// Fast kernels for the operators of attention blocks, on oneDNN primitives built once per input
// shape:
//   dnnl_f32_batched_matmul  float32 MatMul of two run-time operands (rank >= 2, batch axes
//                            broadcast as ONNX does; e.g. Q*K^T and P*V of attention).
//   dnnl_f32_softmax         float32 Softmax over one axis (opset >= 13; before 13 only over
//                            the last axis, where the flattened and the 1-axis forms agree).
//   dnnl_transpose           Transpose: a permutation that moves only extent-1 axes is a
//                            reshape and shares its input's storage (any dtype); other float32
//                            permutations run as a oneDNN reorder.
//   dnnl_f32_layernorm       float32 LayerNormalization (and com.privedge.LayerNormalization,
//                            written by the LayerNorm fusion pass) over the trailing axes with a
//                            Scale (and B) of the normalized block's size, Y output only.
//   copy_slice               Slice (opset >= 10) with unit steps, any dtype: copies the
//                            selected runs with memcpy instead of element by element.
// Inputs any of these was not built for run the reference kernel.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "kernels/dnnl/dnnl_util.h"

namespace privedge::dnnl_kernels {
namespace {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;

memory::dims DenseStrides(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i > 1; --i) strides[i - 2] = strides[i - 1] * dims[i - 1];
  return strides;
}

memory::desc Dense(const memory::dims& dims) {
  return memory::desc(dims, memory::data_type::f32, DenseStrides(dims));
}

struct PrimitivePlan {
  dnnl::primitive primitive;
  memory::desc src0, src1, dst, scratchpad;
};

// Executes `plan` with the given arguments plus its scratchpad.
void Execute(const PrimitivePlan& plan, std::unordered_map<int, memory> args) {
  const dnnl::engine& engine = CpuEngine();
  dnnl::stream stream(engine);
  args[DNNL_ARG_SCRATCHPAD] = ThreadScratchpad(plan.scratchpad);
  plan.primitive.execute(stream, args);
  stream.wait();
}

dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

memory Mem(const memory::desc& d, const float* data) {
  return memory(d, CpuEngine(), const_cast<float*>(data));
}

// ---- MatMul of two run-time operands ----

class DnnlBatchedMatMul final : public PreparedKernel {
 public:
  explicit DnnlBatchedMatMul(int threads) : threads_(threads) {}
  const char* name() const override { return "dnnl_f32_batched_matmul"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* a = ctx.input(0);
    const Tensor* b = ctx.input(1);
    if (!a || !b || a->dtype() != DType::kFloat32 || b->dtype() != DType::kFloat32 ||
        a->rank() < 2 || b->rank() < 2 || a->numel() == 0 || b->numel() == 0 ||
        a->dim(-1) != b->dim(-2) || std::max(a->rank(), b->rank()) > DNNL_MAX_NDIMS)
      return RunReference(ctx);
    const size_t rank = std::max(a->rank(), b->rank());
    memory::dims ad(rank - a->rank(), 1), bd(rank - b->rank(), 1);
    ad.insert(ad.end(), a->shape().begin(), a->shape().end());
    bd.insert(bd.end(), b->shape().begin(), b->shape().end());
    memory::dims cd(rank);
    for (size_t i = 0; i + 2 < rank; ++i) {
      if (ad[i] != bd[i] && ad[i] != 1 && bd[i] != 1) return RunReference(ctx);
      cd[i] = std::max(ad[i], bd[i]);
    }
    cd[rank - 2] = ad[rank - 2];
    cd[rank - 1] = bd[rank - 1];
    std::vector<int64_t> key(ad.begin(), ad.end());
    key.insert(key.end(), bd.begin(), bd.end());
    ThreadScope threads(threads_);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const PrimitivePlan> plan,
                        plans_.Get(key, [&]() -> Result<std::shared_ptr<const PrimitivePlan>> {
                          auto p = std::make_shared<PrimitivePlan>();
                          p->src0 = Dense(ad);
                          p->src1 = Dense(bd);
                          p->dst = Dense(cd);
                          try {
                            dnnl::matmul::primitive_desc pd(
                                dnnl::matmul::desc(p->src0, p->src1, p->dst), UserScratchpad(),
                                CpuEngine());
                            p->primitive = dnnl::matmul(pd);
                            p->scratchpad = pd.scratchpad_desc();
                          } catch (const dnnl::error& e) {
                            return Internal(ctx.node().Describe(), ": oneDNN matmul: ", e.what());
                          }
                          return std::shared_ptr<const PrimitivePlan>(std::move(p));
                        }));
    PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, DType::kFloat32, Shape(cd.begin(), cd.end())));
    Execute(*plan, {{DNNL_ARG_SRC, Mem(plan->src0, a->data<float>())},
                    {DNNL_ARG_WEIGHTS, Mem(plan->src1, b->data<float>())},
                    {DNNL_ARG_DST, Mem(plan->dst, y->data<float>())}});
    return Status::OK();
  }

 private:
  int threads_;
  mutable ShapeCache<PrimitivePlan> plans_;
};

// ---- Softmax ----

class DnnlSoftmax final : public PreparedKernel {
 public:
  DnnlSoftmax(int64_t axis, bool last_axis_only, int threads)
      : axis_(axis), last_axis_only_(last_axis_only), threads_(threads) {}
  const char* name() const override { return "dnnl_f32_softmax"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x || x->dtype() != DType::kFloat32 || x->numel() == 0 || x->rank() == 0 ||
        x->rank() > DNNL_MAX_NDIMS)
      return RunReference(ctx);
    const int64_t rank = static_cast<int64_t>(x->rank());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis >= rank || (last_axis_only_ && axis != rank - 1))
      return RunReference(ctx);
    // Axes before and after the softmax axis collapse: [outer, n, inner].
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x->dim(i);
    for (int64_t i = axis + 1; i < rank; ++i) inner *= x->dim(i);
    const memory::dims dims = {outer, x->dim(axis), inner};
    ThreadScope threads(threads_);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const PrimitivePlan> plan,
                        plans_.Get(dims, [&]() -> Result<std::shared_ptr<const PrimitivePlan>> {
                          auto p = std::make_shared<PrimitivePlan>();
                          p->src0 = p->dst = Dense(dims);
                          try {
                            dnnl::softmax_forward::primitive_desc pd(
                                dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference,
                                                            p->src0, 1),
                                UserScratchpad(), CpuEngine());
                            p->primitive = dnnl::softmax_forward(pd);
                            p->scratchpad = pd.scratchpad_desc();
                          } catch (const dnnl::error& e) {
                            return Internal(ctx.node().Describe(), ": oneDNN softmax: ", e.what());
                          }
                          return std::shared_ptr<const PrimitivePlan>(std::move(p));
                        }));
    PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, DType::kFloat32, x->shape()));
    Execute(*plan, {{DNNL_ARG_SRC, Mem(plan->src0, x->data<float>())},
                    {DNNL_ARG_DST, Mem(plan->dst, y->data<float>())}});
    return Status::OK();
  }

 private:
  int64_t axis_;
  bool last_axis_only_;
  int threads_;
  mutable ShapeCache<PrimitivePlan> plans_;
};

// ---- Transpose ----

class DnnlTranspose final : public PreparedKernel {
 public:
  DnnlTranspose(std::vector<int64_t> perm, int threads) : perm_(std::move(perm)), threads_(threads) {}
  const char* name() const override { return "dnnl_transpose"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x) return RunReference(ctx);
    const int64_t rank = static_cast<int64_t>(x->rank());
    std::vector<int64_t> perm = perm_;
    if (perm.empty()) {
      for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
    }
    if (static_cast<int64_t>(perm.size()) != rank) return RunReference(ctx);
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    for (int64_t p : perm) {
      if (p < 0 || p >= rank || seen[p]) return RunReference(ctx);
      seen[p] = true;
    }
    Shape out(static_cast<size_t>(rank));
    for (int64_t i = 0; i < rank; ++i) out[i] = x->dim(perm[i]);
    // Only extent-1 axes move: the element order is unchanged.
    int64_t last = -1;
    bool in_order = true;
    for (int64_t p : perm) {
      if (x->dim(p) == 1) continue;
      in_order = in_order && p > last;
      last = p;
    }
    if (in_order) {
      ctx.set_output(0, x->Reshaped(out));
      return Status::OK();
    }
    if (x->dtype() != DType::kFloat32 || rank > DNNL_MAX_NDIMS) return RunReference(ctx);
    ThreadScope threads(threads_);
    std::vector<int64_t> key(x->shape().begin(), x->shape().end());
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const PrimitivePlan> plan,
                        plans_.Get(key, [&]() -> Result<std::shared_ptr<const PrimitivePlan>> {
                          auto p = std::make_shared<PrimitivePlan>();
                          const memory::dims in_strides = DenseStrides(Dims(key));
                          memory::dims src_strides(static_cast<size_t>(rank));
                          for (int64_t i = 0; i < rank; ++i) src_strides[i] = in_strides[perm[i]];
                          // The input read through permuted strides, written densely.
                          p->src0 = memory::desc(Dims(out), memory::data_type::f32, src_strides);
                          p->dst = Dense(Dims(out));
                          try {
                            dnnl::reorder::primitive_desc pd(CpuEngine(), p->src0, CpuEngine(),
                                                             p->dst, UserScratchpad());
                            p->primitive = dnnl::reorder(pd);
                            p->scratchpad = pd.scratchpad_desc();
                          } catch (const dnnl::error& e) {
                            return Internal(ctx.node().Describe(), ": oneDNN reorder: ", e.what());
                          }
                          return std::shared_ptr<const PrimitivePlan>(std::move(p));
                        }));
    PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, DType::kFloat32, out));
    Execute(*plan, {{DNNL_ARG_FROM, Mem(plan->src0, x->data<float>())},
                    {DNNL_ARG_TO, Mem(plan->dst, y->data<float>())}});
    return Status::OK();
  }

 private:
  std::vector<int64_t> perm_;
  int threads_;
  mutable ShapeCache<PrimitivePlan> plans_;
};

// ---- LayerNormalization ----

class DnnlLayerNorm final : public PreparedKernel {
 public:
  DnnlLayerNorm(int64_t axis, float epsilon, int threads)
      : axis_(axis), epsilon_(epsilon), threads_(threads) {}
  const char* name() const override { return "dnnl_f32_layernorm"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    const Tensor* scale = ctx.input(1);
    const Tensor* bias = ctx.input(2);
    if (!x || !scale || x->dtype() != DType::kFloat32 || scale->dtype() != DType::kFloat32 ||
        (ctx.has_input(2) && (!bias || bias->dtype() != DType::kFloat32)) || x->rank() == 0 ||
        x->numel() == 0 || ctx.wants_output(1) || ctx.wants_output(2))
      return RunReference(ctx);
    const int64_t rank = static_cast<int64_t>(x->rank());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis >= rank) return RunReference(ctx);
    int64_t rows = 1, block = 1;
    for (int64_t i = 0; i < axis; ++i) rows *= x->dim(i);
    for (int64_t i = axis; i < rank; ++i) block *= x->dim(i);
    if (scale->numel() != block || (bias && bias->numel() != block)) return RunReference(ctx);
    const memory::dims dims = {rows, block};
    ThreadScope threads(threads_);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const PrimitivePlan> plan,
                        plans_.Get(dims, [&]() -> Result<std::shared_ptr<const PrimitivePlan>> {
                          auto p = std::make_shared<PrimitivePlan>();
                          p->src0 = p->dst = Dense(dims);
                          p->src1 = Dense({block});
                          auto flags = dnnl::normalization_flags::use_scale |
                                       dnnl::normalization_flags::use_shift;
                          try {
                            dnnl::layer_normalization_forward::primitive_desc pd(
                                dnnl::layer_normalization_forward::desc(
                                    dnnl::prop_kind::forward_inference, p->src0, epsilon_, flags),
                                UserScratchpad(), CpuEngine());
                            p->primitive = dnnl::layer_normalization_forward(pd);
                            p->scratchpad = pd.scratchpad_desc();
                          } catch (const dnnl::error& e) {
                            return Internal(ctx.node().Describe(), ": oneDNN layer norm: ",
                                            e.what());
                          }
                          return std::shared_ptr<const PrimitivePlan>(std::move(p));
                        }));
    std::vector<float> zeros;
    const float* shift = bias ? bias->data<float>() : nullptr;
    if (!shift) {
      zeros.assign(static_cast<size_t>(block), 0.0f);
      shift = zeros.data();
    }
    PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, DType::kFloat32, x->shape()));
    Execute(*plan, {{DNNL_ARG_SRC, Mem(plan->src0, x->data<float>())},
                    {DNNL_ARG_SCALE, Mem(plan->src1, scale->data<float>())},
                    {DNNL_ARG_SHIFT, Mem(plan->src1, shift)},
                    {DNNL_ARG_DST, Mem(plan->dst, y->data<float>())}});
    return Status::OK();
  }

 private:
  int64_t axis_;
  float epsilon_;
  int threads_;
  mutable ShapeCache<PrimitivePlan> plans_;
};

// ---- Slice ----

// The int32/int64 values of input `i`; false when absent or not such a tensor.
bool ReadInts(const KernelContext& ctx, int i, std::vector<int64_t>* v) {
  const Tensor* t = ctx.input(i);
  if (!t || t->rank() > 1 || (t->dtype() != DType::kInt64 && t->dtype() != DType::kInt32))
    return false;
  v->resize(static_cast<size_t>(t->numel()));
  for (int64_t k = 0; k < t->numel(); ++k)
    (*v)[k] = t->dtype() == DType::kInt64 ? t->data<int64_t>()[k] : t->data<int32_t>()[k];
  return true;
}

class CopySlice final : public PreparedKernel {
 public:
  const char* name() const override { return "copy_slice"; }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    std::vector<int64_t> starts, ends, axes, steps;
    if (!x || !ReadInts(ctx, 1, &starts) || !ReadInts(ctx, 2, &ends)) return RunReference(ctx);
    const int64_t rank = static_cast<int64_t>(x->rank());
    const size_t n = starts.size();
    if (ctx.has_input(3)) {
      if (!ReadInts(ctx, 3, &axes)) return RunReference(ctx);
    } else {
      for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (ctx.has_input(4) && !ReadInts(ctx, 4, &steps)) return RunReference(ctx);
    if (ends.size() != n || axes.size() != n || (!steps.empty() && steps.size() != n))
      return RunReference(ctx);
    std::vector<int64_t> start(static_cast<size_t>(rank), 0);
    Shape count = x->shape();
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    for (size_t i = 0; i < n; ++i) {
      int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
      if (a < 0 || a >= rank || seen[a] || (!steps.empty() && steps[i] != 1))
        return RunReference(ctx);
      seen[a] = true;
      const int64_t d = x->dim(a);
      int64_t b = starts[i], e = ends[i];
      if (b < 0) b += d;
      if (e < 0) e += d;
      b = std::clamp<int64_t>(b, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      start[a] = b;
      count[a] = std::max<int64_t>(e - b, 0);
    }
    PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), count));
    if (y->numel() == 0) return Status::OK();
    // Axes after the last partial one are whole: each copy moves `run` contiguous elements.
    int64_t last = -1;
    for (int64_t a = 0; a < rank; ++a)
      if (count[a] != x->dim(a)) last = a;
    const size_t item = DTypeSize(x->dtype());
    std::vector<int64_t> stride(static_cast<size_t>(rank) + 1, 1);
    for (int64_t a = rank - 1; a >= 0; --a) stride[a] = stride[a + 1] * x->dim(a);
    if (last < 0) {
      std::memcpy(y->raw_data(), x->raw_data(), x->nbytes());
      return Status::OK();
    }
    const int64_t run = count[last] * stride[last + 1];
    const auto* src = static_cast<const uint8_t*>(x->raw_data());
    auto* dst = static_cast<uint8_t*>(y->raw_data());
    std::vector<int64_t> idx(static_cast<size_t>(last), 0);
    for (;;) {
      int64_t off = start[last] * stride[last + 1];
      for (int64_t a = 0; a < last; ++a) off += (start[a] + idx[a]) * stride[a + 1];
      std::memcpy(dst, src + off * item, static_cast<size_t>(run) * item);
      dst += run * item;
      int64_t a = last - 1;
      for (; a >= 0; --a) {
        if (++idx[a] < count[a]) break;
        idx[a] = 0;
      }
      if (a < 0) break;
    }
    return Status::OK();
  }
};

}  // namespace

Result<std::unique_ptr<PreparedKernel>> MakeSlice(const PrepareContext& ctx) {
  if (ctx.opset < 10) return std::unique_ptr<PreparedKernel>();
  return std::unique_ptr<PreparedKernel>(new CopySlice());
}

Result<std::unique_ptr<PreparedKernel>> MakeBatchedMatMul(const PrepareContext& ctx) {
  return std::unique_ptr<PreparedKernel>(new DnnlBatchedMatMul(ctx.threads));
}

Result<std::unique_ptr<PreparedKernel>> MakeSoftmax(const PrepareContext& ctx) {
  const KernelContext k(ctx.node, ctx.opset, {});
  const bool before_13 = ctx.opset < 13;
  return std::unique_ptr<PreparedKernel>(
      new DnnlSoftmax(k.attr_int("axis", before_13 ? 1 : -1), before_13, ctx.threads));
}

Result<std::unique_ptr<PreparedKernel>> MakeTranspose(const PrepareContext& ctx) {
  const KernelContext k(ctx.node, ctx.opset, {});
  return std::unique_ptr<PreparedKernel>(new DnnlTranspose(k.attr_ints("perm"), ctx.threads));
}

Result<std::unique_ptr<PreparedKernel>> MakeLayerNorm(const PrepareContext& ctx) {
  const KernelContext k(ctx.node, ctx.opset, {});
  if (k.attr_int("stash_type", 1) != 1) return std::unique_ptr<PreparedKernel>();
  return std::unique_ptr<PreparedKernel>(
      new DnnlLayerNorm(k.attr_int("axis", -1), k.attr_float("epsilon", 1e-5f), ctx.threads));
}

}  // namespace privedge::dnnl_kernels
