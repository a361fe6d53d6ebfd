// Axis slicing, concatenation and stacking for the control-flow kernels.
#include <cstring>
#include <string>

#include "kernels/kernel_util.h"
#include "kernels/reference/control_flow_internal.h"

namespace privedge {
namespace {

// Copies `n` elements from src[src_off] to dst[dst_off]; both tensors have the same dtype.
void CopyElements(const Tensor& src, int64_t src_off, Tensor& dst, int64_t dst_off, int64_t n) {
  if (n <= 0) return;
  if (src.dtype() == DType::kString) {
    const std::string* s = src.data<std::string>();
    std::string* d = dst.data<std::string>();
    for (int64_t k = 0; k < n; ++k) d[dst_off + k] = s[src_off + k];
    return;
  }
  const size_t elem = DTypeSize(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw_data()) + dst_off * elem,
              static_cast<const char*>(src.raw_data()) + src_off * elem, n * elem);
}

// Product of shape[begin, end).
int64_t Extent(const Shape& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) p *= shape[i];
  return p;
}

}  // namespace

Result<Tensor> SliceAlongAxis(const KernelContext& ctx, const Tensor& t, int64_t axis,
                              int64_t start, int64_t len) {
  const Shape& in = t.shape();
  if (axis < 0 || axis >= static_cast<int64_t>(in.size()))
    return ctx.Error("axis ", axis, " is out of range for shape ", ShapeToString(in));
  if (start < 0 || len < 0 || start > in[axis] || len > in[axis] - start)
    return ctx.Error("slice [", start, ", ", start + len, ") is outside axis ", axis,
                     " of shape ", ShapeToString(in));
  Shape out_shape = in;
  out_shape[axis] = len;
  PE_ASSIGN_OR_RETURN(Tensor out, ctx.CreateTensor(t.dtype(), out_shape));
  const int64_t outer = Extent(in, 0, axis);
  const int64_t inner = Extent(in, axis + 1, in.size());
  for (int64_t o = 0; o < outer; ++o)
    CopyElements(t, (o * in[axis] + start) * inner, out, o * len * inner, len * inner);
  return out;
}

Result<Tensor> TakeAlongAxis(const KernelContext& ctx, const Tensor& t, int64_t axis,
                             int64_t index) {
  PE_ASSIGN_OR_RETURN(Tensor slice, SliceAlongAxis(ctx, t, axis, index, 1));
  Shape shape = slice.shape();
  shape.erase(shape.begin() + axis);
  return slice.Reshaped(shape);
}

Result<Tensor> ConcatAlongAxis(const KernelContext& ctx, const std::vector<Tensor>& parts,
                               int64_t axis) {
  if (parts.empty()) return ctx.Error("nothing to concatenate");
  const Shape& first = parts[0].shape();
  if (axis < 0 || axis >= static_cast<int64_t>(first.size()))
    return ctx.Error("axis ", axis, " is out of range for shape ", ShapeToString(first));
  Shape out_shape = first;
  out_shape[axis] = 0;
  for (const Tensor& p : parts) {
    bool compatible = p.dtype() == parts[0].dtype() && p.rank() == first.size();
    for (size_t d = 0; compatible && d < first.size(); ++d)
      compatible = static_cast<int64_t>(d) == axis || p.shape()[d] == first[d];
    if (!compatible)
      return ctx.Error("cannot concatenate ", DTypeName(p.dtype()), ShapeToString(p.shape()),
                       " with ", DTypeName(parts[0].dtype()), ShapeToString(first),
                       " along axis ", axis);
    out_shape[axis] += p.shape()[axis];
  }
  PE_ASSIGN_OR_RETURN(Tensor out, ctx.CreateTensor(parts[0].dtype(), out_shape));
  const int64_t outer = Extent(first, 0, axis);
  const int64_t inner = Extent(first, axis + 1, first.size());
  int64_t dst = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor& p : parts) {
      const int64_t block = p.shape()[axis] * inner;
      CopyElements(p, o * block, out, dst, block);
      dst += block;
    }
  }
  return out;
}

Result<Tensor> StackAlongAxis(const KernelContext& ctx, const std::vector<Tensor>& parts,
                              int64_t axis) {
  if (parts.empty()) return ctx.Error("nothing to stack");
  const Shape& first = parts[0].shape();
  if (axis < 0 || axis > static_cast<int64_t>(first.size()))
    return ctx.Error("stack axis ", axis, " is out of range for rank ", first.size());
  std::vector<Tensor> expanded;
  expanded.reserve(parts.size());
  for (const Tensor& p : parts) {
    if (p.shape() != first)
      return ctx.Error("cannot stack shape ", ShapeToString(p.shape()), " with ",
                       ShapeToString(first), ": every element must have the same shape");
    Shape s = first;
    s.insert(s.begin() + axis, 1);
    expanded.push_back(p.Reshaped(s));
  }
  return ConcatAlongAxis(ctx, expanded, axis);
}

Result<Tensor> EmptyStack(const KernelContext& ctx, const ValueInfo& element_info,
                          int64_t axis) {
  const TypeInfo& type = element_info.type;
  const DType dtype = type.elem_type == DType::kUndefined ? DType::kFloat32 : type.elem_type;
  Shape shape;
  bool known = type.kind == TypeInfo::Kind::kTensor && type.has_shape;
  for (const Dim& d : type.dims) {
    known = known && d.known();
    shape.push_back(d.value);
  }
  if (!known) shape.clear();
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (axis < 0) axis += rank + 1;
  if (axis < 0 || axis > rank) axis = 0;  // the declared rank is unknown or disagrees
  shape.insert(shape.begin() + axis, 0);
  return ctx.CreateTensor(dtype, shape);
}

Result<int64_t> ReadScalarInt(const KernelContext& ctx, int i, const char* what) {
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
  if (!IsIntegerDType(t->dtype()) || t->numel() != 1 || t->rank() > 1)
    return ctx.Error(what, " must be a single integer, got ", DTypeName(t->dtype()),
                     ShapeToString(t->shape()));
  return t->GetAsInt64(0);
}

Result<bool> ReadScalarBool(const KernelContext& ctx, const Value& v, const char* what) {
  if (!v.is_tensor() || v.tensor.numel() != 1 || v.tensor.dtype() == DType::kString)
    return ctx.Error(what, " must be a tensor with one boolean element");
  return v.tensor.GetAsDouble(0) != 0;
}

}  // namespace privedge
