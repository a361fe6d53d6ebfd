// Losses on a model output: the value, the accuracy count and the gradient of the mean loss.
#pragma once

#include "privedge/tensor.h"
#include "privedge/training.h"

namespace privedge::train {

struct LossValue {
  double loss = 0;
  int64_t correct = 0;
  int64_t count = 0;
  Tensor grad;  // d loss / d output; set when asked for
};

Result<LossValue> ComputeLoss(LossKind kind, const Tensor& output, const Tensor& labels,
                              bool want_grad);

}  // namespace privedge::train
