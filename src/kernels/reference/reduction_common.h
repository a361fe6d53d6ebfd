// Helpers shared by the reduction, matmul and softmax/loss reference kernels, and the
// registration hooks of the files those families are split into.
#pragma once

#include "kernels/kernel_util.h"

#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/kernel.h"
#include "privedge/tensor.h"

namespace privedge {

// The type kernels accumulate an element type in: double for every float type (float16 and
// bfloat16 included) so sums keep their precision, and 64-bit integers for integers so integer
// sums stay exact.
template <class T>
using AccOf = std::conditional_t<
    std::is_floating_point_v<T> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>,
    double, std::conditional_t<std::is_unsigned_v<T>, uint64_t, int64_t>>;

// Offsets of every index of the sub-space spanned by `axes` of a row-major tensor of `shape`,
// in row-major order of those axes. Empty when any of those axes has extent 0; {0} when `axes`
// is empty.
std::vector<int64_t> SubspaceOffsets(const Shape& shape, const std::vector<int64_t>& axes);

// Product of shape[begin, end).
// DimProduct lives in kernels/kernel_util.h.

// A tensor viewed as [outer, dim, inner] around one axis.
struct AxisView {
  int64_t axis = 0;
  int64_t outer = 1;
  int64_t dim = 1;
  int64_t inner = 1;
  int64_t Offset(int64_t o, int64_t k, int64_t i) const { return (o * dim + k) * inner + i; }
};

// The view of `x` around `axis` (negative counts from the end); error for a scalar or an
// axis out of range.
Result<AxisView> ViewAroundAxis(const KernelContext& ctx, const Tensor& x, int64_t axis);

// Softmax, LogSoftmax or Hardmax of every [outer, :, inner] line of `in` (laid out as `v`),
// computed in double. Defined in softmax_loss.cc.
enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };
std::vector<double> ApplySoftmax(SoftmaxKind kind, const AxisView& v,
                                 const std::vector<double>& in);

// Writes `values` into the float tensor `out` (float, double, float16, bfloat16).
// Precondition: out->numel() == values.size().
Status StoreDoubles(const std::vector<double>& values, Tensor* out);

// Files that a family is split into register their operators through these hooks, called from
// the family's Register*Kernels function.
void RegisterReductionSelectKernels(KernelRegistry& r);  // reduction_select.cc
void RegisterEinsumKernel(KernelRegistry& r);            // matmul_einsum.cc
void RegisterLossKernels(KernelRegistry& r);             // softmax_loss_nll.cc
void RegisterOptimizerKernels(KernelRegistry& r);        // softmax_loss_optimizers.cc

}  // namespace privedge
