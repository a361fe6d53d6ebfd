// Backward rule of Conv (1-D and 2-D; groups, depthwise, strides, dilations, pads, auto_pad) on
// oneDNN: forward_training, backward_data and backward_weights primitives, built once per input
// shape and kept with their working buffers. User tensors stay plain NCHW/OIHW; the primitives
// work in the layouts oneDNN picks, with reorders on either side. A 1-D convolution runs as a
// 2-D one of height 1.
#include <dnnl.hpp>
#include <map>
#include <optional>

#include "kernels/reference/conv_pool_util.h"
#include "train/rules/util.h"

namespace privedge::train {
namespace {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;
using DT = dnnl::memory::data_type;

const dnnl::engine& Engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A buffer in a primitive's layout, or the user's plain tensor itself when the layouts agree.
struct Staged {
  memory::desc want;
  memory buffer;  // owned memory when want differs from the user layout
  bool reorder = false;
  dnnl::reorder to_want, to_user;  // built once

  void Init(const memory::desc& user, const memory::desc& wanted) {
    want = wanted;
    reorder = user != wanted;
    if (!reorder) return;
    buffer = memory(wanted, Engine());
    to_want = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), user, Engine(), wanted));
    to_user = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), wanted, Engine(), user));
  }
  // The memory holding `data` (plain, `user` layout) in the wanted layout, reordering into the
  // buffer if needed.
  memory In(dnnl::stream& s, const memory::desc& user, const float* data) {
    memory plain(user, Engine(), const_cast<float*>(data));
    if (!reorder) return plain;
    to_want.execute(s, plain, buffer);
    return buffer;
  }
  // Memory to compute into; Out() then moves it to the plain tensor.
  memory Target(const memory::desc& user, float* data) {
    return reorder ? buffer : memory(user, Engine(), data);
  }
  void Out(dnnl::stream& s, const memory::desc& user, float* data) {
    if (!reorder) return;
    memory plain(user, Engine(), data);
    to_user.execute(s, buffer, plain);
  }
};

struct ConvPlan {
  Shape output_shape;
  memory::dims strides, dilations, pad_l, pad_r;
  memory::desc user_src, user_w, user_dst, bias;
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_weights::primitive_desc bww_pd;
  dnnl::convolution_backward_weights bww;
  std::optional<dnnl::convolution_backward_data> bwd;
  dnnl::convolution_backward_data::primitive_desc bwd_pd;
  Staged src, w, dst;              // forward
  Staged bww_src, bww_dst, bww_w;  // backward weights (src reuses `src` when equal)
  Staged bwd_dst, bwd_w, bwd_src;  // backward data
};

class ConvRule final : public NodeRule {
 public:
  Status Forward(NodeIO& io) override {
    PE_ASSIGN_OR_RETURN(const Tensor* x, io.FloatInput(0));
    PE_ASSIGN_OR_RETURN(const Tensor* w, io.FloatInput(1));
    const Tensor* b = nullptr;
    if (io.input(2)) {
      PE_ASSIGN_OR_RETURN(b, io.FloatInput(2));
      if (b->rank() != 1 || b->dim(0) != w->dim(0))
        return io.Error("B must be [", w->dim(0), "], got ", ShapeToString(b->shape()));
    }
    Shape key = x->shape();
    key.insert(key.end(), w->shape().begin(), w->shape().end());
    key.push_back(b ? 1 : 0);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      PE_ASSIGN_OR_RETURN(auto plan, Build(io, x->shape(), w->shape(), b != nullptr));
      it = plans_.emplace(key, std::move(plan)).first;
    }
    plan_ = it->second.get();
    ConvPlan& p = *plan_;
    Tensor y = scratch_.Get(0, p.output_shape);
    dnnl::stream s(Engine());
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_SRC] = p.src.In(s, p.user_src, x->data<float>());
    args[DNNL_ARG_WEIGHTS] = p.w.In(s, p.user_w, w->data<float>());
    args[DNNL_ARG_DST] = p.dst.Target(p.user_dst, y.data<float>());
    if (b) args[DNNL_ARG_BIAS] = memory(p.bias, Engine(), const_cast<float*>(b->data<float>()));
    p.fwd.execute(s, args);
    p.dst.Out(s, p.user_dst, y.data<float>());
    s.wait();
    io.outputs = {Value::FromTensor(std::move(y))};
    return Status::OK();
  }

  Status Backward(NodeIO& io) override {
    ConvPlan& p = *plan_;
    const Tensor *x = io.input(0), *w = io.input(1);
    const Tensor dy = io.GradOutput(0);
    dnnl::stream s(Engine());
    const bool want_w = io.needs_grad[1];
    const bool want_b = io.needs_grad.size() > 2 && io.needs_grad[2];
    if (want_w || want_b) {
      Tensor dw = scratch_.Get(1, w->shape());
      Tensor db = Zeros({w->dim(0)});
      std::unordered_map<int, memory> args;
      // The forward pass left X in the forward layout; reuse it when backward wants the same.
      if (p.bww_src.want == p.src.want && p.src.reorder) {
        args[DNNL_ARG_SRC] = p.src.buffer;
      } else {
        args[DNNL_ARG_SRC] = p.bww_src.In(s, p.user_src, x->data<float>());
      }
      args[DNNL_ARG_DIFF_DST] = p.bww_dst.In(s, p.user_dst, dy.data<float>());
      args[DNNL_ARG_DIFF_WEIGHTS] = p.bww_w.Target(p.user_w, dw.data<float>());
      if (io.input(2)) args[DNNL_ARG_DIFF_BIAS] = memory(p.bias, Engine(), db.data<float>());
      p.bww.execute(s, args);
      p.bww_w.Out(s, p.user_w, dw.data<float>());
      s.wait();
      io.grad_inputs[1] = std::move(dw);
      if (want_b) io.grad_inputs[2] = std::move(db);
    }
    if (io.needs_grad[0]) {
      if (!p.bwd) {
        try {
          p.bwd_pd =
              dnnl::convolution_backward_data::primitive_desc(BwdDataDesc(p), Engine(), p.fwd_pd);
          p.bwd = dnnl::convolution_backward_data(p.bwd_pd);
        } catch (const dnnl::error& e) {
          return Internal(io.node->Describe(), ": oneDNN backward-data convolution: ", e.what());
        }
        p.bwd_dst.Init(p.user_dst, p.bwd_pd.diff_dst_desc());
        p.bwd_w.Init(p.user_w, p.bwd_pd.weights_desc());
        p.bwd_src.Init(p.user_src, p.bwd_pd.diff_src_desc());
      }
      Tensor dx = scratch_.Get(2, x->shape());
      std::unordered_map<int, memory> args;
      args[DNNL_ARG_DIFF_DST] =
          p.bwd_dst.want == p.bww_dst.want && p.bww_dst.reorder && (want_w || want_b)
              ? p.bww_dst.buffer
              : p.bwd_dst.In(s, p.user_dst, dy.data<float>());
      args[DNNL_ARG_WEIGHTS] = p.bwd_w.want == p.w.want && p.w.reorder
                                   ? p.w.buffer
                                   : p.bwd_w.In(s, p.user_w, w->data<float>());
      args[DNNL_ARG_DIFF_SRC] = p.bwd_src.Target(p.user_src, dx.data<float>());
      p.bwd->execute(s, args);
      p.bwd_src.Out(s, p.user_src, dx.data<float>());
      s.wait();
      io.grad_inputs[0] = std::move(dx);
    }
    return Status::OK();
  }

 private:
  static memory::desc Any(const memory::desc& d) {
    return memory::desc(d.dims(), DT::f32, Tag::any);
  }

  static dnnl::convolution_backward_data::desc BwdDataDesc(const ConvPlan& p) {
    return dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct,
                                                 Any(p.user_src), Any(p.user_w), Any(p.user_dst),
                                                 p.strides, p.dilations, p.pad_l, p.pad_r);
  }

  Result<std::unique_ptr<ConvPlan>> Build(const NodeIO& io, const Shape& x, const Shape& w,
                                          bool has_bias) {
    const KernelContext kctx(*io.node, io.opset, {});
    PE_ASSIGN_OR_RETURN(convpool::ConvSetup s, convpool::PrepareConv(kctx, x, w));
    const auto& g = s.geometry;
    const size_t r = g.rank();
    if (r != 1 && r != 2)
      return NotImplemented(io.node->Describe(), ": training supports 1-D and 2-D Conv, got ", r,
                            "-D");
    // A 1-D convolution is a 2-D one over an image of height 1.
    auto as2d = [r](const Shape& v, int64_t fill) {
      Shape out = v;
      if (r == 1) out.insert(out.end() - 1, fill);
      return out;
    };
    Shape x4 = as2d(x, 1), w4 = as2d(w, 1), y4 = as2d(s.output_shape, 1);
    auto p = std::make_unique<ConvPlan>();
    p->strides = {r == 1 ? 1 : g.strides[0], g.strides[r - 1]};
    p->dilations = {r == 1 ? 0 : g.dilations[0] - 1, g.dilations[r - 1] - 1};
    p->pad_l = {r == 1 ? 0 : g.pads[0], g.pads[r - 1]};
    p->pad_r = {r == 1 ? 0 : g.pads[r], g.pads[2 * r - 1]};
    p->output_shape = s.output_shape;
    const int64_t group = s.dims.group;
    p->user_src = memory::desc(memory::dims(x4.begin(), x4.end()), DT::f32, Tag::nchw);
    p->user_dst = memory::desc(memory::dims(y4.begin(), y4.end()), DT::f32, Tag::nchw);
    p->user_w =
        group == 1 ? memory::desc(memory::dims(w4.begin(), w4.end()), DT::f32, Tag::oihw)
                   : memory::desc({group, w4[0] / group, w4[1], w4[2], w4[3]}, DT::f32, Tag::goihw);
    const memory::desc bias = has_bias ? memory::desc({w[0]}, DT::f32, Tag::x) : memory::desc();
    p->bias = memory::desc({w[0]}, DT::f32, Tag::x);
    try {
      dnnl::convolution_forward::desc fd(
          dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, Any(p->user_src),
          Any(p->user_w), bias, Any(p->user_dst), p->strides, p->dilations, p->pad_l, p->pad_r);
      p->fwd_pd = dnnl::convolution_forward::primitive_desc(fd, Engine());
      p->fwd = dnnl::convolution_forward(p->fwd_pd);
      p->src.Init(p->user_src, p->fwd_pd.src_desc());
      p->w.Init(p->user_w, p->fwd_pd.weights_desc());
      p->dst.Init(p->user_dst, p->fwd_pd.dst_desc());
      dnnl::convolution_backward_weights::desc wd(
          dnnl::algorithm::convolution_direct, Any(p->user_src), Any(p->user_w), bias,
          Any(p->user_dst), p->strides, p->dilations, p->pad_l, p->pad_r);
      p->bww_pd = dnnl::convolution_backward_weights::primitive_desc(wd, Engine(), p->fwd_pd);
      p->bww = dnnl::convolution_backward_weights(p->bww_pd);
      p->bww_src.Init(p->user_src, p->bww_pd.src_desc());
      p->bww_dst.Init(p->user_dst, p->bww_pd.diff_dst_desc());
      p->bww_w.Init(p->user_w, p->bww_pd.diff_weights_desc());
    } catch (const dnnl::error& e) {
      return Internal(io.node->Describe(), ": oneDNN convolution for input ", ShapeToString(x),
                      ": ", e.what());
    }
    return p;
  }

  std::map<Shape, std::unique_ptr<ConvPlan>> plans_;
  Scratch scratch_;
  ConvPlan* plan_ = nullptr;  // the plan of the last forward
};

Result<std::unique_ptr<NodeRule>> MakeConv(const Node&, int64_t) {
  return std::unique_ptr<NodeRule>(new ConvRule);
}

}  // namespace

void RegisterConvRules(RuleRegistry& r) { r.Add("Conv", MakeConv); }

}  // namespace privedge::train
