#include "kernels/reference/reduction_common.h"

#include "core/dispatch.h"
#include "kernels/kernel_util.h"

namespace privedge {

std::vector<int64_t> SubspaceOffsets(const Shape& shape, const std::vector<int64_t>& axes) {
  std::vector<int64_t> strides = ContiguousStrides(shape);
  std::vector<int64_t> offsets = {0};
  // Expanding one axis at a time keeps the earlier axes outermost (row-major order).
  for (int64_t axis : axes) {
    std::vector<int64_t> next;
    next.reserve(offsets.size() * static_cast<size_t>(shape[axis]));
    for (int64_t base : offsets)
      for (int64_t i = 0; i < shape[axis]; ++i) next.push_back(base + i * strides[axis]);
    offsets = std::move(next);
  }
  return offsets;
}

Result<AxisView> ViewAroundAxis(const KernelContext& ctx, const Tensor& x, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.Error("input must have rank >= 1, got a scalar");
  Result<int64_t> a = NormalizeAxis(axis, rank);
  if (!a.ok()) return ctx.Error(a.status().message());
  AxisView v;
  v.axis = *a;
  v.outer = DimProduct(x.shape(), 0, *a);
  v.dim = x.dim(*a);
  v.inner = DimProduct(x.shape(), *a + 1, rank);
  return v;
}

Status StoreDoubles(const std::vector<double>& values, Tensor* out) {
  return DispatchFloat(out->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T* o = out->data<T>();
    for (size_t i = 0; i < values.size(); ++i) o[i] = CastValue<T>(values[i]);
    return Status::OK();
  });
}

}  // namespace privedge
