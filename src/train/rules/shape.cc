// Backward rules of the data-movement operators: Flatten, Reshape, Transpose, Concat, Slice and
// Gather. Their forward passes are the reference kernels; gradients move the same elements back.
#include <algorithm>

#include "train/rules/util.h"

namespace privedge::train {
namespace {

Status ReshapeBackward(NodeIO& io) {
  const Tensor* x = io.input(0);
  io.grad_inputs[0] = io.GradOutput(0).Reshaped(x->shape());
  return Status::OK();
}

// Row-major strides of `shape`.
std::vector<int64_t> Strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

// Calls f(flat_index, offset) for each element of `shape` in row-major order, where offset is
// base + sum(index[d] * strides[d]).
template <class F>
void WalkStrided(const Shape& shape, const std::vector<int64_t>& strides, int64_t base, F&& f) {
  const int64_t total = ShapeElementCount(shape);
  if (total <= 0) return;
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t off = base;
  for (int64_t i = 0; i < total; ++i) {
    f(i, off);
    for (size_t d = shape.size(); d-- > 0;) {
      off += strides[d];
      if (++idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// Y = transpose(X, perm): Y[i] = X[j] with j[perm[d]] = i[d]; so dX[j] = dY[i].
Status TransposeBackward(NodeIO& io) {
  const Tensor* x = io.input(0);
  const size_t r = x->rank();
  std::vector<int64_t> perm;
  if (const Attribute* a = io.node->FindAttribute("perm")) perm = a->ints;
  if (perm.empty())
    for (size_t d = 0; d < r; ++d) perm.push_back(static_cast<int64_t>(r - 1 - d));
  if (perm.size() != r) return io.Error("perm has ", perm.size(), " entries for rank ", r);
  const Tensor dy = io.GradOutput(0);
  const std::vector<int64_t> xs = Strides(x->shape());
  std::vector<int64_t> ys(r);
  for (size_t d = 0; d < r; ++d) ys[d] = xs[perm[d]];
  Tensor dx = Zeros(x->shape());
  const float* g = dy.data<float>();
  float* out = dx.data<float>();
  WalkStrided(dy.shape(), ys, 0, [&](int64_t i, int64_t off) { out[off] = g[i]; });
  io.grad_inputs[0] = std::move(dx);
  return Status::OK();
}

Status ConcatBackward(NodeIO& io) {
  const Tensor dy = io.GradOutput(0);
  const Attribute* a = io.node->FindAttribute("axis");
  PE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(io, a ? a->i : 0, dy.rank()));
  const int64_t outer = Extent(dy.shape(), 0, axis),
                inner = Extent(dy.shape(), axis + 1, dy.rank());
  const int64_t row = dy.dim(axis) * inner;
  int64_t at = 0;
  for (size_t k = 0; k < io.inputs.size(); ++k) {
    const Tensor* x = io.input(static_cast<int>(k));
    if (!x) continue;
    const int64_t len = x->dim(axis) * inner;
    if (io.needs_grad[k]) {
      Tensor dx = Zeros(x->shape());
      for (int64_t o = 0; o < outer; ++o)
        std::copy_n(dy.data<float>() + o * row + at, len, dx.data<float>() + o * len);
      io.grad_inputs[k] = std::move(dx);
    }
    at += len;
  }
  return Status::OK();
}

// Reads the integer list of input `i` (opset >= 10) or attribute `name` (before).
std::vector<int64_t> SliceList(const NodeIO& io, int i, const char* name) {
  std::vector<int64_t> v;
  if (io.opset >= 10) {
    if (const Tensor* t = io.input(i))
      for (int64_t k = 0; k < t->numel(); ++k) v.push_back(t->GetAsInt64(k));
  } else if (const Attribute* a = io.node->FindAttribute(name)) {
    v = a->ints;
  }
  return v;
}

Status SliceBackward(NodeIO& io) {
  const Tensor* x = io.input(0);
  const int64_t r = static_cast<int64_t>(x->rank());
  const std::vector<int64_t> starts = SliceList(io, 1, "starts"), ends = SliceList(io, 2, "ends");
  std::vector<int64_t> axes = SliceList(io, 3, "axes"), steps = SliceList(io, 4, "steps");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return io.Error("starts, ends, axes and steps must have the same length");
  std::vector<int64_t> begin(r, 0), step(r, 1);
  for (size_t i = 0; i < starts.size(); ++i) {
    PE_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(io, axes[i], r));
    const int64_t dim = x->dim(ax);
    int64_t s = starts[i];
    if (s < 0) s += dim;
    if (steps[i] == 0) return io.Error("steps must be non-zero");
    s = steps[i] > 0 ? std::clamp<int64_t>(s, 0, dim) : std::clamp<int64_t>(s, 0, dim - 1);
    begin[ax] = s;
    step[ax] = steps[i];
  }
  const Tensor dy = io.GradOutput(0);
  const std::vector<int64_t> xs = Strides(x->shape());
  std::vector<int64_t> ys(r);
  int64_t base = 0;
  for (int64_t d = 0; d < r; ++d) {
    ys[d] = xs[d] * step[d];
    base += begin[d] * xs[d];
  }
  Tensor dx = Zeros(x->shape());
  const float* g = dy.data<float>();
  float* out = dx.data<float>();
  WalkStrided(dy.shape(), ys, base, [&](int64_t i, int64_t off) { out[off] += g[i]; });
  io.grad_inputs[0] = std::move(dx);
  return Status::OK();
}

Status GatherBackward(NodeIO& io) {
  const Tensor *x = io.input(0), *indices = io.input(1);
  const Attribute* a = io.node->FindAttribute("axis");
  PE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(io, a ? a->i : 0, x->rank()));
  const int64_t outer = Extent(x->shape(), 0, axis),
                inner = Extent(x->shape(), axis + 1, x->rank());
  const int64_t dim = x->dim(axis), count = indices->numel();
  const Tensor dy = io.GradOutput(0);
  Tensor dx = Zeros(x->shape());
  const float* g = dy.data<float>();
  float* out = dx.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < count; ++j) {
      int64_t idx = indices->GetAsInt64(j);
      if (idx < 0) idx += dim;
      if (idx < 0 || idx >= dim) return io.Error("index ", indices->GetAsInt64(j), " out of range");
      const float* src = g + (o * count + j) * inner;
      float* dst = out + (o * dim + idx) * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
    }
  }
  io.grad_inputs[0] = std::move(dx);
  return Status::OK();
}

}  // namespace

void RegisterShapeRules(RuleRegistry& r) {
  r.AddSimple("Flatten", ReshapeBackward);
  r.AddSimple("Reshape", ReshapeBackward);
  r.AddSimple("Transpose", TransposeBackward);
  r.AddSimple("Concat", ConcatBackward);
  r.AddSimple("Slice", SliceBackward);
  r.AddSimple("Gather", GatherBackward);
}

}  // namespace privedge::train
