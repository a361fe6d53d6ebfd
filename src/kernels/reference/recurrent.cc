// Reference RNN, GRU and LSTM.
//
// One driver (RunRecurrent) validates the inputs, walks directions, batch rows and time steps,
// honours sequence_lens and the two layouts, and writes Y / Y_h / Y_c. Each cell only supplies
// the gate math of one time step for one batch row. Everything is computed in double so the
// reference is at least as accurate as the float16/float/double tensors it is compared with.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"

namespace privedge {
namespace {

// ---------------------------------------------------------------------------------------------
// Activation functions selected by name through the `activations` attribute.

enum class ActKind {
  kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid,
  kElu, kSoftsign, kSoftplus
};

struct ActInfo {
  const char* name;
  ActKind kind;
  bool uses_alpha;
  bool uses_beta;
  double default_alpha;  // the defaults of the ONNX operator with the same name
  double default_beta;
};

constexpr ActInfo kActivations[] = {
    {"relu", ActKind::kRelu, false, false, 0, 0},
    {"tanh", ActKind::kTanh, false, false, 0, 0},
    {"sigmoid", ActKind::kSigmoid, false, false, 0, 0},
    {"affine", ActKind::kAffine, true, true, 1.0, 0.0},
    {"leakyrelu", ActKind::kLeakyRelu, true, false, 0.01, 0},
    {"thresholdedrelu", ActKind::kThresholdedRelu, true, false, 1.0, 0},
    {"scaledtanh", ActKind::kScaledTanh, true, true, 1.0, 1.0},
    {"hardsigmoid", ActKind::kHardSigmoid, true, true, 0.2, 0.5},
    {"elu", ActKind::kElu, true, false, 1.0, 0},
    {"softsign", ActKind::kSoftsign, false, false, 0, 0},
    {"softplus", ActKind::kSoftplus, false, false, 0, 0},
};

struct Activation {
  ActKind kind = ActKind::kTanh;
  double alpha = 0;
  double beta = 0;

  double operator()(double x) const {
    switch (kind) {
      case ActKind::kRelu: return std::max(x, 0.0);
      case ActKind::kTanh: return std::tanh(x);
      case ActKind::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
      case ActKind::kAffine: return alpha * x + beta;
      case ActKind::kLeakyRelu: return x >= 0 ? x : alpha * x;
      case ActKind::kThresholdedRelu: return x > alpha ? x : 0.0;
      case ActKind::kScaledTanh: return alpha * std::tanh(beta * x);
      case ActKind::kHardSigmoid: return std::clamp(alpha * x + beta, 0.0, 1.0);
      case ActKind::kElu: return x >= 0 ? x : alpha * (std::exp(x) - 1.0);
      case ActKind::kSoftsign: return x / (1.0 + std::fabs(x));
      case ActKind::kSoftplus: return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0);
    }
    return x;
  }
};

std::string Lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Builds `per_direction * num_directions` activations. alpha/beta values are consumed in order,
// each only by the functions that take that parameter (as onnxruntime does).
Result<std::vector<Activation>> ParseActivations(const KernelContext& ctx,
                                                 const std::vector<std::string>& defaults,
                                                 int64_t num_directions) {
  const size_t per_dir = defaults.size();
  std::vector<std::string> names = ctx.attr_strings("activations");
  if (names.empty()) names = defaults;
  // A single direction's list is accepted for a bidirectional node and used for both.
  if (names.size() == per_dir && num_directions == 2) {
    std::vector<std::string> twice = names;
    twice.insert(twice.end(), names.begin(), names.end());
    names = std::move(twice);
  }
  if (names.size() != per_dir * static_cast<size_t>(num_directions))
    return ctx.Error("activations has ", names.size(), " entries, expected ",
                     per_dir * num_directions, " (", per_dir, " per direction)");
  std::vector<float> alphas = ctx.attr_floats("activation_alpha");
  std::vector<float> betas = ctx.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  std::vector<Activation> acts;
  for (const std::string& name : names) {
    const std::string lower = Lowercase(name);
    const ActInfo* info = nullptr;
    for (const ActInfo& a : kActivations)
      if (lower == a.name) info = &a;
    if (!info) return ctx.Error("unsupported activation function '", name, "'");
    Activation act{info->kind, info->default_alpha, info->default_beta};
    if (info->uses_alpha && next_alpha < alphas.size()) act.alpha = alphas[next_alpha++];
    if (info->uses_beta && next_beta < betas.size()) act.beta = betas[next_beta++];
    acts.push_back(act);
  }
  return acts;
}

// ---------------------------------------------------------------------------------------------
// Cells.

// Weights of one direction, as row-major double arrays. Gate g's rows in W/R start at g*hidden.
struct DirectionWeights {
  const double* w = nullptr;   // [gates*hidden, input]
  const double* r = nullptr;   // [gates*hidden, hidden]
  const double* wb = nullptr;  // [gates*hidden] input bias
  const double* rb = nullptr;  // [gates*hidden] recurrence bias
  const double* p = nullptr;   // [3*hidden] LSTM peepholes (i, o, f)
  const Activation* act = nullptr;  // this direction's activations (f, g[, h])
};

struct CellOptions {
  int64_t input_size = 0;
  int64_t hidden = 0;
  double clip = 0;  // <= 0: no clipping
  bool linear_before_reset = false;  // GRU
  bool input_forget = false;         // LSTM
};

double Dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

// W x + Wb for row `row` of the stacked gates.
double InputPart(const CellOptions& o, const DirectionWeights& d, int64_t row, const double* x) {
  return Dot(d.w + row * o.input_size, x, o.input_size) + d.wb[row];
}

// R h + Rb for row `row` of the stacked gates.
double HiddenPart(const CellOptions& o, const DirectionWeights& d, int64_t row, const double* h) {
  return Dot(d.r + row * o.hidden, h, o.hidden) + d.rb[row];
}

double Clip(const CellOptions& o, double v) {
  return o.clip > 0 ? std::clamp(v, -o.clip, o.clip) : v;
}

// One step of one batch row: reads x, h_prev, c_prev (LSTM only) and writes h, c (LSTM only).
using StepFn = void (*)(const CellOptions& o, const DirectionWeights& d, const double* x,
                        const double* h_prev, const double* c_prev, double* h, double* c);

// Ht = f(W x + R Ht-1 + Wb + Rb)
void RnnStep(const CellOptions& o, const DirectionWeights& d, const double* x,
             const double* h_prev, const double*, double* h, double*) {
  for (int64_t j = 0; j < o.hidden; ++j)
    h[j] = d.act[0](Clip(o, InputPart(o, d, j, x) + HiddenPart(o, d, j, h_prev)));
}

// Gates z, r, h (in that order in W/R/B):
//   z = f(..), r = f(..), n = g(Wn x + Wbn + Rn (r . H) + Rbn)   or, with linear_before_reset,
//   n = g(Wn x + Wbn + r . (Rn H + Rbn));  H' = (1 - z) . n + z . H
void GruStep(const CellOptions& o, const DirectionWeights& d, const double* x,
             const double* h_prev, const double*, double* h, double*) {
  const int64_t n = o.hidden;
  std::vector<double> z(n), r(n), reset_h(n);
  for (int64_t j = 0; j < n; ++j) {
    z[j] = d.act[0](Clip(o, InputPart(o, d, j, x) + HiddenPart(o, d, j, h_prev)));
    r[j] = d.act[0](Clip(o, InputPart(o, d, n + j, x) + HiddenPart(o, d, n + j, h_prev)));
    reset_h[j] = r[j] * h_prev[j];
  }
  for (int64_t j = 0; j < n; ++j) {
    const int64_t row = 2 * n + j;
    const double rec = o.linear_before_reset ? r[j] * HiddenPart(o, d, row, h_prev)
                                             : HiddenPart(o, d, row, reset_h.data());
    const double cand = d.act[1](Clip(o, InputPart(o, d, row, x) + rec));
    h[j] = (1.0 - z[j]) * cand + z[j] * h_prev[j];
  }
}

// Gates i, o, f, c (in that order in W/R/B), peepholes i, o, f:
//   i = f(.. + Pi . C), f = f(.. + Pf . C), c~ = g(..), C' = f . C + i . c~,
//   o = f(.. + Po . C'), H' = o . h(C')
void LstmStep(const CellOptions& o, const DirectionWeights& d, const double* x,
              const double* h_prev, const double* c_prev, double* h, double* c) {
  const int64_t n = o.hidden;
  auto pre = [&](int64_t gate, int64_t j) {
    const int64_t row = gate * n + j;
    return InputPart(o, d, row, x) + HiddenPart(o, d, row, h_prev);
  };
  for (int64_t j = 0; j < n; ++j) {
    const double f_gate = d.act[0](Clip(o, pre(2, j) + d.p[2 * n + j] * c_prev[j]));
    const double i_gate = o.input_forget ? 1.0 - f_gate
                                         : d.act[0](Clip(o, pre(0, j) + d.p[j] * c_prev[j]));
    const double cand = d.act[1](Clip(o, pre(3, j)));
    c[j] = f_gate * c_prev[j] + i_gate * cand;
    const double o_gate = d.act[0](Clip(o, pre(1, j) + d.p[n + j] * c[j]));
    h[j] = o_gate * d.act[2](c[j]);
  }
}

struct CellSpec {
  int64_t num_gates;  // row blocks stacked in W and R
  std::vector<std::string> default_activations;
  bool has_cell_state;  // LSTM: initial_c (input 6), P (input 7), Y_c (output 2)
  StepFn step;
};

// ---------------------------------------------------------------------------------------------
// The shared driver.

// Checks that input `i` (if supplied) is a float tensor of exactly `shape`; returns its values
// as doubles, or `fill` repeated when it is absent.
Result<std::vector<double>> ReadOptional(const KernelContext& ctx, int i, const char* what,
                                         const Shape& shape, DType dtype, double fill) {
  const Tensor* t = ctx.input(i);
  if (!t) {
    if (ctx.has_input(i)) return ctx.Error(what, " must be a tensor");
    return std::vector<double>(static_cast<size_t>(ShapeElementCount(shape)), fill);
  }
  if (t->dtype() != dtype)
    return ctx.Error(what, " has type ", DTypeName(t->dtype()), ", expected ", DTypeName(dtype));
  if (t->shape() != shape)
    return ctx.Error(what, " has shape ", ShapeToString(t->shape()), ", expected ",
                     ShapeToString(shape));
  return ToDoubleVector(*t);
}

Status WriteOutput(KernelContext& ctx, int i, DType dtype, const Shape& shape,
                   const std::vector<double>& values) {
  if (!ctx.wants_output(i)) return Status::OK();
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(i, dtype, shape));
  return DispatchFloat(dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    T* dst = out->data<T>();
    for (size_t k = 0; k < values.size(); ++k) dst[k] = CastValue<T>(values[k]);
    return Status::OK();
  });
}

Status RunRecurrent(KernelContext& ctx, const CellSpec& spec) {
  PE_ASSIGN_OR_RETURN(const Tensor* x_t, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* w_t, ctx.RequireInput(1));
  PE_ASSIGN_OR_RETURN(const Tensor* r_t, ctx.RequireInput(2));
  const DType dtype = x_t->dtype();
  if (!IsFloatingDType(dtype)) return ctx.Error("X must be a float tensor, got ", DTypeName(dtype));
  if (w_t->dtype() != dtype || r_t->dtype() != dtype)
    return ctx.Error("W and R must have X's type ", DTypeName(dtype));

  const int64_t layout = ctx.opset() >= 14 ? ctx.attr_int("layout", 0) : 0;
  if (layout != 0 && layout != 1) return ctx.Error("layout must be 0 or 1, got ", layout);
  const std::string direction = ctx.attr_string("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    return ctx.Error("direction must be forward, reverse or bidirectional, got '", direction, "'");
  const int64_t num_dirs = direction == "bidirectional" ? 2 : 1;

  if (x_t->rank() != 3) return ctx.Error("X must have rank 3, got ", ShapeToString(x_t->shape()));
  const int64_t seq_len = layout == 0 ? x_t->dim(0) : x_t->dim(1);
  const int64_t batch = layout == 0 ? x_t->dim(1) : x_t->dim(0);
  const int64_t input_size = x_t->dim(2);
  if (r_t->rank() != 3) return ctx.Error("R must have rank 3, got ", ShapeToString(r_t->shape()));
  const int64_t hidden = r_t->dim(2);
  if (ctx.has_attr("hidden_size") && ctx.attr_int("hidden_size", 0) != hidden)
    return ctx.Error("hidden_size is ", ctx.attr_int("hidden_size", 0), " but R implies ", hidden);
  const int64_t rows = spec.num_gates * hidden;
  if (w_t->shape() != Shape{num_dirs, rows, input_size})
    return ctx.Error("W has shape ", ShapeToString(w_t->shape()), ", expected ",
                     ShapeToString({num_dirs, rows, input_size}));
  if (r_t->shape() != Shape{num_dirs, rows, hidden})
    return ctx.Error("R has shape ", ShapeToString(r_t->shape()), ", expected ",
                     ShapeToString({num_dirs, rows, hidden}));

  CellOptions opt;
  opt.input_size = input_size;
  opt.hidden = hidden;
  opt.clip = ctx.has_attr("clip") ? ctx.attr_float("clip", 0) : 0;
  if (ctx.has_attr("clip") && !(opt.clip > 0)) return ctx.Error("clip must be positive");
  opt.linear_before_reset = ctx.attr_int("linear_before_reset", 0) != 0;
  opt.input_forget = ctx.attr_int("input_forget", 0) != 0;
  PE_ASSIGN_OR_RETURN(std::vector<Activation> acts,
                      ParseActivations(ctx, spec.default_activations, num_dirs));

  // Per-batch sequence lengths.
  std::vector<int64_t> lens(static_cast<size_t>(batch), seq_len);
  if (ctx.has_input(4)) {
    PE_ASSIGN_OR_RETURN(const Tensor* l, ctx.RequireInput(4));
    if (!IsIntegerDType(l->dtype()) || l->shape() != Shape{batch})
      return ctx.Error("sequence_lens must be an integer tensor of shape [", batch, "], got ",
                       DTypeName(l->dtype()), ShapeToString(l->shape()));
    lens = ToInt64Vector(*l);
    for (int64_t v : lens)
      if (v < 0 || v > seq_len)
        return ctx.Error("sequence_lens value ", v, " is outside [0, ", seq_len, "]");
  }

  const std::vector<double> x = ToDoubleVector(*x_t);
  const std::vector<double> w = ToDoubleVector(*w_t);
  const std::vector<double> r = ToDoubleVector(*r_t);
  PE_ASSIGN_OR_RETURN(std::vector<double> bias,
                      ReadOptional(ctx, 3, "B", {num_dirs, 2 * rows}, dtype, 0.0));
  const Shape state_shape = layout == 0 ? Shape{num_dirs, batch, hidden}
                                        : Shape{batch, num_dirs, hidden};
  PE_ASSIGN_OR_RETURN(std::vector<double> h_state,
                      ReadOptional(ctx, 5, "initial_h", state_shape, dtype, 0.0));
  std::vector<double> c_state, peep;
  if (spec.has_cell_state) {
    PE_ASSIGN_OR_RETURN(c_state, ReadOptional(ctx, 6, "initial_c", state_shape, dtype, 0.0));
    PE_ASSIGN_OR_RETURN(peep, ReadOptional(ctx, 7, "P", {num_dirs, 3 * hidden}, dtype, 0.0));
  }

  const Shape y_shape = layout == 0 ? Shape{seq_len, num_dirs, batch, hidden}
                                    : Shape{batch, seq_len, num_dirs, hidden};
  const int64_t y_count = ShapeElementCount(y_shape);
  // Y is computed in a double buffer; refuse sizes no real model reaches before allocating.
  if (y_count < 0 || y_count > (int64_t{1} << 28))
    return ctx.Error("Y of shape ", ShapeToString(y_shape), " is too large");
  std::vector<double> y(static_cast<size_t>(y_count), 0.0);
  auto x_at = [&](int64_t t, int64_t b) {
    return x.data() + (layout == 0 ? t * batch + b : b * seq_len + t) * input_size;
  };
  auto y_at = [&](int64_t t, int64_t d, int64_t b) {
    return y.data() + (layout == 0 ? (t * num_dirs + d) * batch + b
                                   : (b * seq_len + t) * num_dirs + d) * hidden;
  };
  // h_state / c_state hold the running state in the Y_h layout, so they end as Y_h / Y_c.
  auto state_offset = [&](int64_t d, int64_t b) {
    return (layout == 0 ? d * batch + b : b * num_dirs + d) * hidden;
  };

  const size_t per_dir = spec.default_activations.size();
  std::vector<double> h_next(static_cast<size_t>(hidden)), c_next(static_cast<size_t>(hidden));
  for (int64_t d = 0; d < num_dirs; ++d) {
    DirectionWeights dw;
    dw.w = w.data() + d * rows * input_size;
    dw.r = r.data() + d * rows * hidden;
    dw.wb = bias.data() + d * 2 * rows;
    dw.rb = dw.wb + rows;
    dw.p = spec.has_cell_state ? peep.data() + d * 3 * hidden : nullptr;
    dw.act = acts.data() + d * per_dir;
    const bool reverse = direction == "reverse" || d == 1;
    for (int64_t b = 0; b < batch; ++b) {
      double* h = h_state.data() + state_offset(d, b);
      double* c = spec.has_cell_state ? c_state.data() + state_offset(d, b) : nullptr;
      for (int64_t step = 0; step < lens[b]; ++step) {
        const int64_t t = reverse ? lens[b] - 1 - step : step;
        spec.step(opt, dw, x_at(t, b), h, c, h_next.data(), c_next.data());
        std::copy(h_next.begin(), h_next.end(), h);
        if (c) std::copy(c_next.begin(), c_next.end(), c);
        std::copy(h_next.begin(), h_next.end(), y_at(t, d, b));
      }
    }
  }

  PE_RETURN_IF_ERROR(WriteOutput(ctx, 0, dtype, y_shape, y));
  PE_RETURN_IF_ERROR(WriteOutput(ctx, 1, dtype, state_shape, h_state));
  if (spec.has_cell_state) PE_RETURN_IF_ERROR(WriteOutput(ctx, 2, dtype, state_shape, c_state));
  return Status::OK();
}

Status Rnn(KernelContext& ctx) {
  static const CellSpec spec{1, {"Tanh"}, false, RnnStep};
  return RunRecurrent(ctx, spec);
}

Status Gru(KernelContext& ctx) {
  static const CellSpec spec{3, {"Sigmoid", "Tanh"}, false, GruStep};
  return RunRecurrent(ctx, spec);
}

Status Lstm(KernelContext& ctx) {
  static const CellSpec spec{4, {"Sigmoid", "Tanh", "Tanh"}, true, LstmStep};
  return RunRecurrent(ctx, spec);
}

}  // namespace

void RegisterRecurrentKernels(KernelRegistry& r) {
  r.Add("RNN", Rnn);
  r.Add("GRU", Gru);
  r.Add("LSTM", Lstm);
}

}  // namespace privedge
