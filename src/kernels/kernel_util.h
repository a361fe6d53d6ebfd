// Small helpers shared by reference kernels: broadcasting, axes, reading index tensors.
#pragma once

#include <cstdint>
#include <vector>

#include "privedge/status.h"
#include "privedge/tensor.h"

namespace privedge {

// Numpy-style multidirectional broadcast of shapes; error when incompatible.
Result<Shape> BroadcastShapes(const std::vector<Shape>& shapes);

// Row-major strides of `shape` (in elements).
std::vector<int64_t> ContiguousStrides(const Shape& shape);

// Strides to read a tensor of shape `in` as if broadcast to `out` (0 on broadcast axes).
// Precondition: `in` is broadcastable to `out`.
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out);

// Product of shape[begin, end) (1 when empty); end is clamped to the rank.
int64_t DimProduct(const Shape& shape, size_t begin, size_t end);

// Maps a possibly negative axis into [0, rank); error naming the axis otherwise.
Result<int64_t> NormalizeAxis(int64_t axis, int64_t rank);

// Reads an integer tensor (any integer type) into int64 values.
std::vector<int64_t> ToInt64Vector(const Tensor& t);
std::vector<double> ToDoubleVector(const Tensor& t);

// Walks every element index of `out_shape` and calls f(out_index, in_offset_0, in_offset_1, ...)
// where each input offset follows that input's broadcast strides. Used by elementwise kernels.
template <class F>
void ForEachBroadcast(const Shape& out_shape, const std::vector<std::vector<int64_t>>& strides,
                      F&& f) {
  const size_t rank = out_shape.size();
  const size_t n_in = strides.size();
  int64_t total = ShapeElementCount(out_shape);
  if (total <= 0) return;
  std::vector<int64_t> idx(rank, 0);
  std::vector<int64_t> off(n_in, 0);
  for (int64_t o = 0; o < total; ++o) {
    f(o, off);
    for (int64_t ax = static_cast<int64_t>(rank) - 1; ax >= 0; --ax) {
      if (++idx[ax] < out_shape[ax]) {
        for (size_t k = 0; k < n_in; ++k) off[k] += strides[k][ax];
        break;
      }
      for (size_t k = 0; k < n_in; ++k) off[k] -= strides[k][ax] * (out_shape[ax] - 1);
      idx[ax] = 0;
    }
  }
}

}  // namespace privedge
