// Shape-only operators: Reshape, Shape, Size, Flatten, Squeeze, Unsqueeze, Expand, Concat,
// Split, Tile. Operators that only change the shape share the input's storage.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"
#include "kernels/reference/shape_ops_util.h"

namespace privedge {
namespace {

// Outputs `x` with a new shape of the same element count, sharing its storage.
Status SetReshaped(KernelContext& ctx, const Tensor& x, const Shape& shape) {
  if (ShapeElementCount(shape) != x.numel())
    return ctx.Error("cannot reshape ", ShapeToString(x.shape()), " (", x.numel(),
                     " elements) to ", ShapeToString(shape));
  ctx.set_output(0, x.Reshaped(shape));
  return Status::OK();
}

Status Reshape(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  std::vector<int64_t> target;
  if (ctx.opset() < 5) {
    target = ctx.attr_ints("shape");
  } else {
    PE_ASSIGN_OR_RETURN(target, ReadIntInput(ctx, 1));
  }
  const bool allow_zero = ctx.opset() >= 14 && ctx.attr_int("allowzero", 0) != 0;
  Shape out(target.size());
  int64_t infer_axis = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allow_zero) {
      if (i >= x->rank())
        return ctx.Error("shape entry ", i, " is 0 (copy input dim) but the input has rank ",
                         x->rank());
      d = x->shape()[i];
    }
    if (d == -1) {
      if (infer_axis >= 0) return ctx.Error("shape has more than one -1 entry");
      infer_axis = static_cast<int64_t>(i);
      continue;
    }
    if (d < 0) return ctx.Error("shape entry ", i, " is ", d, ", expected >= -1");
    out[i] = d;
    if (__builtin_mul_overflow(known, d, &known))
      return ctx.Error("shape ", ShapeToString(target), " has too many elements");
  }
  if (infer_axis >= 0) {
    if (known == 0 || x->numel() % known != 0)
      return ctx.Error("cannot infer the -1 dimension reshaping ", ShapeToString(x->shape()),
                       " to ", ShapeToString(target));
    out[infer_axis] = x->numel() / known;
  }
  return SetReshaped(ctx, *x, out);
}

Status ShapeOp(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const int64_t rank = static_cast<int64_t>(x->rank());
  int64_t start = 0, end = rank;
  if (ctx.opset() >= 15) {
    start = ctx.attr_int("start", 0);
    end = ctx.attr_int("end", rank);
  }
  auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  std::vector<int64_t> dims(x->shape().begin() + start, x->shape().begin() + end);
  ctx.set_output(0, Tensor::FromVector<int64_t>(dims, {end - start}));
  return Status::OK();
}

Status Size(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  ctx.set_output(0, Tensor::Scalar<int64_t>(x->numel()));
  return Status::OK();
}

Status Flatten(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const int64_t rank = static_cast<int64_t>(x->rank());
  int64_t axis = ctx.attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank)
    return ctx.Error("axis ", ctx.attr_int("axis", 1), " is out of range for rank ", rank);
  return SetReshaped(ctx, *x,
                     {DimProduct(x->shape(), 0, axis), DimProduct(x->shape(), axis, rank)});
}

// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an optional input from 13.
Result<std::vector<int64_t>> ReadAxes(const KernelContext& ctx, bool& present) {
  if (ctx.opset() < 13) {
    present = ctx.has_attr("axes");
    return ctx.attr_ints("axes");
  }
  return ReadOptionalIntInput(ctx, 1, present);
}

Status Squeeze(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  bool present = false;
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadAxes(ctx, present));
  const int64_t rank = static_cast<int64_t>(x->rank());
  std::vector<bool> drop(rank, false);
  if (!present) {
    for (int64_t i = 0; i < rank; ++i) drop[i] = x->shape()[i] == 1;
  } else {
    PE_ASSIGN_OR_RETURN(axes, NormalizeAxes(ctx, axes, rank));
    for (int64_t a : axes) {
      if (x->shape()[a] != 1)
        return ctx.Error("cannot squeeze axis ", a, " of extent ", x->shape()[a],
                         " (expected 1) in shape ", ShapeToString(x->shape()));
      drop[a] = true;
    }
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[i]) out.push_back(x->shape()[i]);
  return SetReshaped(ctx, *x, out);
}

Status Unsqueeze(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  bool present = false;
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadAxes(ctx, present));
  if (!present) return ctx.Error("axes are required");
  const int64_t out_rank = static_cast<int64_t>(x->rank() + axes.size());
  PE_ASSIGN_OR_RETURN(axes, NormalizeAxes(ctx, axes, out_rank));
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : axes) inserted[a] = true;
  Shape out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[i] ? 1 : x->shape()[next++]);
  return SetReshaped(ctx, *x, out);
}

Status Expand(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadIntInput(ctx, 1));
  for (int64_t d : shape)
    if (d < 0) return ctx.Error("shape ", ShapeToString(shape), " has a negative dimension");
  auto out_shape = BroadcastShapes({x->shape(), shape});
  if (!out_shape.ok()) return ctx.Error(out_shape.status().message());
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), *out_shape));
  ElementCopier copy(*x, *out);
  ForEachBroadcast(*out_shape, {BroadcastStrides(x->shape(), *out_shape)},
                   [&](int64_t o, const std::vector<int64_t>& off) { copy(o, off[0]); });
  return Status::OK();
}

Status Concat(KernelContext& ctx) {
  std::vector<const Tensor*> ins;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
    ins.push_back(t);
  }
  if (ins.empty()) return ctx.Error("needs at least one input");
  const Tensor& first = *ins[0];
  const int64_t rank = static_cast<int64_t>(first.rank());
  if (rank == 0) return ctx.Error("cannot concatenate scalars");
  if (ctx.opset() >= 4 && !ctx.has_attr("axis")) return ctx.Error("attribute 'axis' is required");
  auto axis_r = NormalizeAxis(ctx.attr_int("axis", 1), rank);
  if (!axis_r.ok()) return ctx.Error(axis_r.status().message());
  const int64_t axis = *axis_r;
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (size_t k = 0; k < ins.size(); ++k) {
    const Tensor& t = *ins[k];
    bool compatible = t.dtype() == first.dtype() && t.rank() == first.rank();
    for (int64_t i = 0; compatible && i < rank; ++i)
      compatible = i == axis || t.shape()[i] == first.shape()[i];
    if (!compatible)
      return ctx.Error("input ", k, " (", DTypeName(t.dtype()), " ", ShapeToString(t.shape()),
                       ") does not match input 0 (", DTypeName(first.dtype()), " ",
                       ShapeToString(first.shape()), ") outside axis ", axis);
    out_shape[axis] += t.shape()[axis];
  }
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, first.dtype(), out_shape));
  const int64_t outer = DimProduct(out_shape, 0, axis);
  const int64_t out_block = DimProduct(out_shape, axis, rank);
  int64_t offset = 0;  // start of the current input's block within an output block
  for (const Tensor* t : ins) {
    const int64_t block = DimProduct(t->shape(), axis, rank);
    ElementCopier copy(*t, *out);
    for (int64_t o = 0; o < outer; ++o) copy(o * out_block + offset, o * block, block);
    offset += block;
  }
  return Status::OK();
}

Status Split(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const int64_t rank = static_cast<int64_t>(x->rank());
  auto axis_r = NormalizeAxis(ctx.attr_int("axis", 0), rank);
  if (!axis_r.ok() || rank == 0) return ctx.Error(axis_r.status().message(), " (or scalar input)");
  const int64_t axis = *axis_r;
  const int64_t dim = x->shape()[axis];
  const int64_t n = ctx.num_outputs();
  std::vector<int64_t> split;
  bool present = false;
  if (ctx.opset() >= 13 || (ctx.opset() < 2 && ctx.has_input(1))) {
    PE_ASSIGN_OR_RETURN(split, ReadOptionalIntInput(ctx, 1, present));
  } else {
    present = ctx.has_attr("split");
    split = ctx.attr_ints("split");
  }
  if (!present && ctx.opset() >= 18 && n > 0) {
    // Opset 18: chunks of ceil(dim / n); the last one may be smaller.
    const int64_t chunk = (dim + n - 1) / n;
    for (int64_t k = 0; k < n; ++k) split.push_back(std::clamp<int64_t>(dim - k * chunk, 0, chunk));
  } else if (!present) {
    if (n <= 0 || dim % n != 0)
      return ctx.Error("cannot split axis ", axis, " of extent ", dim, " into ", n,
                       " equal parts");
    split.assign(n, dim / n);
  }
  int64_t total = 0;
  for (int64_t s : split) {
    if (s < 0 || s > dim)
      return ctx.Error("split sizes must be in [0, ", dim, "], got ", ShapeToString(split));
    total += s;
  }
  if (static_cast<int64_t>(split.size()) != n || total != dim)
    return ctx.Error("split ", ShapeToString(split), " must have ", n,
                     " entries summing to the axis extent ", dim);
  const int64_t outer = DimProduct(x->shape(), 0, axis);
  const int64_t inner = DimProduct(x->shape(), axis + 1, rank);
  int64_t offset = 0;
  for (int64_t k = 0; k < n; ++k) {
    Shape shape = x->shape();
    shape[axis] = split[k];
    if (ctx.wants_output(static_cast<int>(k))) {
      PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(static_cast<int>(k), x->dtype(), shape));
      ElementCopier copy(*x, *out);
      const int64_t block = split[k] * inner;
      for (int64_t o = 0; o < outer; ++o) copy(o * block, o * dim * inner + offset, block);
    }
    offset += split[k] * inner;
  }
  return Status::OK();
}

// Repeats per axis. Before opset 6 the inputs were (input, tiles, axis): one count for one axis.
Result<std::vector<int64_t>> TileRepeats(const KernelContext& ctx, const Tensor& x) {
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, ReadIntInput(ctx, 1));
  if (ctx.opset() >= 6 || !ctx.has_input(2)) return repeats;
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> axis, ReadIntInput(ctx, 2));
  if (repeats.size() != 1 || axis.size() != 1)
    return ctx.Error("tiles and axis must be single values");
  const int64_t rank = static_cast<int64_t>(x.rank());
  if (axis[0] < 0 || axis[0] >= rank)
    return ctx.Error("axis ", axis[0], " is out of range for rank ", rank);
  std::vector<int64_t> all(rank, 1);
  all[axis[0]] = repeats[0];
  return all;
}

Status Tile(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, TileRepeats(ctx, *x));
  if (repeats.size() != x->rank())
    return ctx.Error("repeats has ", repeats.size(), " entries, expected the input rank ",
                     x->rank());
  Shape out_shape = x->shape();
  for (size_t i = 0; i < repeats.size(); ++i) {
    if (repeats[i] < 0 || __builtin_mul_overflow(out_shape[i], repeats[i], &out_shape[i]))
      return ctx.Error("repeats ", ShapeToString(repeats), " must be >= 0 and fit the shape ",
                       ShapeToString(x->shape()));
  }
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), out_shape));
  std::vector<int64_t> strides = ContiguousStrides(x->shape());
  ElementCopier copy(*x, *out);
  int64_t o = 0;
  ForEachIndex(out_shape, [&](const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (size_t i = 0; i < idx.size(); ++i) src += (idx[i] % x->shape()[i]) * strides[i];
    copy(o++, src);
  });
  return Status::OK();
}

}  // namespace

void RegisterShapeKernels(KernelRegistry& r) {
  r.Add("Reshape", Reshape);
  r.Add("Shape", ShapeOp);
  r.Add("Size", Size);
  r.Add("Flatten", Flatten);
  r.Add("Squeeze", Squeeze);
  r.Add("Unsqueeze", Unsqueeze);
  r.Add("Expand", Expand);
  r.Add("Concat", Concat);
  r.Add("Split", Split);
  r.Add("Tile", Tile);
  RegisterShapeLayoutKernels(r);
  RegisterShapeGenerateKernels(r);
}

}  // namespace privedge
