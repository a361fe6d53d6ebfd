#include "train/rules/util.h"

#include <algorithm>
#include <cstdlib>
#include <dnnl.hpp>
#include <new>

namespace privedge::train {

Result<Shape> BroadcastShapes(const NodeIO& io, const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1;
    const int64_t db = i + b.size() >= r ? b[i + b.size() - r] : 1;
    if (da != db && da != 1 && db != 1)
      return io.Error("shapes ", ShapeToString(a), " and ", ShapeToString(b), " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c,
             ldc);
}

Tensor Scratch::Get(size_t slot, const Shape& shape) {
  if (buffers_.size() <= slot) buffers_.resize(slot + 1);
  auto& [buffer, capacity] = buffers_[slot];
  const int64_t n = std::max<int64_t>(1, ShapeElementCount(shape));
  if (!buffer || capacity < n) {
    // 64-byte aligned like Tensor's own storage.
    const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
    buffer =
        std::shared_ptr<float[]>(static_cast<float*>(std::aligned_alloc(64, bytes)), std::free);
    if (!buffer) throw std::bad_alloc();
    capacity = n;
  }
  return Tensor::Borrow(DType::kFloat32, shape, buffer.get(), buffer);
}

Tensor Scratch::GetZeroed(size_t slot, const Shape& shape) {
  Tensor t = Get(slot, shape);
  std::fill_n(t.data<float>(), t.numel(), 0.0f);
  return t;
}

int64_t Extent(const Shape& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) p *= shape[i];
  return p;
}

Result<int64_t> NormalizeAxis(const NodeIO& io, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return io.Error("axis ", axis, " out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

}  // namespace privedge::train
