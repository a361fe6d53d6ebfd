// Pools (MaxPool, AveragePool, LpPool, their Global forms), MaxUnpool and LRN.
//
// Pools work in double whatever the element type: exact for the 8-bit integer MaxPool and
// float16, and precise enough for float. Outputs are converted back to the input type.
#include <cmath>
#include <limits>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/conv_pool_util.h"

namespace privedge {
namespace {

using convpool::TapMap;
using convpool::WindowGeometry;
using convpool::WriteDoubles;

Status RequireFloat(const KernelContext& ctx, const Tensor& x) {
  if (!IsFloatingDType(x.dtype()))
    return ctx.Error("X must be a float tensor, got ", DTypeName(x.dtype()));
  return Status::OK();
}

// The "p" of LpPool/GlobalLpPool: an int attribute since opset 2, a float before.
double ReadP(const KernelContext& ctx) {
  const Attribute* a = ctx.node().FindAttribute("p");
  if (!a) return 2.0;
  return a->kind == Attribute::Kind::kFloat ? static_cast<double>(a->f)
                                            : static_cast<double>(a->i);
}

// A forward pool over X [N, C, spatial...]: planes = N * C image planes.
struct PoolPlan {
  WindowGeometry geometry;
  Shape output_shape;
  int64_t planes = 0;
};

Result<PoolPlan> PreparePool(const KernelContext& ctx, const Tensor& x) {
  if (x.rank() < 3)
    return ctx.Error("X must be [N, C, spatial...] (rank >= 3), got ", ShapeToString(x.shape()));
  const Shape image(x.shape().begin() + 2, x.shape().end());
  PE_ASSIGN_OR_RETURN(convpool::WindowAttrs attrs,
                      convpool::ReadWindowAttrs(ctx, image.size(), Shape{}));
  PoolPlan plan;
  const bool ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  PE_ASSIGN_OR_RETURN(plan.geometry, convpool::ForwardGeometry(ctx, attrs, image, ceil_mode));
  plan.output_shape = {x.dim(0), x.dim(1)};
  plan.output_shape.insert(plan.output_shape.end(), plan.geometry.cols.begin(),
                           plan.geometry.cols.end());
  if (ShapeElementCount(plan.output_shape) < 0)
    return ctx.Error("output shape ", ShapeToString(plan.output_shape), " is too large");
  plan.planes = x.dim(0) * x.dim(1);
  return plan;
}

// Row-major offset within one image plane -> the same element's column-major offset.
int64_t ColumnMajorOffset(int64_t off, const Shape& image) {
  int64_t result = 0, stride = 1;
  std::vector<int64_t> idx(image.size());
  for (size_t d = image.size(); d-- > 0;) {
    idx[d] = off % image[d];
    off /= image[d];
  }
  for (size_t d = 0; d < image.size(); ++d) {
    result += idx[d] * stride;
    stride *= image[d];
  }
  return result;
}

Status MaxPool(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const DType dt = x->dtype();
  if (!IsFloatingDType(dt) && dt != DType::kInt8 && dt != DType::kUInt8)
    return ctx.Error("X must be a float, int8 or uint8 tensor, got ", DTypeName(dt));
  const int64_t storage_order = ctx.attr_int("storage_order", 0);
  if (storage_order != 0 && storage_order != 1)
    return ctx.Error("storage_order must be 0 or 1, got ", storage_order);
  PE_ASSIGN_OR_RETURN(PoolPlan plan, PreparePool(ctx, *x));
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, dt, plan.output_shape));
  const TapMap map(plan.geometry);
  const int64_t cols = map.cols(), img = map.image_size();
  const std::vector<double> xs = ToDoubleVector(*x);
  std::vector<double> best(static_cast<size_t>(plan.planes * cols));
  std::vector<int64_t> at(best.size(), -1);
  for (int64_t plane = 0; plane < plan.planes; ++plane) {
    const double* xp = xs.data() + plane * img;
    double* b = best.data() + plane * cols;
    int64_t* a = at.data() + plane * cols;
    // Taps arrive in window order, so on ties the first maximum wins.
    map.ForEach([&](int64_t, int64_t p, int64_t off) {
      if (off >= 0 && (a[p] < 0 || xp[off] > b[p])) {
        b[p] = xp[off];
        a[p] = off;
      }
    });
  }
  // A window entirely in the padding has no maximum: report the lowest value.
  const double empty = IsFloatingDType(dt) ? -std::numeric_limits<double>::infinity()
                       : dt == DType::kInt8 ? -128.0 : 0.0;
  for (size_t i = 0; i < best.size(); ++i)
    if (at[i] < 0) best[i] = empty;
  PE_RETURN_IF_ERROR(WriteDoubles(best, y));
  if (ctx.wants_output(1)) {
    PE_ASSIGN_OR_RETURN(Tensor * ind, ctx.AllocateOutput(1, DType::kInt64, plan.output_shape));
    int64_t* id = ind->data<int64_t>();
    for (size_t i = 0; i < at.size(); ++i) {
      const int64_t plane = static_cast<int64_t>(i) / std::max<int64_t>(cols, 1);
      const int64_t off = at[i];
      if (off < 0) {
        id[i] = -1;
        continue;
      }
      id[i] = plane * img +
              (storage_order == 1 ? ColumnMajorOffset(off, plan.geometry.image) : off);
    }
  }
  return Status::OK();
}

// AveragePool and LpPool: a sum of f(x) over the valid taps, then a per-window finish.
template <class Term, class Finish>
Status SumPool(KernelContext& ctx, Term term, Finish finish) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *x));
  PE_ASSIGN_OR_RETURN(PoolPlan plan, PreparePool(ctx, *x));
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), plan.output_shape));
  const TapMap map(plan.geometry);
  const int64_t cols = map.cols(), img = map.image_size();
  const std::vector<int64_t> padded_counts = map.PaddedTapCounts();
  const std::vector<double> xs = ToDoubleVector(*x);
  std::vector<double> sum(static_cast<size_t>(plan.planes * cols), 0.0);
  std::vector<int64_t> count(static_cast<size_t>(cols));
  for (int64_t plane = 0; plane < plan.planes; ++plane) {
    const double* xp = xs.data() + plane * img;
    double* s = sum.data() + plane * cols;
    std::fill(count.begin(), count.end(), 0);
    map.ForEach([&](int64_t, int64_t p, int64_t off) {
      if (off < 0) return;
      s[p] += term(xp[off]);
      ++count[p];
    });
    for (int64_t p = 0; p < cols; ++p) s[p] = finish(s[p], count[p], padded_counts[p]);
  }
  return WriteDoubles(sum, y);
}

Status AveragePool(KernelContext& ctx) {
  const bool include_pad = ctx.attr_int("count_include_pad", 0) != 0;
  return SumPool(
      ctx, [](double v) { return v; },
      [include_pad](double s, int64_t valid, int64_t padded) {
        const int64_t n = include_pad ? padded : valid;
        return n > 0 ? s / static_cast<double>(n) : 0.0;
      });
}

Status LpPool(KernelContext& ctx) {
  const double p = ReadP(ctx);
  if (!(p > 0)) return ctx.Error("p must be positive, got ", p);
  return SumPool(
      ctx, [p](double v) { return std::pow(std::fabs(v), p); },
      [p](double s, int64_t, int64_t) { return std::pow(s, 1.0 / p); });
}

// Global pools: reduce every [N, C] plane of X to one value; Y is [N, C, 1, ...].
template <class Reduce>
Status GlobalPool(KernelContext& ctx, Reduce reduce) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *x));
  if (x->rank() < 2)
    return ctx.Error("X must be [N, C, spatial...] (rank >= 2), got ", ShapeToString(x->shape()));
  Shape out_shape(x->rank(), 1);
  out_shape[0] = x->dim(0);
  out_shape[1] = x->dim(1);
  const int64_t planes = x->dim(0) * x->dim(1);
  const int64_t img = planes > 0 ? x->numel() / planes : 0;
  const std::vector<double> xs = ToDoubleVector(*x);
  std::vector<double> out(static_cast<size_t>(planes));
  for (int64_t i = 0; i < planes; ++i) out[i] = reduce(xs.data() + i * img, img);
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), out_shape));
  return WriteDoubles(out, y);
}

Status GlobalAveragePool(KernelContext& ctx) {
  return GlobalPool(ctx, [](const double* v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += v[i];
    return s / static_cast<double>(n);
  });
}

Status GlobalMaxPool(KernelContext& ctx) {
  return GlobalPool(ctx, [](const double* v, int64_t n) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) m = std::max(m, v[i]);
    return m;
  });
}

Status GlobalLpPool(KernelContext& ctx) {
  const double p = ReadP(ctx);
  if (!(p > 0)) return ctx.Error("p must be positive, got ", p);
  return GlobalPool(ctx, [p](const double* v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::pow(std::fabs(v[i]), p);
    return std::pow(s, 1.0 / p);
  });
}

// Scatters X into a zero tensor at the flat positions given by I (MaxPool's Indices).
Status MaxUnpool(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* ind, ctx.RequireInput(1));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *x));
  if (x->rank() < 3)
    return ctx.Error("X must be [N, C, spatial...] (rank >= 3), got ", ShapeToString(x->shape()));
  if (ind->dtype() != DType::kInt64 || ind->shape() != x->shape())
    return ctx.Error("I must be an int64 tensor shaped like X ", ShapeToString(x->shape()),
                     ", got ", DTypeName(ind->dtype()), " ", ShapeToString(ind->shape()));
  const size_t r = x->rank() - 2;
  PE_ASSIGN_OR_RETURN(convpool::WindowAttrs attrs, convpool::ReadWindowAttrs(ctx, r, Shape{}));
  Shape out_shape = {x->dim(0), x->dim(1)};
  if (const Tensor* os = ctx.input(2)) {
    if (!IsIntegerDType(os->dtype()) || os->rank() != 1 ||
        os->numel() != static_cast<int64_t>(x->rank()))
      return ctx.Error("output_shape must be a 1-D integer tensor of ", x->rank(),
                       " values, got ", DTypeName(os->dtype()), " ", ShapeToString(os->shape()));
    out_shape = ToInt64Vector(*os);
    if (out_shape[0] != x->dim(0) || out_shape[1] != x->dim(1))
      return ctx.Error("output_shape ", ShapeToString(out_shape),
                       " must keep X's batch and channel extents");
  } else {
    for (size_t d = 0; d < r; ++d)
      out_shape.push_back((x->dim(d + 2) - 1) * attrs.strides[d] + attrs.kernel[d] -
                          attrs.pads[d] - attrs.pads[d + r]);
  }
  if (ShapeElementCount(out_shape) < 0)
    return ctx.Error("output shape ", ShapeToString(out_shape), " is invalid");
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), out_shape));
  const int64_t* id = ind->data<int64_t>();
  for (int64_t i = 0; i < x->numel(); ++i) {
    if (id[i] < 0 || id[i] >= y->numel())
      return ctx.Error("index ", id[i], " at position ", i, " is outside the output of ",
                       y->numel(), " elements");
  }
  return DispatchFloat(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* xd = x->data<T>();
    T* yd = y->data<T>();
    for (int64_t i = 0; i < x->numel(); ++i) yd[id[i]] = xd[i];
    return Status::OK();
  });
}

// Local response normalization across channels.
Status LRN(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *x));
  if (x->rank() < 2)
    return ctx.Error("X must be [N, C, ...] (rank >= 2), got ", ShapeToString(x->shape()));
  if (!ctx.has_attr("size")) return ctx.Error("the size attribute is required");
  const int64_t size = ctx.attr_int("size", 1);
  if (size < 1) return ctx.Error("size must be >= 1, got ", size);
  const double alpha = ctx.attr_float("alpha", 1e-4f);
  const double beta = ctx.attr_float("beta", 0.75f);
  const double bias = ctx.attr_float("bias", 1.0f);
  const int64_t n = x->dim(0), c = x->dim(1);
  const int64_t inner = n * c > 0 ? x->numel() / (n * c) : 0;
  // The window covers floor((size-1)/2) channels before and ceil((size-1)/2) after.
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  const std::vector<double> xs = ToDoubleVector(*x);
  std::vector<double> out(xs.size());
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const int64_t lo = std::max<int64_t>(0, ch - before);
      const int64_t hi = std::min<int64_t>(c - 1, ch + after);
      for (int64_t p = 0; p < inner; ++p) {
        double sq = 0;
        for (int64_t k = lo; k <= hi; ++k) {
          const double v = xs[(b * c + k) * inner + p];
          sq += v * v;
        }
        const int64_t i = (b * c + ch) * inner + p;
        out[i] = xs[i] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta);
      }
    }
  }
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  return WriteDoubles(out, y);
}

}  // namespace

void RegisterPoolingKernels(KernelRegistry& r) {
  r.Add("MaxPool", MaxPool);
  r.Add("AveragePool", AveragePool);
  r.Add("LpPool", LpPool);
  r.Add("GlobalAveragePool", GlobalAveragePool);
  r.Add("GlobalMaxPool", GlobalMaxPool);
  r.Add("GlobalLpPool", GlobalLpPool);
  r.Add("MaxUnpool", MaxUnpool);
  r.Add("LRN", LRN);
}

}  // namespace privedge
