// Data-dependent selection: OneHot, NonZero, Compress, Unique, ReverseSequence.
#include <algorithm>
#include <numeric>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/shape_ops_util.h"

namespace privedge {
namespace {

// True when element i of `t` is "set": non-zero numbers, true, non-empty strings.
bool IsNonZero(const Tensor& t, int64_t i) {
  if (t.dtype() == DType::kString) return !t.data<std::string>()[i].empty();
  return t.GetAsDouble(i) != 0;
}

Status OneHot(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* indices, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* depth_t, ctx.RequireInput(1));
  PE_ASSIGN_OR_RETURN(const Tensor* values, ctx.RequireInput(2));
  if (!IsIntegerDType(indices->dtype()) && !IsFloatingDType(indices->dtype()))
    return ctx.Error("indices must be numeric, got ", DTypeName(indices->dtype()));
  if (depth_t->numel() != 1 || depth_t->dtype() == DType::kString)
    return ctx.Error("depth must be a single number, got ", ShapeToString(depth_t->shape()));
  if (values->numel() != 2)
    return ctx.Error("values must hold [off_value, on_value], got ",
                     ShapeToString(values->shape()));
  const double depth_d = depth_t->GetAsDouble(0);
  if (!(depth_d >= 1 && depth_d < 1e12)) return ctx.Error("depth must be >= 1, got ", depth_d);
  const int64_t depth = static_cast<int64_t>(depth_d);
  const int64_t out_rank = static_cast<int64_t>(indices->rank()) + 1;
  int64_t axis = ctx.attr_int("axis", -1);
  if (axis < -out_rank || axis >= out_rank)
    return ctx.Error("axis ", axis, " is out of range for output rank ", out_rank);
  if (axis < 0) axis += out_rank;
  Shape out_shape = indices->shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, values->dtype(), out_shape));
  ElementCopier copy(*values, *out);
  for (int64_t i = 0; i < out->numel(); ++i) copy(i, 0);
  const int64_t inner = DimProduct(indices->shape(), axis, indices->rank());
  for (int64_t i = 0; i < indices->numel(); ++i) {
    // Out-of-range (and NaN) indices give an all-off row, as the spec says.
    const double d = indices->GetAsDouble(i);
    if (!(d > -1e15 && d < 1e15)) continue;
    int64_t v = static_cast<int64_t>(d);
    if (!ResolveIndex(v, depth)) continue;
    const int64_t outer = i / inner, rest = i % inner;
    copy((outer * depth + v) * inner + rest, 1);
  }
  return Status::OK();
}

Status NonZero(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  // A scalar is treated as a one-element vector, like numpy.
  const Shape shape = x->rank() == 0 ? Shape{1} : x->shape();
  std::vector<std::vector<int64_t>> coords;
  int64_t i = 0;
  ForEachIndex(shape, [&](const std::vector<int64_t>& idx) {
    if (IsNonZero(*x, i++)) coords.push_back(idx);
  });
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t nnz = static_cast<int64_t>(coords.size());
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DType::kInt64, {rank, nnz}));
  int64_t* y = out->data<int64_t>();
  for (int64_t k = 0; k < nnz; ++k)
    for (int64_t a = 0; a < rank; ++a) y[a * nnz + k] = coords[k][a];
  return Status::OK();
}

Status Compress(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* cond, ctx.RequireInput(1));
  if (cond->rank() != 1 || cond->dtype() == DType::kString)
    return ctx.Error("condition must be a 1-D bool tensor, got ", DTypeName(cond->dtype()), " ",
                     ShapeToString(cond->shape()));
  Tensor in = *x;
  int64_t axis = 0;
  if (ctx.has_attr("axis")) {
    const int64_t rank = static_cast<int64_t>(x->rank());
    axis = ctx.attr_int("axis", 0);
    if (axis < -rank || axis >= rank)
      return ctx.Error("axis ", axis, " is out of range for rank ", rank);
    if (axis < 0) axis += rank;
  } else {
    in = x->Reshaped({x->numel()});
  }
  const int64_t dim = in.shape()[axis];
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < cond->numel(); ++i) {
    if (!IsNonZero(*cond, i)) continue;
    if (i >= dim)
      return ctx.Error("condition selects entry ", i, " beyond the axis extent ", dim);
    keep.push_back(i);
  }
  Shape out_shape = in.shape();
  out_shape[axis] = static_cast<int64_t>(keep.size());
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), out_shape));
  const int64_t outer = DimProduct(in.shape(), 0, axis);
  const int64_t inner = DimProduct(in.shape(), axis + 1, in.rank());
  const int64_t kept = static_cast<int64_t>(keep.size());
  ElementCopier copy(in, *out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < kept; ++k)
      copy((o * kept + k) * inner, (o * dim + keep[k]) * inner, inner);
  return Status::OK();
}

// Unique over slices along an axis (single elements when there is no axis). Slice s is the
// elements (o, s, i) of the input viewed as [outer, dim, inner], compared in (o, i) order.
Status Unique(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  Tensor in = x->Reshaped({x->numel()});
  int64_t axis = 0;
  if (ctx.has_attr("axis")) {
    const int64_t rank = static_cast<int64_t>(x->rank());
    axis = ctx.attr_int("axis", 0);
    if (axis < -rank || axis >= rank)
      return ctx.Error("axis ", axis, " is out of range for rank ", rank);
    if (axis < 0) axis += rank;
    in = *x;
  }
  const int64_t dim = in.shape()[axis];
  const int64_t outer = DimProduct(in.shape(), 0, axis);
  const int64_t inner = DimProduct(in.shape(), axis + 1, in.rank());
  std::vector<int64_t> order(dim);
  std::iota(order.begin(), order.end(), 0);
  // compare(a, b): -1, 0 or 1 for slices a and b.
  std::function<int(int64_t, int64_t)> compare;
  PE_RETURN_IF_ERROR(DispatchAll(in.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* d = in.data<T>();
    compare = [=](int64_t a, int64_t b) {
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const T& va = d[(o * dim + a) * inner + i];
          const T& vb = d[(o * dim + b) * inner + i];
          if (va < vb) return -1;
          if (vb < va) return 1;
        }
      }
      return 0;
    };
    return Status::OK();
  }));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return compare(a, b) < 0; });
  // Groups of equal slices; the first member of each group is its first occurrence.
  std::vector<int64_t> first, counts, group_of(dim);
  for (int64_t k = 0; k < dim; ++k) {
    if (k == 0 || compare(order[k - 1], order[k]) != 0) {
      first.push_back(order[k]);
      counts.push_back(0);
    }
    counts.back()++;
    group_of[order[k]] = static_cast<int64_t>(first.size()) - 1;
  }
  const int64_t u = static_cast<int64_t>(first.size());
  // pos[g]: output position of group g (sorted order, or order of first occurrence).
  std::vector<int64_t> pos(u);
  std::iota(pos.begin(), pos.end(), 0);
  if (ctx.attr_int("sorted", 1) == 0) {
    std::vector<int64_t> by_first(u);
    std::iota(by_first.begin(), by_first.end(), 0);
    std::sort(by_first.begin(), by_first.end(),
              [&](int64_t a, int64_t b) { return first[a] < first[b]; });
    for (int64_t k = 0; k < u; ++k) pos[by_first[k]] = k;
  }
  Shape y_shape = in.shape();
  y_shape[axis] = u;
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x->dtype(), y_shape));
  ElementCopier copy(in, *y);
  for (int64_t g = 0; g < u; ++g)
    for (int64_t o = 0; o < outer; ++o)
      copy((o * u + pos[g]) * inner, (o * dim + first[g]) * inner, inner);
  auto write = [&](int i, int64_t n, auto value_of) -> Status {
    if (!ctx.wants_output(i)) return Status::OK();
    PE_ASSIGN_OR_RETURN(Tensor * t, ctx.AllocateOutput(i, DType::kInt64, {n}));
    for (int64_t k = 0; k < n; ++k) value_of(t->data<int64_t>(), k);
    return Status::OK();
  };
  PE_RETURN_IF_ERROR(write(1, u, [&](int64_t* v, int64_t g) { v[pos[g]] = first[g]; }));
  PE_RETURN_IF_ERROR(write(2, dim, [&](int64_t* v, int64_t s) { v[s] = pos[group_of[s]]; }));
  PE_RETURN_IF_ERROR(write(3, u, [&](int64_t* v, int64_t g) { v[pos[g]] = counts[g]; }));
  return Status::OK();
}

Status ReverseSequence(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> lens, ReadIntInput(ctx, 1));
  if (x->rank() < 2) return ctx.Error("input must have rank >= 2, got ", x->rank());
  const int64_t time_axis = ctx.attr_int("time_axis", 0);
  const int64_t batch_axis = ctx.attr_int("batch_axis", 1);
  if (time_axis < 0 || time_axis > 1 || batch_axis < 0 || batch_axis > 1 ||
      time_axis == batch_axis)
    return ctx.Error("time_axis ", time_axis, " and batch_axis ", batch_axis,
                     " must be 0 and 1 in some order");
  const int64_t batch = x->shape()[batch_axis], steps = x->shape()[time_axis];
  if (static_cast<int64_t>(lens.size()) != batch)
    return ctx.Error("sequence_lens has ", lens.size(), " entries, expected batch size ", batch);
  for (int64_t l : lens)
    if (l < 0 || l > steps)
      return ctx.Error("sequence length ", l, " is out of range [0, ", steps, "]");
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  const std::vector<int64_t> strides = ContiguousStrides(x->shape());
  ElementCopier copy(*x, *out);
  int64_t o = 0;
  ForEachIndex(x->shape(), [&](const std::vector<int64_t>& idx) {
    const int64_t len = lens[idx[batch_axis]], t = idx[time_axis];
    const int64_t src_t = t < len ? len - 1 - t : t;
    copy(o, o + (src_t - t) * strides[time_axis]);
    ++o;
  });
  return Status::OK();
}

}  // namespace

void RegisterIndexingMiscKernels(KernelRegistry& r) {
  r.Add("OneHot", OneHot);
  r.Add("NonZero", NonZero);
  r.Add("Compress", Compress);
  r.Add("Unique", Unique);
  r.Add("ReverseSequence", ReverseSequence);
}

}  // namespace privedge
