// dnnl_f32_rnn, dnnl_f32_gru, dnnl_f32_lstm: float32 RNN, GRU and LSTM through oneDNN's RNN
// primitives, which compute the input projection of all time steps as one GEMM, run the
// recurrent GEMMs on weights packed once, and fuse the gate activations.
//
// ONNX and oneDNN order the gates differently (LSTM: ONNX i, o, f, c; oneDNN i, f, c, o;
// peepholes ONNX i, o, f; oneDNN i, f, o) and store W/R transposed to each other, so the
// constant W, R, B and P are rearranged into oneDNN's plain layouts at session creation, and
// W and R reordered from there into the layout the primitive asks for. The kernel accepts nodes
// whose W, R (and B, P when given) are constants and whose attributes oneDNN computes exactly:
// default activations (RNN: one of Tanh, Relu, Sigmoid for every direction), no clip, no
// input_forget. At run time X must be float32 and every sequence_lens value (if given) the
// full sequence length; anything else runs the reference kernel.
//
// An LSTM without peepholes at batch <= 8 with a hidden size that is a multiple of 16 runs
// differently where the CPU has AVX-512: one oneDNN matmul projects the inputs of all steps
// (and directions), then the hand-written steps of lstm_steps.h do the recurrence on R
// repacked for them at session creation (about 2.3 us per step at hidden 128 against
// 3.6-4.6 us for oneDNN's primitive at batch 1).
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "kernels/dnnl/dnnl_util.h"
#include "kernels/dnnl/lstm_steps.h"

namespace privedge::dnnl_kernels {
namespace {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;

enum class Cell { kRnn, kGru, kLstm };

// Multiply-adds of one step's recurrent GEMM below which the kernel runs on one thread.
constexpr int64_t kMinParallelStepWork = int64_t{1} << 19;
// Largest batch an LSTM without peepholes runs on the AVX-512 steps (lstm_steps.h) instead of
// oneDNN's LSTM primitive.
constexpr int64_t kMaxStepsBatch = 8;

// The input projection of the AVX-512 LSTM path: X [rows, I] times W [D, I, 4H] plus bias.
struct ProjectionPlan {
  dnnl::matmul primitive;
  memory::desc src, weights, bias, dst, scratchpad;
};

struct RecurrentPlan {
  dnnl::primitive primitive;
  memory::desc src_layer, state, dst_layer, scratchpad;
  memory weights_layer, weights_iter;
};

// A float buffer made once at session creation, in locked non-dumpable memory when it holds
// (rearranged) decrypted weights.
class PlainBuffer {
 public:
  PlainBuffer(size_t n, bool sensitive) : n_(n) {
    if (sensitive) {
      auto buf = SecureBuffer::Allocate(std::max<size_t>(n * sizeof(float), 1));
      if (buf.ok()) {
        secure_ = std::move(buf).value();
        std::fill_n(data(), n, 0.0f);
        return;
      }
    }
    plain_.assign(n, 0.0f);
  }
  float* data() { return n_ == 0 || !plain_.empty() ? plain_.data() : reinterpret_cast<float*>(secure_.data()); }
  const float* data() const { return const_cast<PlainBuffer*>(this)->data(); }
  size_t size() const { return n_; }

 private:
  size_t n_;
  std::vector<float> plain_;
  SecureBuffer secure_;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Config {
  Cell cell = Cell::kLstm;
  int64_t dirs = 1, hidden = 0, input = 0, layout = 0;
  int64_t gates = 4;       // gate blocks in W and R
  int64_t bias_gates = 4;  // gate blocks in oneDNN's bias (linear-before-reset GRU: 4)
  bool linear_before_reset = false;
  bool peephole = false;
  dnnl::rnn_direction direction = dnnl::rnn_direction::unidirectional_left2right;
  dnnl::algorithm activation = dnnl::algorithm::eltwise_tanh;  // RNN only
};

class DnnlRecurrent final : public PreparedKernel {
 public:
  DnnlRecurrent(const Config& c, int threads, bool sensitive)
      : c_(c),
        threads_(threads),
        weights_layer_(static_cast<size_t>(c.dirs * c.input * c.gates * c.hidden), sensitive),
        weights_iter_(static_cast<size_t>(c.dirs * c.hidden * c.gates * c.hidden), sensitive),
        bias_(static_cast<size_t>(c.dirs * c.bias_gates * c.hidden), sensitive),
        peephole_(static_cast<size_t>(c.peephole ? c.dirs * 3 * c.hidden : 0), sensitive),
        steps_r_(static_cast<size_t>(StepsEligible(c) ? c.dirs * c.hidden * 4 * c.hidden : 0),
                 sensitive),
        packed_layer_(memory::desc({1, c.dirs, c.input, c.gates, c.hidden},
                                   memory::data_type::f32, Tag::ldigo),
                      weights_layer_.data(), sensitive),
        packed_iter_(memory::desc({1, c.dirs, c.hidden, c.gates, c.hidden},
                                  memory::data_type::f32, Tag::ldigo),
                     weights_iter_.data(), sensitive) {}

  // Rearranges ONNX W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H] (nullptr: zeros) and
  // P [D, 3*H] (LSTM, nullptr: none) into oneDNN's ldigo / ldgo layouts.
  void SetWeights(const float* w, const float* r, const float* b, const float* p) {
    static constexpr int64_t kLstmGates[] = {0, 2, 3, 1};  // oneDNN gate <- ONNX gate
    static constexpr int64_t kLstmPeepholes[] = {0, 2, 1};
    const int64_t g_count = c_.gates, h_count = c_.hidden, in = c_.input;
    auto onnx_gate = [&](int64_t g) { return c_.cell == Cell::kLstm ? kLstmGates[g] : g; };
    for (int64_t d = 0; d < c_.dirs; ++d) {
      for (int64_t g = 0; g < g_count; ++g) {
        const int64_t row0 = d * g_count * h_count + onnx_gate(g) * h_count;
        for (int64_t h = 0; h < h_count; ++h) {
          const float* w_row = w + (row0 + h) * in;
          for (int64_t i = 0; i < in; ++i)
            weights_layer_.data()[((d * in + i) * g_count + g) * h_count + h] = w_row[i];
          const float* r_row = r + (row0 + h) * h_count;
          for (int64_t i = 0; i < h_count; ++i)
            weights_iter_.data()[((d * h_count + i) * g_count + g) * h_count + h] = r_row[i];
        }
      }
      if (b) {
        const float* wb = b + d * 2 * g_count * h_count;
        const float* rb = wb + g_count * h_count;
        float* out = bias_.data() + d * c_.bias_gates * h_count;
        for (int64_t g = 0; g < g_count; ++g) {
          const int64_t src = onnx_gate(g) * h_count;
          const bool split = c_.linear_before_reset && g == 2;  // Rbn goes to gate 3
          for (int64_t h = 0; h < h_count; ++h)
            out[g * h_count + h] = wb[src + h] + (split ? 0.0f : rb[src + h]);
        }
        if (c_.linear_before_reset)
          for (int64_t h = 0; h < h_count; ++h) out[3 * h_count + h] = rb[2 * h_count + h];
      }
      if (steps_r_.size() > 0)
        PackLstmRecurrent(weights_iter_.data() + d * h_count * 4 * h_count, h_count,
                          steps_r_.data() + d * h_count * 4 * h_count);
      if (p)
        for (int64_t k = 0; k < 3; ++k)
          for (int64_t h = 0; h < h_count; ++h)
            peephole_.data()[(d * 3 + k) * h_count + h] =
                p[d * 3 * h_count + kLstmPeepholes[k] * h_count + h];
    }
  }

  const char* name() const override {
    switch (c_.cell) {
      case Cell::kRnn: return "dnnl_f32_rnn";
      case Cell::kGru: return "dnnl_f32_gru";
      case Cell::kLstm: break;
    }
    return "dnnl_f32_lstm";
  }

  Status Run(KernelContext& ctx) const override {
    const Tensor* x = ctx.input(0);
    if (!x || x->dtype() != DType::kFloat32 || x->rank() != 3 || x->dim(2) != c_.input)
      return RunReference(ctx);
    const int64_t seq = c_.layout == 0 ? x->dim(0) : x->dim(1);
    const int64_t batch = c_.layout == 0 ? x->dim(1) : x->dim(0);
    if (seq == 0 || batch == 0) return RunReference(ctx);
    if (ctx.has_input(4)) {
      const Tensor* lens = ctx.input(4);
      if (!lens || lens->shape() != Shape{batch} || !IsIntegerDType(lens->dtype()))
        return RunReference(ctx);
      for (int64_t i = 0; i < batch; ++i)
        if (lens->GetAsDouble(i) != static_cast<double>(seq)) return RunReference(ctx);
    }
    const int64_t dirs = c_.dirs, hidden = c_.hidden;
    const Shape state_shape =
        c_.layout == 0 ? Shape{dirs, batch, hidden} : Shape{batch, dirs, hidden};
    const bool has_c = c_.cell == Cell::kLstm;
    const Tensor* init_h = ctx.input(5);
    const Tensor* init_c = has_c ? ctx.input(6) : nullptr;
    for (int i : {5, 6}) {
      if (i == 6 && !has_c) break;
      const Tensor* t = ctx.input(i);
      if (ctx.has_input(i) &&
          (!t || t->dtype() != DType::kFloat32 || t->shape() != state_shape))
        return RunReference(ctx);
    }

    // A step's recurrent GEMM of a few rows is too small to split: threads only cost there.
    const bool small = batch * c_.gates * c_.hidden * c_.hidden < kMinParallelStepWork;
    ThreadScope threads(small ? 1 : threads_);
    if (steps_r_.size() > 0 && batch <= kMaxStepsBatch)
      return RunSteps(ctx, *x, seq, batch, init_h, init_c, state_shape);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const RecurrentPlan> plan,
                        plans_.Get({seq, batch}, [&] { return Build(ctx, seq, batch); }));

    // States move between ONNX's layout and oneDNN's [1, D, N, H] (the same for layout 0).
    const size_t state_count = static_cast<size_t>(dirs * batch * hidden);
    auto to_dnnl_state = [&](const Tensor* t, std::vector<float>& buf) -> float* {
      buf.assign(state_count, 0.0f);
      if (t) CopyState(t->data<float>(), buf.data(), batch, true);
      return buf.data();
    };
    std::vector<float> h0, c0, h1, c1, y_buf;
    float* src_iter = c_.layout == 0 && init_h ? const_cast<float*>(init_h->data<float>())
                                               : to_dnnl_state(init_h, h0);
    float* src_iter_c = nullptr;
    if (has_c)
      src_iter_c = c_.layout == 0 && init_c ? const_cast<float*>(init_c->data<float>())
                                            : to_dnnl_state(init_c, c0);

    const Shape y_shape = c_.layout == 0 ? Shape{seq, dirs, batch, hidden}
                                         : Shape{batch, seq, dirs, hidden};
    Tensor* y = nullptr;
    if (ctx.wants_output(0)) {
      PE_ASSIGN_OR_RETURN(y, ctx.AllocateOutput(0, DType::kFloat32, y_shape));
    }
    // One direction writes Y's layout directly (tnc for layout 0, ntc for layout 1).
    float* dst_layer = nullptr;
    if (y && dirs == 1) {
      dst_layer = y->data<float>();
    } else {
      y_buf.resize(static_cast<size_t>(seq * batch * dirs * hidden));
      dst_layer = y_buf.data();
    }
    Tensor* y_h = nullptr;
    Tensor* y_c = nullptr;
    if (ctx.wants_output(1)) {
      PE_ASSIGN_OR_RETURN(y_h, ctx.AllocateOutput(1, DType::kFloat32, state_shape));
    }
    if (has_c && ctx.wants_output(2)) {
      PE_ASSIGN_OR_RETURN(y_c, ctx.AllocateOutput(2, DType::kFloat32, state_shape));
    }
    auto dst_state = [&](Tensor* t, std::vector<float>& buf) -> float* {
      if (t && c_.layout == 0) return t->data<float>();
      buf.resize(state_count);
      return buf.data();
    };
    float* dst_iter = dst_state(y_h, h1);
    float* dst_iter_c = has_c ? dst_state(y_c, c1) : nullptr;

    const dnnl::engine& engine = CpuEngine();
    dnnl::stream stream(engine);
    const memory::desc bias_desc({1, dirs, c_.bias_gates, hidden}, memory::data_type::f32,
                                 Tag::ldgo);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC_LAYER, memory(plan->src_layer, engine, const_cast<float*>(x->data<float>()))},
        {DNNL_ARG_SRC_ITER, memory(plan->state, engine, src_iter)},
        {DNNL_ARG_WEIGHTS_LAYER, plan->weights_layer},
        {DNNL_ARG_WEIGHTS_ITER, plan->weights_iter},
        {DNNL_ARG_BIAS, memory(bias_desc, engine, const_cast<float*>(bias_.data()))},
        {DNNL_ARG_DST_LAYER, memory(plan->dst_layer, engine, dst_layer)},
        {DNNL_ARG_DST_ITER, memory(plan->state, engine, dst_iter)},
        {DNNL_ARG_SCRATCHPAD, ThreadScratchpad(plan->scratchpad)}};
    if (has_c) {
      args[DNNL_ARG_SRC_ITER_C] = memory(plan->state, engine, src_iter_c);
      args[DNNL_ARG_DST_ITER_C] = memory(plan->state, engine, dst_iter_c);
    }
    if (c_.peephole) {
      args[DNNL_ARG_WEIGHTS_PEEPHOLE] =
          memory({{1, dirs, 3, hidden}, memory::data_type::f32, Tag::ldgo}, engine,
                 const_cast<float*>(peephole_.data()));
    }
    plan->primitive.execute(stream, args);
    stream.wait();

    if (y && dirs == 2) {
      // oneDNN concatenates the directions per row: [T, N, 2*H].
      float* out = y->data<float>();
      for (int64_t t = 0; t < seq; ++t)
        for (int64_t n = 0; n < batch; ++n)
          for (int64_t d = 0; d < 2; ++d) {
            const float* src = dst_layer + ((t * batch + n) * 2 + d) * hidden;
            const int64_t at = c_.layout == 0 ? (t * 2 + d) * batch + n : (n * seq + t) * 2 + d;
            std::copy(src, src + hidden, out + at * hidden);
          }
    }
    if (c_.layout == 1) {
      if (y_h) CopyState(dst_iter, y_h->data<float>(), batch, false);
      if (y_c) CopyState(dst_iter_c, y_c->data<float>(), batch, false);
    }
    return Status::OK();
  }

 private:
  // Between ONNX's layout-1 state [N, D, H] (or layout 0's [D, N, H]) and oneDNN's [D, N, H].
  void CopyState(const float* src, float* dst, int64_t batch, bool to_dnnl) const {
    const int64_t h = c_.hidden;
    for (int64_t d = 0; d < c_.dirs; ++d)
      for (int64_t n = 0; n < batch; ++n) {
        const int64_t onnx = c_.layout == 0 ? d * batch + n : n * c_.dirs + d;
        const int64_t dnnl = d * batch + n;
        if (to_dnnl) {
          std::copy(src + onnx * h, src + (onnx + 1) * h, dst + dnnl * h);
        } else {
          std::copy(src + dnnl * h, src + (dnnl + 1) * h, dst + onnx * h);
        }
      }
  }

  // LSTM on the AVX-512 steps: one oneDNN matmul projects every step's input for every
  // direction, then each direction's steps run in order.
  Status RunSteps(KernelContext& ctx, const Tensor& x, int64_t seq, int64_t batch,
                  const Tensor* init_h, const Tensor* init_c, const Shape& state_shape) const {
    const int64_t dirs = c_.dirs, hidden = c_.hidden, width = 4 * hidden, rows = seq * batch;
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const ProjectionPlan> plan,
                        projections_.Get({rows}, [&] { return BuildProjection(ctx, rows); }));
    std::vector<float> proj(static_cast<size_t>(dirs * rows * width));
    {
      const dnnl::engine& engine = CpuEngine();
      dnnl::stream stream(engine);
      plan->primitive.execute(
          stream,
          {{DNNL_ARG_SRC, memory(plan->src, engine, const_cast<float*>(x.data<float>()))},
           {DNNL_ARG_WEIGHTS,
            memory(plan->weights, engine, const_cast<float*>(weights_layer_.data()))},
           {DNNL_ARG_BIAS, memory(plan->bias, engine, const_cast<float*>(bias_.data()))},
           {DNNL_ARG_DST, memory(plan->dst, engine, proj.data())},
           {DNNL_ARG_SCRATCHPAD, ThreadScratchpad(plan->scratchpad)}});
      stream.wait();
    }
    const size_t state_count = static_cast<size_t>(dirs * batch * hidden);
    std::vector<float> h(state_count, 0.0f), c(state_count, 0.0f), scratch(width);
    if (init_h) CopyState(init_h->data<float>(), h.data(), batch, true);
    if (init_c) CopyState(init_c->data<float>(), c.data(), batch, true);
    Tensor* y = nullptr;
    if (ctx.wants_output(0)) {
      const Shape y_shape = c_.layout == 0 ? Shape{seq, dirs, batch, hidden}
                                           : Shape{batch, seq, dirs, hidden};
      PE_ASSIGN_OR_RETURN(y, ctx.AllocateOutput(0, DType::kFloat32, y_shape));
    }
    for (int64_t d = 0; d < dirs; ++d) {
      LstmStepArgs a;
      a.seq = seq;
      a.batch = batch;
      a.hidden = hidden;
      a.reverse = c_.direction == dnnl::rnn_direction::unidirectional_right2left || d == 1;
      a.proj = proj.data() + d * rows * width;
      a.proj_t_stride = c_.layout == 0 ? batch : 1;
      a.proj_n_stride = c_.layout == 0 ? 1 : seq;
      a.r = steps_r_.data() + d * hidden * width;
      a.h = h.data() + d * batch * hidden;
      a.c = c.data() + d * batch * hidden;
      if (y) {
        a.y = y->data<float>() + (c_.layout == 0 ? d * batch * hidden : d * hidden);
        a.y_t_stride = c_.layout == 0 ? dirs * batch * hidden : dirs * hidden;
        a.y_n_stride = c_.layout == 0 ? hidden : seq * dirs * hidden;
      }
      a.scratch = scratch.data();
      RunLstmSteps(a);
    }
    for (int i : {1, 2}) {
      if (!ctx.wants_output(i)) continue;
      PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(i, DType::kFloat32, state_shape));
      CopyState(i == 1 ? h.data() : c.data(), out->data<float>(), batch, false);
    }
    return Status::OK();
  }

  Result<std::shared_ptr<const ProjectionPlan>> BuildProjection(const KernelContext& ctx,
                                                                int64_t rows) const {
    auto plan = std::make_shared<ProjectionPlan>();
    const auto f32 = memory::data_type::f32;
    const int64_t dirs = c_.dirs, width = 4 * c_.hidden;
    plan->src = memory::desc({1, rows, c_.input}, f32, Tag::abc);
    plan->weights = memory::desc({dirs, c_.input, width}, f32, Tag::abc);
    plan->bias = memory::desc({dirs, 1, width}, f32, Tag::abc);
    plan->dst = memory::desc({dirs, rows, width}, f32, Tag::abc);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    try {
      dnnl::matmul::primitive_desc pd(
          dnnl::matmul::desc(plan->src, plan->weights, plan->bias, plan->dst), attr, CpuEngine());
      plan->primitive = dnnl::matmul(pd);
      plan->scratchpad = pd.scratchpad_desc();
    } catch (const dnnl::error& e) {
      return Internal(ctx.node().Describe(), ": oneDNN LSTM input projection for ", rows,
                      " rows: ", e.what());
    }
    return std::shared_ptr<const ProjectionPlan>(std::move(plan));
  }

  Result<std::shared_ptr<const RecurrentPlan>> Build(const KernelContext& ctx, int64_t seq,
                                                     int64_t batch) const {
    auto plan = std::make_shared<RecurrentPlan>();
    const auto f32 = memory::data_type::f32;
    const int64_t dirs = c_.dirs, hidden = c_.hidden;
    plan->src_layer = memory::desc({seq, batch, c_.input}, f32, c_.layout == 0 ? Tag::tnc : Tag::ntc);
    plan->dst_layer = memory::desc({seq, batch, dirs * hidden}, f32,
                                   c_.layout == 1 && dirs == 1 ? Tag::ntc : Tag::tnc);
    plan->state = memory::desc({1, dirs, batch, hidden}, f32, Tag::ldnc);
    const memory::desc w_layer({1, dirs, c_.input, c_.gates, hidden}, f32, Tag::any);
    const memory::desc w_iter({1, dirs, hidden, c_.gates, hidden}, f32, Tag::any);
    const memory::desc bias({1, dirs, c_.bias_gates, hidden}, f32, Tag::ldgo);
    const memory::desc peephole =
        c_.peephole ? memory::desc({1, dirs, 3, hidden}, f32, Tag::ldgo) : memory::desc();
    const auto inference = dnnl::prop_kind::forward_inference;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    try {
      auto finish = [&](const auto& pd) {
        plan->scratchpad = pd.scratchpad_desc();
        plan->weights_layer = packed_layer_.Get(pd.weights_layer_desc());
        plan->weights_iter = packed_iter_.Get(pd.weights_iter_desc());
      };
      const dnnl::engine& engine = CpuEngine();
      if (c_.cell == Cell::kLstm) {
        dnnl::lstm_forward::primitive_desc pd(
            dnnl::lstm_forward::desc(inference, c_.direction, plan->src_layer, plan->state,
                                     plan->state, w_layer, w_iter, peephole, memory::desc(), bias,
                                     plan->dst_layer, plan->state, plan->state),
            attr, engine);
        plan->primitive = dnnl::lstm_forward(pd);
        finish(pd);
      } else if (c_.cell == Cell::kGru && c_.linear_before_reset) {
        dnnl::lbr_gru_forward::primitive_desc pd(
            dnnl::lbr_gru_forward::desc(inference, c_.direction, plan->src_layer, plan->state,
                                        w_layer, w_iter, bias, plan->dst_layer, plan->state),
            attr, engine);
        plan->primitive = dnnl::lbr_gru_forward(pd);
        finish(pd);
      } else if (c_.cell == Cell::kGru) {
        dnnl::gru_forward::primitive_desc pd(
            dnnl::gru_forward::desc(inference, c_.direction, plan->src_layer, plan->state, w_layer,
                                    w_iter, bias, plan->dst_layer, plan->state),
            attr, engine);
        plan->primitive = dnnl::gru_forward(pd);
        finish(pd);
      } else {
        dnnl::vanilla_rnn_forward::primitive_desc pd(
            dnnl::vanilla_rnn_forward::desc(inference, c_.activation, c_.direction,
                                            plan->src_layer, plan->state, w_layer, w_iter, bias,
                                            plan->dst_layer, plan->state),
            attr, engine);
        plan->primitive = dnnl::vanilla_rnn_forward(pd);
        finish(pd);
      }
    } catch (const dnnl::error& e) {
      return Internal(ctx.node().Describe(), ": oneDNN ", name(), " for ", seq, " steps x ", batch,
                      " rows: ", e.what());
    }
    return std::shared_ptr<const RecurrentPlan>(std::move(plan));
  }

  Config c_;
  int threads_;
  // An LSTM without peepholes on a CPU that runs lstm_steps.h.
  static bool StepsEligible(const Config& c) {
    return c.cell == Cell::kLstm && !c.peephole && LstmStepsSupported(c.hidden);
  }

  PlainBuffer weights_layer_, weights_iter_, bias_, peephole_;
  PlainBuffer steps_r_;  // R packed for lstm_steps.h; empty unless StepsEligible
  mutable PackedWeights packed_layer_, packed_iter_;
  mutable ShapeCache<RecurrentPlan> plans_;
  mutable ShapeCache<ProjectionPlan> projections_;
};

bool IsConstFloat(const Tensor* t, const Shape& shape) {
  return t && t->dtype() == DType::kFloat32 && t->shape() == shape;
}

Result<std::unique_ptr<PreparedKernel>> MakeRecurrent(const PrepareContext& ctx, Cell cell) {
  auto decline = [] { return std::unique_ptr<PreparedKernel>(); };
  const KernelContext k(ctx.node, ctx.opset, {});
  const auto& in = ctx.constant_inputs;
  auto constant = [&](size_t i) { return i < in.size() ? in[i] : nullptr; };
  auto supplied = [&](size_t i) { return i < ctx.node.inputs.size() && !ctx.node.inputs[i].empty(); };
  Config c;
  c.cell = cell;
  c.gates = cell == Cell::kLstm ? 4 : cell == Cell::kGru ? 3 : 1;
  const Tensor* w = constant(1);
  const Tensor* r = constant(2);
  if (!w || !r || w->rank() != 3 || r->rank() != 3) return decline();
  const std::string direction = k.attr_string("direction", "forward");
  if (direction == "reverse") {
    c.direction = dnnl::rnn_direction::unidirectional_right2left;
  } else if (direction == "bidirectional") {
    c.direction = dnnl::rnn_direction::bidirectional_concat;
    c.dirs = 2;
  } else if (direction != "forward") {
    return decline();
  }
  c.hidden = r->dim(2);
  c.input = w->dim(2);
  if (c.hidden <= 0 || c.input <= 0) return decline();
  if (k.has_attr("hidden_size") && k.attr_int("hidden_size", 0) != c.hidden) return decline();
  const int64_t rows = c.gates * c.hidden;
  if (!IsConstFloat(w, {c.dirs, rows, c.input}) || !IsConstFloat(r, {c.dirs, rows, c.hidden}))
    return decline();
  const Tensor* b = constant(3);
  if (supplied(3) && !IsConstFloat(b, {c.dirs, 2 * rows})) return decline();
  const Tensor* p = cell == Cell::kLstm ? constant(7) : nullptr;
  if (cell == Cell::kLstm && supplied(7)) {
    if (!IsConstFloat(p, {c.dirs, 3 * c.hidden})) return decline();
    c.peephole = true;
  }
  c.layout = ctx.opset >= 14 ? k.attr_int("layout", 0) : 0;
  if (c.layout != 0 && c.layout != 1) return decline();
  if (k.has_attr("clip") || k.attr_int("input_forget", 0) != 0) return decline();
  c.linear_before_reset = cell == Cell::kGru && k.attr_int("linear_before_reset", 0) != 0;
  c.bias_gates = c.gates + (c.linear_before_reset ? 1 : 0);

  // Activations: oneDNN's fixed ones, the same for every direction.
  std::vector<std::string> acts = k.attr_strings("activations");
  for (std::string& a : acts) a = Lower(a);
  if (cell == Cell::kRnn) {
    if (acts.empty()) acts = {"tanh"};
    if (acts.size() != static_cast<size_t>(c.dirs) && acts.size() != 1) return decline();
    if (!std::all_of(acts.begin(), acts.end(), [&](const std::string& a) { return a == acts[0]; }))
      return decline();
    if (acts[0] == "tanh") {
      c.activation = dnnl::algorithm::eltwise_tanh;
    } else if (acts[0] == "relu") {
      c.activation = dnnl::algorithm::eltwise_relu;
    } else if (acts[0] == "sigmoid") {
      c.activation = dnnl::algorithm::eltwise_logistic;
    } else {
      return decline();
    }
  } else if (!acts.empty()) {
    const std::vector<std::string> defaults =
        cell == Cell::kLstm ? std::vector<std::string>{"sigmoid", "tanh", "tanh"}
                            : std::vector<std::string>{"sigmoid", "tanh"};
    for (size_t i = 0; i < acts.size(); ++i)
      if (acts[i] != defaults[i % defaults.size()]) return decline();
    if (acts.size() != defaults.size() && acts.size() != defaults.size() * c.dirs)
      return decline();
  }

  auto kernel = std::make_unique<DnnlRecurrent>(c, ctx.threads, ctx.sensitive_weights);
  kernel->SetWeights(w->data<float>(), r->data<float>(), b ? b->data<float>() : nullptr,
                     p ? p->data<float>() : nullptr);
  return std::unique_ptr<PreparedKernel>(std::move(kernel));
}

}  // namespace

Result<std::unique_ptr<PreparedKernel>> MakeRnn(const PrepareContext& ctx) {
  return MakeRecurrent(ctx, Cell::kRnn);
}
Result<std::unique_ptr<PreparedKernel>> MakeGru(const PrepareContext& ctx) {
  return MakeRecurrent(ctx, Cell::kGru);
}
Result<std::unique_ptr<PreparedKernel>> MakeLstm(const PrepareContext& ctx) {
  return MakeRecurrent(ctx, Cell::kLstm);
}

}  // namespace privedge::dnnl_kernels
