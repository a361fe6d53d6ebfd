#include "kernels/reference/shape_ops_util.h"

#include <algorithm>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"

namespace privedge {

Result<std::vector<int64_t>> ReadIntInput(const KernelContext& ctx, int i) {
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
  if (!IsIntegerDType(t->dtype()))
    return ctx.Error("input ", i, " must be an integer tensor, got ", DTypeName(t->dtype()));
  return ToInt64Vector(*t);
}

Result<std::vector<int64_t>> ReadOptionalIntInput(const KernelContext& ctx, int i,
                                                  bool& present) {
  present = ctx.has_input(i);
  if (!present) return std::vector<int64_t>{};
  return ReadIntInput(ctx, i);
}

Result<std::vector<int64_t>> NormalizeAxes(const KernelContext& ctx,
                                           const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
  for (int64_t a : axes) {
    int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank)
      return ctx.Error("axis ", a, " is out of range for rank ", rank, " (expected in [", -rank,
                       ", ", rank - 1, "])");
    if (seen[n]) return ctx.Error("axis ", a, " is repeated");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

void TransposeInto(const Tensor& in, const std::vector<int64_t>& perm, Tensor& out) {
  // Walk the output in order and follow the permuted input strides.
  std::vector<int64_t> in_strides = ContiguousStrides(in.shape());
  std::vector<int64_t> strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) strides[i] = in_strides[perm[i]];
  ElementCopier copy(in, out);
  int64_t o = 0;
  ForEachIndex(out.shape(), [&](const std::vector<int64_t>& idx) {
    int64_t src = 0;
    for (size_t i = 0; i < idx.size(); ++i) src += idx[i] * strides[i];
    copy(o++, src);
  });
}

Tensor ScalarOfType(DType dtype, double value) {
  Tensor t(dtype, {});
  if (dtype == DType::kString) return t;
  Status s = DispatchPod(dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      t.data<bool>()[0] = value != 0;
    } else {
      t.data<T>()[0] = CastValue<T>(value);
    }
    return Status::OK();
  });
  (void)s;
  return t;
}

}  // namespace privedge
