// Random generators: RandomUniform(Like), RandomNormal(Like), Bernoulli, Multinomial.
//
// Each run draws from a std::mt19937 seeded by the 'seed' attribute when present (so a seeded
// node repeats its output) and from std::random_device otherwise. Values will not match other
// runtimes; only shapes, types and distributions are meaningful.
#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "core/dispatch.h"
#include "kernels/reference/misc_kernels.h"

namespace privedge {
namespace {

// The seed attribute is a float; its bit pattern seeds the engine so every distinct value gives
// a distinct stream.
std::mt19937 MakeGenerator(const KernelContext& ctx) {
  if (ctx.has_attr("seed")) return std::mt19937(std::bit_cast<uint32_t>(ctx.attr_float("seed", 0)));
  std::random_device rd;
  return std::mt19937(rd());
}

// The 'dtype' attribute, or `def` when absent; must satisfy `allowed`.
Result<DType> DTypeAttr(const KernelContext& ctx, DType def, bool (*allowed)(DType)) {
  if (!ctx.has_attr("dtype")) return def;
  const int64_t v = ctx.attr_int("dtype", 0);
  if (v < 0 || v > 64 || !IsValidDType(static_cast<int32_t>(v)) || !allowed(static_cast<DType>(v)))
    return ctx.Error("dtype ", v, " is not allowed here");
  return static_cast<DType>(v);
}

bool IsFloat(DType t) { return IsFloatingDType(t); }
bool IsPodNumericOrBool(DType t) {
  return t == DType::kBool || IsFloatingDType(t) || IsIntegerDType(t);
}
bool IsIndexType(DType t) { return t == DType::kInt32 || t == DType::kInt64; }

// Allocates output 0 and fills it with next() converted to the element type.
template <class Next>
Status FillOutput(KernelContext& ctx, DType dtype, const Shape& shape, Next&& next) {
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, dtype, shape));
  return DispatchPod(dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    T* out = y->data<T>();
    for (int64_t i = 0; i < y->numel(); ++i) out[i] = CastValue<T>(next(i));
    return Status::OK();
  });
}

Result<Shape> ShapeAttr(const KernelContext& ctx) {
  if (!ctx.has_attr("shape")) return ctx.Error("attribute 'shape' is required");
  Shape shape = ctx.attr_ints("shape");
  for (int64_t d : shape)
    if (d < 0) return ctx.Error("shape ", ShapeToString(shape), " has a negative dimension");
  return shape;
}

Status Uniform(KernelContext& ctx, DType dtype, const Shape& shape) {
  const double low = ctx.attr_float("low", 0.0f), high = ctx.attr_float("high", 1.0f);
  if (!(low <= high)) return ctx.Error("need low <= high, got ", low, " and ", high);
  std::mt19937 gen = MakeGenerator(ctx);
  std::uniform_real_distribution<double> dist(low, high);
  return FillOutput(ctx, dtype, shape, [&](int64_t) { return dist(gen); });
}

Status Normal(KernelContext& ctx, DType dtype, const Shape& shape) {
  const double mean = ctx.attr_float("mean", 0.0f), scale = ctx.attr_float("scale", 1.0f);
  if (!(scale >= 0)) return ctx.Error("scale must be non-negative, got ", scale);
  std::mt19937 gen = MakeGenerator(ctx);
  std::normal_distribution<double> dist(mean, scale);
  return FillOutput(ctx, dtype, shape, [&](int64_t) { return dist(gen); });
}

}  // namespace

Status RandomUniform(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(DType dtype, DTypeAttr(ctx, DType::kFloat32, IsFloat));
  PE_ASSIGN_OR_RETURN(Shape shape, ShapeAttr(ctx));
  return Uniform(ctx, dtype, shape);
}

Status RandomNormal(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(DType dtype, DTypeAttr(ctx, DType::kFloat32, IsFloat));
  PE_ASSIGN_OR_RETURN(Shape shape, ShapeAttr(ctx));
  return Normal(ctx, dtype, shape);
}

Status RandomUniformLike(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(DType dtype, DTypeAttr(ctx, x->dtype(), IsFloat));
  if (!IsFloat(dtype)) return ctx.Error("output type must be a float type, got ", DTypeName(dtype));
  return Uniform(ctx, dtype, x->shape());
}

Status RandomNormalLike(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(DType dtype, DTypeAttr(ctx, x->dtype(), IsFloat));
  if (!IsFloat(dtype)) return ctx.Error("output type must be a float type, got ", DTypeName(dtype));
  return Normal(ctx, dtype, x->shape());
}

Status Bernoulli(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (!IsFloatingDType(x->dtype()))
    return ctx.Error("input must hold float probabilities, got ", DTypeName(x->dtype()));
  PE_ASSIGN_OR_RETURN(DType dtype, DTypeAttr(ctx, x->dtype(), IsPodNumericOrBool));
  for (int64_t i = 0; i < x->numel(); ++i) {
    const double p = x->GetAsDouble(i);
    if (!(p >= 0 && p <= 1)) return ctx.Error("probability ", p, " at ", i, " is outside [0, 1]");
  }
  std::mt19937 gen = MakeGenerator(ctx);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  return FillOutput(ctx, dtype, x->shape(),
                    [&](int64_t i) { return dist(gen) < x->GetAsDouble(i) ? 1.0 : 0.0; });
}

// Samples class indices from per-row unnormalized log-probabilities.
Status Multinomial(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->rank() != 2 || !IsFloatingDType(x->dtype()))
    return ctx.Error("input must be a float [batch, classes] tensor, got ", DTypeName(x->dtype()),
                     " ", ShapeToString(x->shape()));
  PE_ASSIGN_OR_RETURN(DType dtype, DTypeAttr(ctx, DType::kInt32, IsIndexType));
  const int64_t samples = ctx.attr_int("sample_size", 1);
  if (samples < 0) return ctx.Error("sample_size must be non-negative, got ", samples);
  const int64_t batch = x->dim(0), classes = x->dim(1);
  if (classes == 0 && batch > 0 && samples > 0) return ctx.Error("cannot sample from 0 classes");
  // Cumulative probabilities per row (shifted by the row max for a stable exp).
  std::vector<double> cdf(static_cast<size_t>(batch * classes));
  for (int64_t b = 0; b < batch; ++b) {
    double mx = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, x->GetAsDouble(b * classes + c));
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) {
      const double v = x->GetAsDouble(b * classes + c);
      sum += std::isfinite(mx) ? std::exp(v - mx) : 0.0;
      cdf[b * classes + c] = sum;
    }
  }
  std::mt19937 gen = MakeGenerator(ctx);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  return FillOutput(ctx, dtype, {batch, samples}, [&](int64_t i) {
    const int64_t b = i / samples;
    const double* row = cdf.data() + b * classes;
    const double u = dist(gen) * row[classes - 1];
    const int64_t c = std::upper_bound(row, row + classes, u) - row;
    return static_cast<double>(std::min(c, classes - 1));
  });
}

}  // namespace privedge
