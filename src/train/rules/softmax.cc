// Backward rules of Softmax and LogSoftmax. Opset 13 normalizes along one axis (default -1);
// earlier opsets flatten the input to 2-D at `axis` (default 1) and normalize each row.
#include <cmath>

#include "train/rules/util.h"

namespace privedge::train {
namespace {

// The (outer, n, inner) blocks the operator normalizes over: n elements with stride inner.
Status SoftmaxBlocks(const NodeIO& io, const Shape& shape, int64_t& outer, int64_t& n,
                     int64_t& inner) {
  const Attribute* attr = io.node->FindAttribute("axis");
  const int64_t rank = static_cast<int64_t>(shape.size());
  PE_ASSIGN_OR_RETURN(int64_t axis,
                      NormalizeAxis(io, attr ? attr->i : (io.opset >= 13 ? -1 : 1), rank));
  outer = Extent(shape, 0, axis);
  if (io.opset >= 13) {
    n = shape[axis];
    inner = Extent(shape, axis + 1, rank);
  } else {
    n = Extent(shape, axis, rank);
    inner = 1;
  }
  return Status::OK();
}

// Softmax: dx = y * (dy - sum(dy * y)); LogSoftmax: dx = dy - exp(y) * sum(dy).
template <bool kLog>
Status SoftmaxBackward(NodeIO& io) {
  const Tensor& y = io.outputs[0].tensor;
  const Tensor dy = io.GradOutput(0);
  int64_t outer = 0, n = 0, inner = 0;
  PE_RETURN_IF_ERROR(SoftmaxBlocks(io, y.shape(), outer, n, inner));
  Tensor dx = Zeros(y.shape());
  const float *yv = y.data<float>(), *g = dy.data<float>();
  float* out = dx.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * n * inner + i;
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t at = base + j * inner;
        sum += kLog ? g[at] : static_cast<double>(g[at]) * yv[at];
      }
      for (int64_t j = 0; j < n; ++j) {
        const int64_t at = base + j * inner;
        out[at] = kLog ? static_cast<float>(g[at] - std::exp(yv[at]) * sum)
                       : static_cast<float>(yv[at] * (g[at] - sum));
      }
    }
  }
  io.grad_inputs[0] = std::move(dx);
  return Status::OK();
}

}  // namespace

void RegisterSoftmaxRules(RuleRegistry& r) {
  r.AddSimple("Softmax", SoftmaxBackward<false>);
  r.AddSimple("LogSoftmax", SoftmaxBackward<true>);
}

}  // namespace privedge::train
