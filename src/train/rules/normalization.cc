// Backward rules of BatchNormalization and LayerNormalization.
//
// BatchNormalization in a training step normalizes with the batch's statistics (population
// variance) and updates the running mean and variance in place of the initializers:
// running = momentum * running + (1 - momentum) * batch, the variance term unbiased (m/(m-1))
// as PyTorch does, so an exported model evaluates like the PyTorch model would. In evaluation it
// uses the running statistics.
#include <cmath>

#include "train/rules/util.h"

namespace privedge::train {
namespace {

float FloatAttr(const Node& node, const char* name, float def) {
  const Attribute* a = node.FindAttribute(name);
  return a ? a->f : def;
}

class BatchNormRule final : public NodeRule {
 public:
  Status Forward(NodeIO& io) override {
    PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
    if (x->rank() < 2) return io.Error("X must be [N, C, ...], got ", ShapeToString(x->shape()));
    const int64_t c = x->dim(1), n = x->dim(0), inner = Extent(x->shape(), 2, x->rank());
    const Tensor* params[4];
    for (int i = 0; i < 4; ++i) {
      PE_ASSIGN_OR_RETURN(params[i], io.FloatInput(i + 1));
      if (params[i]->numel() != c)
        return io.Error("input ", i + 1, " must have ", c, " values, got ",
                        ShapeToString(params[i]->shape()));
    }
    const float *scale = params[0]->data<float>(), *bias = params[1]->data<float>();
    const float *run_mean = params[2]->data<float>(), *run_var = params[3]->data<float>();
    const double eps = FloatAttr(*io.node, "epsilon", 1e-5f);
    const double momentum = FloatAttr(*io.node, "momentum", 0.9f);
    mean_.assign(c, 0);
    invstd_.assign(c, 0);
    const float* xv = x->data<float>();
    const int64_t m = n * inner;
    Tensor new_mean = Zeros({c}), new_var = Zeros({c});
    for (int64_t ch = 0; ch < c; ++ch) {
      double mean = run_mean[ch], var = run_var[ch];
      if (io.training) {
        double s = 0, s2 = 0;
        for (int64_t b = 0; b < n; ++b) {
          const float* p = xv + (b * c + ch) * inner;
          for (int64_t i = 0; i < inner; ++i) s += p[i];
        }
        mean = m ? s / m : 0;
        for (int64_t b = 0; b < n; ++b) {
          const float* p = xv + (b * c + ch) * inner;
          for (int64_t i = 0; i < inner; ++i) s2 += (p[i] - mean) * (p[i] - mean);
        }
        var = m ? s2 / m : 0;
        const double unbiased = m > 1 ? s2 / (m - 1) : var;
        new_mean.data<float>()[ch] =
            static_cast<float>(momentum * run_mean[ch] + (1 - momentum) * mean);
        new_var.data<float>()[ch] =
            static_cast<float>(momentum * run_var[ch] + (1 - momentum) * unbiased);
      }
      mean_[ch] = mean;
      invstd_[ch] = 1.0 / std::sqrt(var + eps);
    }
    Tensor y = Zeros(x->shape());
    float* yv = y.data<float>();
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const float a = static_cast<float>(scale[ch] * invstd_[ch]);
        const float shift = static_cast<float>(bias[ch] - mean_[ch] * scale[ch] * invstd_[ch]);
        const float* p = xv + (b * c + ch) * inner;
        float* q = yv + (b * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) q[i] = a * p[i] + shift;
      }
    }
    io.outputs.assign(io.node->outputs.size(), Value());
    io.outputs[0] = Value::FromTensor(std::move(y));
    if (io.training) {
      io.updated_inputs = {{3, new_mean}, {4, new_var}};
      for (size_t k = 1; k < io.outputs.size(); ++k)
        io.outputs[k] = Value::FromTensor(k == 1 ? new_mean : k == 2 ? new_var : Zeros({c}));
    }
    return Status::OK();
  }

  Status Backward(NodeIO& io) override {
    const Tensor* x = io.input(0);
    const Tensor dy = io.GradOutput(0);
    const int64_t c = x->dim(1), n = x->dim(0), inner = Extent(x->shape(), 2, x->rank());
    const double m = static_cast<double>(n * inner);
    const float *xv = x->data<float>(), *g = dy.data<float>(), *scale = io.input(1)->data<float>();
    Tensor dx = Zeros(x->shape()), dscale = Zeros({c}), dbias = Zeros({c});
    for (int64_t ch = 0; ch < c; ++ch) {
      double sum_g = 0, sum_gx = 0;
      for (int64_t b = 0; b < n; ++b) {
        const float *p = xv + (b * c + ch) * inner, *gp = g + (b * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          sum_g += gp[i];
          sum_gx += gp[i] * (p[i] - mean_[ch]) * invstd_[ch];
        }
      }
      dbias.data<float>()[ch] = static_cast<float>(sum_g);
      dscale.data<float>()[ch] = static_cast<float>(sum_gx);
      const double k = scale[ch] * invstd_[ch];
      for (int64_t b = 0; b < n; ++b) {
        const float *p = xv + (b * c + ch) * inner, *gp = g + (b * c + ch) * inner;
        float* q = dx.data<float>() + (b * c + ch) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          const double xhat = (p[i] - mean_[ch]) * invstd_[ch];
          q[i] = static_cast<float>(k * (gp[i] - sum_g / m - xhat * sum_gx / m));
        }
      }
    }
    io.grad_inputs[0] = std::move(dx);
    io.grad_inputs[1] = std::move(dscale);
    io.grad_inputs[2] = std::move(dbias);
    for (int i = 3; i < 5; ++i) io.grad_inputs[i] = Zeros(io.input(i)->shape());
    return Status::OK();
  }

 private:
  std::vector<double> mean_, invstd_;
};

// LayerNormalization over axes [axis, rank): per row, xhat = (x - mean) * invstd,
// dx = invstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * scale.
Status LayerNormBackward(NodeIO& io) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* scale, io.FloatInput(1));
  const Attribute* axis_attr = io.node->FindAttribute("axis");
  PE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(io, axis_attr ? axis_attr->i : -1, x->rank()));
  const int64_t rows = Extent(x->shape(), 0, axis), n = Extent(x->shape(), axis, x->rank());
  const Tensor* bias = io.input(2);
  if (scale->numel() != n || (bias && bias->numel() != n))
    return NotImplemented(io.node->Describe(),
                          ": training needs Scale and B with one value per "
                          "normalized element (",
                          n, "), got ", ShapeToString(scale->shape()));
  const double eps = FloatAttr(*io.node, "epsilon", 1e-5f);
  const Tensor dy = io.GradOutput(0);
  Tensor dx = Zeros(x->shape()), dscale = Zeros(scale->shape());
  Tensor dbias = bias ? Zeros(bias->shape()) : Tensor();
  const float *xv = x->data<float>(), *g = dy.data<float>(), *s = scale->data<float>();
  std::vector<double> xhat(n);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = xv + r * n, *gr = g + r * n;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += xr[i];
    mean /= n;
    for (int64_t i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    const double invstd = 1.0 / std::sqrt(var / n + eps);
    double mean_g = 0, mean_gx = 0;
    for (int64_t i = 0; i < n; ++i) {
      xhat[i] = (xr[i] - mean) * invstd;
      const double gi = static_cast<double>(gr[i]) * s[i];
      mean_g += gi;
      mean_gx += gi * xhat[i];
      dscale.data<float>()[i] += static_cast<float>(gr[i] * xhat[i]);
      if (bias) dbias.data<float>()[i] += gr[i];
    }
    mean_g /= n;
    mean_gx /= n;
    float* out = dx.data<float>() + r * n;
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<float>(invstd * (gr[i] * s[i] - mean_g - xhat[i] * mean_gx));
  }
  io.grad_inputs[0] = std::move(dx);
  io.grad_inputs[1] = std::move(dscale);
  if (bias) io.grad_inputs[2] = std::move(dbias);
  return Status::OK();
}

Result<std::unique_ptr<NodeRule>> MakeBatchNorm(const Node& node, int64_t) {
  if (node.inputs.size() != 5)
    return InvalidModel(node.Describe(), ": BatchNormalization needs 5 inputs");
  return std::unique_ptr<NodeRule>(new BatchNormRule);
}

}  // namespace

void RegisterNormalizationRules(RuleRegistry& r) {
  r.Add("BatchNormalization", MakeBatchNorm);
  r.AddSimple("LayerNormalization", LayerNormBackward);
}

}  // namespace privedge::train
