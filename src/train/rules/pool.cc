// Backward rules of MaxPool, AveragePool and GlobalAveragePool. MaxPool remembers where each
// window's maximum came from (the first one on ties) and routes the gradient there.
#include <algorithm>
#include <limits>

#include "kernels/reference/conv_pool_util.h"
#include "train/rules/util.h"

namespace privedge::train {
namespace {

using convpool::TapMap;
using convpool::WindowGeometry;

struct PoolSetup {
  WindowGeometry geometry;
  Shape output_shape;
  int64_t planes = 0;
};

Result<PoolSetup> PreparePool(const NodeIO& io, const Tensor& x) {
  if (x.rank() < 3) return io.Error("X must be [N, C, spatial...], got ", ShapeToString(x.shape()));
  const KernelContext kctx(*io.node, io.opset, {});
  const Shape image(x.shape().begin() + 2, x.shape().end());
  PE_ASSIGN_OR_RETURN(convpool::WindowAttrs attrs,
                      convpool::ReadWindowAttrs(kctx, image.size(), {}));
  PoolSetup s;
  const bool ceil_mode = kctx.attr_int("ceil_mode", 0) != 0;
  PE_ASSIGN_OR_RETURN(s.geometry, convpool::ForwardGeometry(kctx, attrs, image, ceil_mode));
  s.output_shape = {x.dim(0), x.dim(1)};
  s.output_shape.insert(s.output_shape.end(), s.geometry.cols.begin(), s.geometry.cols.end());
  s.planes = x.dim(0) * x.dim(1);
  return s;
}

class MaxPoolRule final : public NodeRule {
 public:
  Status Forward(NodeIO& io) override {
    PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
    PE_ASSIGN_OR_RETURN(PoolSetup s, PreparePool(io, *x));
    const WindowGeometry& g = s.geometry;
    const int64_t cols = ShapeElementCount(g.cols), img = ShapeElementCount(g.image);
    Tensor y = scratch_.Get(0, s.output_shape);
    argmax_.assign(static_cast<size_t>(s.planes * cols), -1);
    const float* xv = x->data<float>();
    float* yv = y.data<float>();
    const float lowest = -std::numeric_limits<float>::infinity();
    const bool inside =
        g.rank() == 2 &&
        std::all_of(g.pads.begin(), g.pads.end(), [](int64_t p) { return p == 0; }) &&
        (g.cols[0] - 1) * g.strides[0] + (g.kernel[0] - 1) * g.dilations[0] < g.image[0] &&
        (g.cols[1] - 1) * g.strides[1] + (g.kernel[1] - 1) * g.dilations[1] < g.image[1];
    if (inside) {  // every window lies inside the image: no bounds checks
      const int64_t w = g.image[1], oh = g.cols[0], ow = g.cols[1];
      const int64_t kh = g.kernel[0], kw = g.kernel[1], sh = g.strides[0], sw = g.strides[1];
      const int64_t dh = g.dilations[0] * w, dw = g.dilations[1];
#pragma omp parallel for if (s.planes * cols > (1 << 16))
      for (int64_t p = 0; p < s.planes; ++p) {
        const float* xp = xv + p * img;
        float* yp = yv + p * cols;
        int64_t* ap = argmax_.data() + p * cols;
        for (int64_t i = 0; i < oh; ++i) {
          for (int64_t j = 0; j < ow; ++j) {
            const int64_t base = i * sh * w + j * sw;
            float best = xp[base];
            int64_t at = base;
            for (int64_t ki = 0; ki < kh; ++ki) {
              for (int64_t kj = 0; kj < kw; ++kj) {
                const int64_t off = base + ki * dh + kj * dw;
                if (xp[off] > best) {
                  best = xp[off];
                  at = off;
                }
              }
            }
            yp[i * ow + j] = best;
            ap[i * ow + j] = at;
          }
        }
      }
    } else if (g.rank() == 2) {
      const int64_t h = g.image[0], w = g.image[1], oh = g.cols[0], ow = g.cols[1];
      for (int64_t p = 0; p < s.planes; ++p) {
        const float* xp = xv + p * img;
        for (int64_t i = 0; i < oh; ++i) {
          for (int64_t j = 0; j < ow; ++j) {
            float best = lowest;
            int64_t at = -1;
            for (int64_t ki = 0; ki < g.kernel[0]; ++ki) {
              const int64_t r = i * g.strides[0] - g.pads[0] + ki * g.dilations[0];
              if (r < 0 || r >= h) continue;
              for (int64_t kj = 0; kj < g.kernel[1]; ++kj) {
                const int64_t c = j * g.strides[1] - g.pads[1] + kj * g.dilations[1];
                if (c < 0 || c >= w) continue;
                if (at < 0 || xp[r * w + c] > best) {
                  best = xp[r * w + c];
                  at = r * w + c;
                }
              }
            }
            yv[p * cols + i * ow + j] = best;
            argmax_[p * cols + i * ow + j] = at;
          }
        }
      }
    } else {
      const TapMap map(g);
      for (int64_t p = 0; p < s.planes; ++p) {
        const float* xp = xv + p * img;
        float* yp = yv + p * cols;
        int64_t* ap = argmax_.data() + p * cols;
        std::fill(yp, yp + cols, lowest);
        map.ForEach([&](int64_t, int64_t col, int64_t off) {
          if (off >= 0 && (ap[col] < 0 || xp[off] > yp[col])) {
            yp[col] = xp[off];
            ap[col] = off;
          }
        });
      }
    }
    io.outputs.assign(io.node->outputs.size(), Value());
    io.outputs[0] = Value::FromTensor(std::move(y));
    if (io.outputs.size() > 1 && !io.node->outputs[1].empty()) {
      const Attribute* order = io.node->FindAttribute("storage_order");
      if (order && order->i != 0)
        return NotImplemented(io.node->Describe(),
                              ": training supports MaxPool Indices only with storage_order 0");
      Tensor indices(DType::kInt64, s.output_shape);
      for (size_t i = 0; i < argmax_.size(); ++i)
        indices.data<int64_t>()[i] =
            argmax_[i] < 0 ? -1 : static_cast<int64_t>(i) / cols * img + argmax_[i];
      io.outputs[1] = Value::FromTensor(std::move(indices));
    }
    img_ = img;
    cols_ = cols;
    return Status::OK();
  }

  Status Backward(NodeIO& io) override {
    const Tensor dy = io.GradOutput(0);
    Tensor dx = scratch_.GetZeroed(1, io.input(0)->shape());
    const float* g = dy.data<float>();
    float* out = dx.data<float>();
    const int64_t planes = cols_ ? static_cast<int64_t>(argmax_.size()) / cols_ : 0;
    // Planes are disjoint, so they can be filled in parallel.
#pragma omp parallel for if (planes * cols_ > (1 << 16))
    for (int64_t p = 0; p < planes; ++p) {
      for (int64_t i = p * cols_; i < (p + 1) * cols_; ++i)
        if (argmax_[i] >= 0) out[p * img_ + argmax_[i]] += g[i];
    }
    io.grad_inputs[0] = std::move(dx);
    return Status::OK();
  }

 private:
  std::vector<int64_t> argmax_;  // per output element: offset in its plane, -1 if none
  int64_t img_ = 0, cols_ = 0;
  Scratch scratch_;
};

// dx[tap@p] += dy[p] / n(p), with n the number of taps inside the image (or inside the padded
// image with count_include_pad), as in the forward average.
Status AveragePoolBackward(NodeIO& io) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
  PE_ASSIGN_OR_RETURN(PoolSetup s, PreparePool(io, *x));
  const Attribute* include = io.node->FindAttribute("count_include_pad");
  const bool include_pad = include && include->i != 0;
  const TapMap map(s.geometry);
  const int64_t cols = map.cols(), img = map.image_size();
  std::vector<int64_t> count = map.PaddedTapCounts();
  if (!include_pad) {
    std::fill(count.begin(), count.end(), 0);
    map.ForEach([&](int64_t, int64_t p, int64_t off) {
      if (off >= 0) ++count[p];
    });
  }
  const Tensor dy = io.GradOutput(0);
  Tensor dx = Zeros(x->shape());
  const float* g = dy.data<float>();
  float* out = dx.data<float>();
  for (int64_t plane = 0; plane < s.planes; ++plane) {
    const float* gp = g + plane * cols;
    float* op = out + plane * img;
    map.ForEach([&](int64_t, int64_t p, int64_t off) {
      if (off >= 0 && count[p] > 0) op[off] += gp[p] / static_cast<float>(count[p]);
    });
  }
  io.grad_inputs[0] = std::move(dx);
  return Status::OK();
}

Status GlobalAveragePoolBackward(NodeIO& io) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
  const Tensor dy = io.GradOutput(0);
  Tensor dx = Zeros(x->shape());
  const int64_t planes = x->dim(0) * x->dim(1), img = planes ? x->numel() / planes : 0;
  const float* g = dy.data<float>();
  float* out = dx.data<float>();
  for (int64_t p = 0; p < planes; ++p) std::fill(out + p * img, out + (p + 1) * img, g[p] / img);
  io.grad_inputs[0] = std::move(dx);
  return Status::OK();
}

Result<std::unique_ptr<NodeRule>> MakeMaxPool(const Node&, int64_t) {
  return std::unique_ptr<NodeRule>(new MaxPoolRule);
}

}  // namespace

void RegisterPoolRules(RuleRegistry& r) {
  r.Add("MaxPool", MakeMaxPool);
  r.AddSimple("AveragePool", AveragePoolBackward);
  r.AddSimple("GlobalAveragePool", GlobalAveragePoolBackward);
}

}  // namespace privedge::train
