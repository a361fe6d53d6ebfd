// Gather and scatter operators: Gather, GatherElements, GatherND, Scatter, ScatterElements,
// ScatterND. Each resolves its index tensor into element offsets of `data` first (checking every
// index against its bound), then moves elements by offset, so any element type works.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"
#include "kernels/reference/shape_ops_util.h"

namespace privedge {
namespace {

Result<const Tensor*> RequireIndices(const KernelContext& ctx, int i) {
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
  if (t->dtype() != DType::kInt32 && t->dtype() != DType::kInt64)
    return ctx.Error("indices (input ", i, ") must be int32 or int64, got ",
                     DTypeName(t->dtype()));
  return t;
}

Result<int64_t> AxisAttr(const KernelContext& ctx, int64_t rank) {
  const int64_t axis = ctx.attr_int("axis", 0);
  if (rank < 1 || axis < -rank || axis >= rank)
    return ctx.Error("axis ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

Status Gather(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* indices, RequireIndices(ctx, 1));
  const int64_t rank = static_cast<int64_t>(data->rank());
  PE_ASSIGN_OR_RETURN(const int64_t axis, AxisAttr(ctx, rank));
  const int64_t dim = data->shape()[axis];
  std::vector<int64_t> idx = ToInt64Vector(*indices);
  for (int64_t& i : idx) {
    const int64_t original = i;
    if (!ResolveIndex(i, dim))
      return ctx.Error("index ", original, " is out of range for axis ", axis, " of extent ",
                       dim);
  }
  Shape out_shape(data->shape().begin(), data->shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices->shape().begin(), indices->shape().end());
  out_shape.insert(out_shape.end(), data->shape().begin() + axis + 1, data->shape().end());
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), out_shape));
  const int64_t outer = DimProduct(data->shape(), 0, axis);
  const int64_t inner = DimProduct(data->shape(), axis + 1, rank);
  const int64_t n = static_cast<int64_t>(idx.size());
  ElementCopier copy(*data, *out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j) copy((o * n + j) * inner, (o * dim + idx[j]) * inner, inner);
  return Status::OK();
}

// For GatherElements/ScatterElements: the offset into `data` of each element of `indices`
// (same rank as data; its value replaces the coordinate along `axis`).
Result<std::vector<int64_t>> ElementTargets(const KernelContext& ctx, const Shape& data_shape,
                                            const Tensor& indices, int64_t axis) {
  if (indices.rank() != data_shape.size())
    return ctx.Error("indices rank ", indices.rank(), " must equal data rank ",
                     data_shape.size());
  for (size_t i = 0; i < data_shape.size(); ++i)
    if (static_cast<int64_t>(i) != axis && indices.shape()[i] > data_shape[i])
      return ctx.Error("indices shape ", ShapeToString(indices.shape()),
                       " exceeds data shape ", ShapeToString(data_shape), " on axis ", i);
  const std::vector<int64_t> strides = ContiguousStrides(data_shape);
  std::vector<int64_t> targets;
  targets.reserve(static_cast<size_t>(indices.numel()));
  Status status;
  int64_t n = 0;
  ForEachIndex(indices.shape(), [&](const std::vector<int64_t>& pos) {
    int64_t v = indices.GetAsInt64(n++);
    if (!status.ok()) return;
    if (!ResolveIndex(v, data_shape[axis])) {
      status = ctx.Error("index ", indices.GetAsInt64(n - 1), " is out of range for axis ", axis,
                         " of extent ", data_shape[axis]);
      return;
    }
    int64_t off = 0;
    for (size_t i = 0; i < pos.size(); ++i)
      off += (static_cast<int64_t>(i) == axis ? v : pos[i]) * strides[i];
    targets.push_back(off);
  });
  if (!status.ok()) return status;
  return targets;
}

// For GatherND/ScatterND: the offset into `data` of the block each index tuple selects, and
// the block size. The last axis of `indices` holds the tuples; the first `batch_dims` axes
// of indices and data are batch axes.
struct NdTargets {
  std::vector<int64_t> offsets;
  int64_t block = 1;
  Shape tuple_shape;  // indices.shape[:-1]
};

Result<NdTargets> ResolveNd(const KernelContext& ctx, const Shape& data_shape,
                            const Tensor& indices, int64_t batch_dims) {
  const int64_t r = static_cast<int64_t>(data_shape.size());
  const int64_t q = static_cast<int64_t>(indices.rank());
  if (q < 1 || batch_dims < 0 || batch_dims >= q || batch_dims >= r)
    return ctx.Error("batch_dims ", batch_dims, " is invalid for data rank ", r,
                     " and indices rank ", q);
  const int64_t m = indices.shape()[q - 1];
  if (m < 0 || batch_dims + m > r)
    return ctx.Error("index tuples of length ", m, " do not fit data rank ", r,
                     " with batch_dims ", batch_dims);
  for (int64_t i = 0; i < batch_dims; ++i)
    if (indices.shape()[i] != data_shape[i])
      return ctx.Error("batch dimension ", i, " differs: indices ", ShapeToString(indices.shape()),
                       " vs data ", ShapeToString(data_shape));
  NdTargets t;
  t.tuple_shape.assign(indices.shape().begin(), indices.shape().end() - 1);
  t.block = DimProduct(data_shape, batch_dims + m, r);
  const std::vector<int64_t> strides = ContiguousStrides(data_shape);
  const int64_t batch_stride = batch_dims > 0 ? strides[batch_dims - 1] : 0;
  const int64_t tuples = DimProduct(t.tuple_shape, 0, t.tuple_shape.size());
  const int64_t per_batch = tuples / std::max<int64_t>(DimProduct(data_shape, 0, batch_dims), 1);
  for (int64_t k = 0; k < tuples; ++k) {
    int64_t off = batch_dims > 0 ? (k / std::max<int64_t>(per_batch, 1)) * batch_stride : 0;
    for (int64_t j = 0; j < m; ++j) {
      const int64_t axis = batch_dims + j;
      int64_t v = indices.GetAsInt64(k * m + j);
      if (!ResolveIndex(v, data_shape[axis]))
        return ctx.Error("index ", indices.GetAsInt64(k * m + j), " is out of range for axis ",
                         axis, " of extent ", data_shape[axis]);
      off += v * strides[axis];
    }
    t.offsets.push_back(off);
  }
  return t;
}

Status GatherElements(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* indices, RequireIndices(ctx, 1));
  PE_ASSIGN_OR_RETURN(const int64_t axis, AxisAttr(ctx, static_cast<int64_t>(data->rank())));
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> targets,
                      ElementTargets(ctx, data->shape(), *indices, axis));
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), indices->shape()));
  ElementCopier copy(*data, *out);
  for (size_t i = 0; i < targets.size(); ++i) copy(static_cast<int64_t>(i), targets[i]);
  return Status::OK();
}

Status GatherND(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* indices, RequireIndices(ctx, 1));
  const int64_t batch_dims = ctx.opset() >= 12 ? ctx.attr_int("batch_dims", 0) : 0;
  PE_ASSIGN_OR_RETURN(NdTargets t, ResolveNd(ctx, data->shape(), *indices, batch_dims));
  Shape out_shape = t.tuple_shape;
  const int64_t m = indices->dim(-1);
  out_shape.insert(out_shape.end(), data->shape().begin() + batch_dims + m, data->shape().end());
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, data->dtype(), out_shape));
  ElementCopier copy(*data, *out);
  for (size_t k = 0; k < t.offsets.size(); ++k)
    copy(static_cast<int64_t>(k) * t.block, t.offsets[k], t.block);
  return Status::OK();
}

// Integer reductions wrap around (two's complement) instead of overflowing.
template <class T>
T ReduceAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return CastValue<T>(a + b);
  }
}
template <class T>
T ReduceMul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    return CastValue<T>(a * b);
  }
}

// Writes block k of `updates` (k * block .. ) into `out` at targets[k], combining with the
// existing value according to the reduction attribute (opset 16+).
Status ApplyScatter(KernelContext& ctx, const Tensor& updates, Tensor& out,
                    const std::vector<int64_t>& targets, int64_t block) {
  if (updates.dtype() != out.dtype())
    return ctx.Error("updates type ", DTypeName(updates.dtype()), " differs from data type ",
                     DTypeName(out.dtype()));
  const std::string reduction = ctx.opset() >= 16 ? ctx.attr_string("reduction", "none") : "none";
  if (reduction == "none") {
    ElementCopier copy(updates, out);
    for (size_t k = 0; k < targets.size(); ++k)
      copy(targets[k], static_cast<int64_t>(k) * block, block);
    return Status::OK();
  }
  if (reduction != "add" && reduction != "mul" && reduction != "max" && reduction != "min")
    return ctx.Error("reduction must be none, add, mul, max or min, got '", reduction, "'");
  return DispatchNumeric(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* u = updates.data<T>();
    T* y = out.data<T>();
    for (size_t k = 0; k < targets.size(); ++k) {
      for (int64_t e = 0; e < block; ++e) {
        T& dst = y[targets[k] + e];
        const T src = u[static_cast<int64_t>(k) * block + e];
        if (reduction == "add") dst = ReduceAdd(dst, src);
        else if (reduction == "mul") dst = ReduceMul(dst, src);
        else if (reduction == "max") dst = src > dst ? src : dst;
        else dst = src < dst ? src : dst;
      }
    }
    return Status::OK();
  });
}

Status ScatterElements(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* indices, RequireIndices(ctx, 1));
  PE_ASSIGN_OR_RETURN(const Tensor* updates, ctx.RequireInput(2));
  if (updates->shape() != indices->shape())
    return ctx.Error("updates shape ", ShapeToString(updates->shape()),
                     " must equal indices shape ", ShapeToString(indices->shape()));
  PE_ASSIGN_OR_RETURN(const int64_t axis, AxisAttr(ctx, static_cast<int64_t>(data->rank())));
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> targets,
                      ElementTargets(ctx, data->shape(), *indices, axis));
  Tensor out = data->Clone();
  PE_RETURN_IF_ERROR(ApplyScatter(ctx, *updates, out, targets, 1));
  ctx.set_output(0, out);
  return Status::OK();
}

Status ScatterND(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* data, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* indices, RequireIndices(ctx, 1));
  PE_ASSIGN_OR_RETURN(const Tensor* updates, ctx.RequireInput(2));
  PE_ASSIGN_OR_RETURN(NdTargets t, ResolveNd(ctx, data->shape(), *indices, 0));
  Shape expected = t.tuple_shape;
  expected.insert(expected.end(), data->shape().begin() + indices->dim(-1), data->shape().end());
  if (updates->shape() != expected)
    return ctx.Error("updates shape ", ShapeToString(updates->shape()), " must be ",
                     ShapeToString(expected));
  Tensor out = data->Clone();
  PE_RETURN_IF_ERROR(ApplyScatter(ctx, *updates, out, t.offsets, t.block));
  ctx.set_output(0, out);
  return Status::OK();
}

}  // namespace

void RegisterIndexingKernels(KernelRegistry& r) {
  r.Add("Gather", Gather);
  r.Add("GatherElements", GatherElements);
  r.Add("GatherND", GatherND);
  r.Add("Scatter", ScatterElements);
  r.Add("ScatterElements", ScatterElements);
  r.Add("ScatterND", ScatterND);
  RegisterIndexingSliceKernels(r);
  RegisterIndexingMiscKernels(r);
}

}  // namespace privedge
