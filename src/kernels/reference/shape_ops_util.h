// Helpers shared by the shape and indexing reference kernels: type-agnostic element moves,
// index checks and multi-index iteration.
#pragma once

#include "kernels/kernel_util.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "privedge/tensor.h"

namespace privedge {

// Registration of the sub-family files (called from RegisterShapeKernels /
// RegisterIndexingKernels).
void RegisterShapeLayoutKernels(KernelRegistry& r);    // shape_ops_layout.cc
void RegisterShapeGenerateKernels(KernelRegistry& r);  // shape_ops_generate.cc
void RegisterIndexingSliceKernels(KernelRegistry& r);  // indexing_slice.cc
void RegisterIndexingMiscKernels(KernelRegistry& r);   // indexing_misc.cc

// Copies elements from `src` to `dst` (same dtype) without knowing the element type: raw
// bytes for fixed-size types, string assignment for strings. Indices are element offsets.
class ElementCopier {
 public:
  ElementCopier(const Tensor& src, Tensor& dst)
      : src_(static_cast<const char*>(src.raw_data())),
        dst_(static_cast<char*>(dst.raw_data())),
        size_(DTypeSize(src.dtype())),
        is_string_(src.dtype() == DType::kString) {}

  void operator()(int64_t dst_index, int64_t src_index, int64_t count = 1) const {
    if (count <= 0) return;
    if (is_string_) {
      const auto* s = reinterpret_cast<const std::string*>(src_) + src_index;
      auto* d = reinterpret_cast<std::string*>(dst_) + dst_index;
      for (int64_t i = 0; i < count; ++i) d[i] = s[i];
    } else {
      std::memmove(dst_ + dst_index * size_, src_ + src_index * size_,
                   static_cast<size_t>(count) * size_);
    }
  }

 private:
  const char* src_;
  char* dst_;
  size_t size_;
  bool is_string_;
};

// Product of shape[begin, end).
// DimProduct lives in kernels/kernel_util.h.

// Maps a possibly negative index into [0, dim); false when it is out of range.
inline bool ResolveIndex(int64_t& index, int64_t dim) {
  if (index < 0) index += dim;
  return index >= 0 && index < dim;
}

// Reads integer input `i` as int64 values; an error when absent or not an integer tensor.
Result<std::vector<int64_t>> ReadIntInput(const KernelContext& ctx, int i);
// Reads optional integer input `i`; `present` tells whether it was supplied.
Result<std::vector<int64_t>> ReadOptionalIntInput(const KernelContext& ctx, int i, bool& present);

// Normalizes each axis against `rank`; errors on out-of-range or repeated axes.
Result<std::vector<int64_t>> NormalizeAxes(const KernelContext& ctx,
                                           const std::vector<int64_t>& axes, int64_t rank);

// Writes `in` with its axes permuted by `perm` into `out` (already shaped and typed).
void TransposeInto(const Tensor& in, const std::vector<int64_t>& perm, Tensor& out);

// Calls f(index) for every multi-index of `shape` in row-major order.
template <class F>
void ForEachIndex(const Shape& shape, F&& f) {
  int64_t total = ShapeElementCount(shape);
  if (total <= 0) return;
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t n = 0; n < total; ++n) {
    f(static_cast<const std::vector<int64_t>&>(idx));
    for (int64_t ax = static_cast<int64_t>(shape.size()) - 1; ax >= 0; --ax) {
      if (++idx[ax] < shape[ax]) break;
      idx[ax] = 0;
    }
  }
}

// A one-element tensor of `dtype` holding `value` (0/empty for strings).
Tensor ScalarOfType(DType dtype, double value);

}  // namespace privedge
