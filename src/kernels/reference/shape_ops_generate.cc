// Operators that generate or mask tensors: Constant, ConstantOfShape, Range, EyeLike, Trilu,
// Dropout.
#include <cmath>
#include <random>

#include "core/dispatch.h"
#include "kernels/reference/shape_ops_util.h"

namespace privedge {
namespace {

// Fills every element of `out` with element 0 of `value` (same dtype).
void FillWith(const Tensor& value, Tensor& out) {
  ElementCopier copy(value, out);
  for (int64_t i = 0; i < out.numel(); ++i) copy(i, 0);
}

Status ConstantOfShape(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadIntInput(ctx, 0));
  const Tensor* value = ctx.attr_tensor("value");
  Tensor zero = ScalarOfType(DType::kFloat32, 0);
  if (!value) value = &zero;
  if (value->numel() != 1)
    return ctx.Error("attribute 'value' must hold one element, got ", value->numel());
  for (int64_t d : shape)
    if (d < 0) return ctx.Error("shape ", ShapeToString(shape), " has a negative dimension");
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, value->dtype(), shape));
  FillWith(*value, *out);
  return Status::OK();
}

Status Constant(KernelContext& ctx) {
  if (const Tensor* t = ctx.attr_tensor("value")) {
    ctx.set_output(0, *t);
  } else if (ctx.has_attr("value_float")) {
    ctx.set_output(0, Tensor::Scalar<float>(ctx.attr_float("value_float", 0)));
  } else if (ctx.has_attr("value_floats")) {
    std::vector<float> v = ctx.attr_floats("value_floats");
    ctx.set_output(0, Tensor::FromVector<float>(v, {static_cast<int64_t>(v.size())}));
  } else if (ctx.has_attr("value_int")) {
    ctx.set_output(0, Tensor::Scalar<int64_t>(ctx.attr_int("value_int", 0)));
  } else if (ctx.has_attr("value_ints")) {
    std::vector<int64_t> v = ctx.attr_ints("value_ints");
    ctx.set_output(0, Tensor::FromVector<int64_t>(v, {static_cast<int64_t>(v.size())}));
  } else if (ctx.has_attr("value_string")) {
    ctx.set_output(0, Tensor::Scalar<std::string>(ctx.attr_string("value_string", "")));
  } else if (ctx.has_attr("value_strings")) {
    std::vector<std::string> v = ctx.attr_strings("value_strings");
    ctx.set_output(0, Tensor::FromVector<std::string>(v, {static_cast<int64_t>(v.size())}));
  } else {
    return ctx.Error("needs one of the attributes value, value_float(s), value_int(s), "
                     "value_string(s) (sparse_value is not supported)");
  }
  return Status::OK();
}

Status Range(KernelContext& ctx) {
  const Tensor* in[3];
  for (int i = 0; i < 3; ++i) {
    PE_ASSIGN_OR_RETURN(in[i], ctx.RequireInput(i));
    if (in[i]->numel() != 1 || in[i]->dtype() != in[0]->dtype())
      return ctx.Error("start, limit and delta must be one-element tensors of one type; input ",
                       i, " is ", DTypeName(in[i]->dtype()), " ", ShapeToString(in[i]->shape()));
  }
  return DispatchNumeric(in[0]->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    int64_t count = 0;
    if constexpr (std::is_integral_v<T>) {
      const int64_t start = in[0]->GetAsInt64(0), limit = in[1]->GetAsInt64(0);
      const int64_t delta = in[2]->GetAsInt64(0);
      if (delta == 0) return ctx.Error("delta must not be 0");
      int64_t span = 0;
      if (__builtin_sub_overflow(limit, start, &span) || (delta == -1 && span == INT64_MIN))
        return ctx.Error("range is too large");
      // Ceiling division that is exact for both signs.
      count = span / delta + ((span % delta != 0 && ((span < 0) == (delta < 0))) ? 1 : 0);
    } else {
      const double delta = in[2]->GetAsDouble(0);
      if (delta == 0 || !std::isfinite(delta)) return ctx.Error("delta must be finite and != 0");
      const double n = std::ceil((in[1]->GetAsDouble(0) - in[0]->GetAsDouble(0)) / delta);
      if (!(n < 9.0e18)) return ctx.Error("range has too many elements");
      count = n > 0 ? static_cast<int64_t>(n) : 0;  // a far negative n would overflow int64
    }
    count = std::max<int64_t>(count, 0);
    PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, in[0]->dtype(), {count}));
    T* y = out->data<T>();
    const T start = in[0]->data<T>()[0], delta = in[2]->data<T>()[0];
    for (int64_t i = 0; i < count; ++i) {
      if constexpr (std::is_integral_v<T>) {
        y[i] = static_cast<T>(start + static_cast<T>(i) * delta);
      } else {
        y[i] = CastValue<T>(static_cast<double>(start) + static_cast<double>(i) *
                                                            static_cast<double>(delta));
      }
    }
    return Status::OK();
  });
}

Status EyeLike(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->rank() != 2) return ctx.Error("input must be 2-D, got ", ShapeToString(x->shape()));
  DType dtype = x->dtype();
  if (ctx.has_attr("dtype")) {
    const int64_t d = ctx.attr_int("dtype", 0);
    if (!IsValidDType(static_cast<int32_t>(d)) || d == static_cast<int64_t>(DType::kString))
      return ctx.Error("attribute dtype ", d, " is not a supported element type");
    dtype = static_cast<DType>(d);
  }
  if (dtype == DType::kString) return ctx.Error("string output is not supported");
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, dtype, x->shape()));
  const Tensor one = ScalarOfType(dtype, 1);
  const int64_t rows = x->shape()[0], cols = x->shape()[1], k = ctx.attr_int("k", 0);
  ElementCopier copy(one, *out);
  if (k >= cols || k <= -rows) return Status::OK();  // the diagonal misses the matrix
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t j = i + k;
    if (j >= 0 && j < cols) copy(i * cols + j, 0);
  }
  return Status::OK();
}

Status Trilu(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->rank() < 2)
    return ctx.Error("input must have rank >= 2, got ", ShapeToString(x->shape()));
  int64_t k = 0;
  if (ctx.has_input(1)) {
    PE_ASSIGN_OR_RETURN(std::vector<int64_t> kv, ReadIntInput(ctx, 1));
    if (kv.size() != 1) return ctx.Error("k must be a single value, got ", kv.size());
    k = kv[0];
  }
  const bool upper = ctx.attr_int("upper", 1) != 0;
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  const int64_t rows = x->dim(-2), cols = x->dim(-1);
  const int64_t mats = DimProduct(x->shape(), 0, x->rank() - 2);
  ElementCopier copy(*x, *out);
  for (int64_t m = 0; m < mats; ++m) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const bool keep = upper ? j - i >= k : j - i <= k;
        const int64_t off = (m * rows + i) * cols + j;
        if (keep) copy(off, off);
      }
    }
  }
  return Status::OK();
}

// Dropout: identity in inference mode. Training mode (opset 12+ training_mode input, or
// is_test=0 before opset 7) zeroes elements with probability `ratio` and scales the rest.
Status Dropout(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  double ratio = ctx.attr_float("ratio", 0.5f);
  bool training = false;
  if (ctx.opset() >= 12) {
    if (const Tensor* r = ctx.input(1)) {
      if (r->numel() != 1 || !IsFloatingDType(r->dtype()))
        return ctx.Error("ratio must be a float scalar");
      ratio = r->GetAsDouble(0);
    }
    if (const Tensor* t = ctx.input(2)) {
      if (t->numel() != 1 || t->dtype() != DType::kBool)
        return ctx.Error("training_mode must be a bool scalar");
      training = t->GetAsInt64(0) != 0;
    }
  } else if (ctx.opset() < 7) {
    // Only an explicit is_test=0 asks for training behaviour in an inference engine.
    training = ctx.has_attr("is_test") && ctx.attr_int("is_test", 1) == 0;
  }
  if (!(ratio >= 0 && ratio < 1)) return ctx.Error("ratio must be in [0, 1), got ", ratio);
  const DType mask_type = ctx.opset() >= 10 ? DType::kBool : x->dtype();
  Tensor mask;
  if (ctx.wants_output(1)) {
    PE_ASSIGN_OR_RETURN(Tensor * m, ctx.AllocateOutput(1, mask_type, x->shape()));
    FillWith(ScalarOfType(mask_type, 1), *m);
    mask = *m;
  }
  if (!training || ratio == 0) {
    ctx.set_output(0, *x);
    return Status::OK();
  }
  return DispatchFloat(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), x->shape()));
    std::mt19937_64 rng(ctx.has_attr("seed") ? static_cast<uint64_t>(ctx.attr_int("seed", 0))
                                             : std::random_device{}());
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    const double scale = 1.0 / (1.0 - ratio);
    const T* xs = x->data<T>();
    T* ys = y->data<T>();
    const Tensor zero = ScalarOfType(mask_type, 0);
    ElementCopier clear(zero, mask);
    for (int64_t i = 0; i < x->numel(); ++i) {
      const bool kept = uniform(rng) >= ratio;
      ys[i] = kept ? CastValue<T>(static_cast<double>(xs[i]) * scale) : CastValue<T>(0.0);
      if (!kept && mask.defined()) clear(i, 0);
    }
    return Status::OK();
  });
}

}  // namespace

void RegisterShapeGenerateKernels(KernelRegistry& r) {
  r.Add("ConstantOfShape", ConstantOfShape);
  r.Add("Constant", Constant);
  r.Add("Range", Range);
  r.Add("EyeLike", EyeLike);
  r.Add("Trilu", Trilu);
  r.Add("Dropout", Dropout);
}

}  // namespace privedge
