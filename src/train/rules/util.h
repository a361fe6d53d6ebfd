// Helpers shared by the backward rules: broadcasting walks, reductions, GEMM.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "privedge/tensor.h"
#include "train/rule.h"

namespace privedge::train {

// Numpy-style broadcast of two shapes, or an error naming the node.
Result<Shape> BroadcastShapes(const NodeIO& io, const Shape& a, const Shape& b);

// Calls f(out_index, a_index, b_index) for every element of `out` (the broadcast of a and b).
template <class F>
void ForEachBroadcast(const Shape& out, const Shape& a, const Shape& b, F&& f) {
  const size_t r = out.size();
  std::vector<int64_t> sa(r, 0), sb(r, 0);
  int64_t ka = 1, kb = 1;
  for (size_t i = r; i-- > 0;) {
    const size_t ia = i + a.size() - r, ib = i + b.size() - r;
    if (i + a.size() >= r) {
      sa[i] = a[ia] == 1 ? 0 : ka;
      ka *= a[ia];
    }
    if (i + b.size() >= r) {
      sb[i] = b[ib] == 1 ? 0 : kb;
      kb *= b[ib];
    }
  }
  const int64_t total = ShapeElementCount(out);
  if (total <= 0) return;
  const int64_t inner = r ? out[r - 1] : 1;
  const int64_t ia_step = r ? sa[r - 1] : 0, ib_step = r ? sb[r - 1] : 0;
  std::vector<int64_t> idx(r, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t o = 0; o < total; o += inner) {
    for (int64_t j = 0; j < inner; ++j) f(o + j, oa + j * ia_step, ob + j * ib_step);
    for (size_t d = r > 0 ? r - 1 : 0; d-- > 0;) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < out[d]) break;
      oa -= sa[d] * out[d];
      ob -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

// Row-major C = alpha * op(A) * op(B) + beta * C through oneDNN's sgemm (OpenMP threads of the
// calling thread). A is M x K (K x M when trans_a), B is K x N (N x K when trans_b).
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// A zeroed float32 tensor.
inline Tensor Zeros(const Shape& shape) { return Tensor(DType::kFloat32, shape); }

// Float buffers a rule keeps from step to step, so large activations and gradients do not cost
// a fresh allocation (page faults, zeroing) every step. A tensor from slot k stays valid until
// the same slot is asked for again, which the tape does only in the next step: every value of
// a step is dropped before the next forward pass.
class Scratch {
 public:
  // An uninitialized float32 tensor of `shape` backed by slot `slot`.
  Tensor Get(size_t slot, const Shape& shape);
  // The same, zero-filled.
  Tensor GetZeroed(size_t slot, const Shape& shape);

 private:
  std::vector<std::pair<std::shared_ptr<float[]>, int64_t>> buffers_;
};

// Product of shape[begin, end).
int64_t Extent(const Shape& shape, size_t begin, size_t end);

// Normalizes an axis attribute against `rank` (negative counts from the end).
Result<int64_t> NormalizeAxis(const NodeIO& io, int64_t axis, int64_t rank);

}  // namespace privedge::train
