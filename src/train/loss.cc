#include "train/loss.h"

#include <algorithm>
#include <cmath>

namespace privedge::train {
namespace {

Result<LossValue> SoftmaxCrossEntropy(const Tensor& z, const Tensor& labels, bool want_grad) {
  if (z.rank() != 2)
    return InvalidArgument("softmax cross-entropy needs an output [N, C], got ",
                           ShapeToString(z.shape()));
  const int64_t n = z.dim(0), c = z.dim(1);
  if ((labels.dtype() != DType::kInt64 && labels.dtype() != DType::kInt32) || labels.numel() != n)
    return InvalidArgument("labels: expected int64 [", n, "], got ", DTypeName(labels.dtype()), " ",
                           ShapeToString(labels.shape()));
  LossValue v;
  v.count = n;
  if (want_grad) v.grad = Tensor(DType::kFloat32, z.shape());
  const float* zv = z.data<float>();
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = labels.GetAsInt64(i);
    if (y < 0 || y >= c) return InvalidArgument("label ", y, " at ", i, " is outside [0, ", c, ")");
    const float* row = zv + i * c;
    const int64_t best = std::max_element(row, row + c) - row;
    double sum = 0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(static_cast<double>(row[j]) - row[best]);
    const double log_sum = std::log(sum) + row[best];
    total += log_sum - row[y];
    v.correct += best == y;
    if (want_grad) {
      float* g = v.grad.data<float>() + i * c;
      for (int64_t j = 0; j < c; ++j)
        g[j] = static_cast<float>((std::exp(row[j] - log_sum) - (j == y ? 1.0 : 0.0)) / n);
    }
  }
  v.loss = n ? total / n : 0;
  return v;
}

Result<LossValue> Elementwise(LossKind kind, const Tensor& out, const Tensor& labels,
                              bool want_grad) {
  if (labels.dtype() != DType::kFloat32 || labels.shape() != out.shape())
    return InvalidArgument("labels: expected float32 ", ShapeToString(out.shape()), ", got ",
                           DTypeName(labels.dtype()), " ", ShapeToString(labels.shape()));
  LossValue v;
  const int64_t m = out.numel();
  if (want_grad) v.grad = Tensor(DType::kFloat32, out.shape());
  const float *o = out.data<float>(), *y = labels.data<float>();
  float* g = want_grad ? v.grad.data<float>() : nullptr;
  double total = 0;
  for (int64_t i = 0; i < m; ++i) {
    const double z = o[i], t = y[i];
    double d = 0;
    if (kind == LossKind::kMeanSquaredError) {
      total += (z - t) * (z - t);
      d = 2 * (z - t);
    } else if (kind == LossKind::kBinaryCrossEntropy) {
      const double p = std::clamp(z, 1e-7, 1 - 1e-7);
      total += -(t * std::log(p) + (1 - t) * std::log(1 - p));
      d = (z > 1e-7 && z < 1 - 1e-7) ? (p - t) / (p * (1 - p)) : 0.0;
      v.correct += (z > 0.5) == (t > 0.5);
    } else {  // with logits: max(z, 0) - z t + log(1 + exp(-|z|))
      total += std::max(z, 0.0) - z * t + std::log1p(std::exp(-std::fabs(z)));
      d = 1 / (1 + std::exp(-z)) - t;
      v.correct += (z > 0) == (t > 0.5);
    }
    if (g) g[i] = static_cast<float>(d / m);
  }
  v.loss = m ? total / m : 0;
  v.count = kind == LossKind::kMeanSquaredError ? (out.rank() ? out.dim(0) : 1) : m;
  return v;
}

}  // namespace

Result<LossValue> ComputeLoss(LossKind kind, const Tensor& output, const Tensor& labels,
                              bool want_grad) {
  if (!labels.defined()) return InvalidArgument("labels are missing");
  if (kind == LossKind::kSoftmaxCrossEntropy) return SoftmaxCrossEntropy(output, labels, want_grad);
  return Elementwise(kind, output, labels, want_grad);
}

}  // namespace privedge::train
