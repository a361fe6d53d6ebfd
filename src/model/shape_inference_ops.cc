// Shape inference rules for elementwise, broadcasting, convolution, pooling, normalization,
// matrix product, reduction and recurrent operators.
#include <algorithm>
#include <set>

#include "model/shape_inference_internal.h"

namespace privedge::shape_inference {
namespace {

// ---- Elementwise ------------------------------------------------------------------------------

// Output 0 (and any further outputs listed) has input 0's type and shape.
void SameAsInput(InferContext& ctx) {
  if (const TypeInfo* t = ctx.type(0)) ctx.set_type(0, *t);
}

void SameShapeAs(InferContext& ctx, size_t output, size_t input, DType elem_type) {
  if (const Dims* d = ctx.dims(input))
    ctx.set_type(output, TensorType(elem_type, *d));
  else if (ctx.type(input))
    ctx.set_type(output, TensorWithoutShape(elem_type));
}

void BoolOfSameShape(InferContext& ctx) { SameShapeAs(ctx, 0, 0, DType::kBool); }

void Cast(InferContext& ctx) {
  const auto to = static_cast<DType>(ctx.attr_int("to", 0));
  if (!IsValidDType(static_cast<int32_t>(to))) return;
  SameShapeAs(ctx, 0, 0, to);
  const Data* data = ctx.data(0);
  if (!data || (to != DType::kInt64 && to != DType::kInt32)) return;
  for (const Scalar& v : *data)  // a value int32 cannot hold would wrap: stop tracking
    if (to == DType::kInt32 && v.known && (v.value < INT32_MIN || v.value > INT32_MAX)) return;
  ctx.set_data(0, *data);
}

void CastLike(InferContext& ctx) {
  const DType to = ctx.elem_type(1);
  if (to != DType::kUndefined) SameShapeAs(ctx, 0, 0, to);
}

// Optional `dtype` attribute, else input 0's type (EyeLike, Random*Like).
void LikeWithDtype(InferContext& ctx) {
  const int64_t dtype = ctx.attr_int("dtype", 0);
  SameShapeAs(ctx, 0, 0, dtype ? static_cast<DType>(dtype) : ctx.elem_type(0));
}

// Values of integer arithmetic on tracked shape data (Div of a symbol by 1 keeps it).
std::optional<Scalar> ScalarArithmetic(const std::string& op, const Scalar& a, const Scalar& b) {
  int64_t r = 0;
  if (a.known && b.known) {
    if (op == "Add" && CheckedAdd(a.value, b.value, &r)) return KnownScalar(r);
    if (op == "Sub" && !__builtin_sub_overflow(a.value, b.value, &r)) return KnownScalar(r);
    if (op == "Mul" && CheckedMul(a.value, b.value, &r)) return KnownScalar(r);
    // Integer Div truncates like C++; INT64_MIN / -1 overflows.
    if (op == "Div" && b.value != 0 && !(b.value == -1 && a.value == INT64_MIN))
      return KnownScalar(a.value / b.value);
    return Scalar{};
  }
  const bool b_neutral = b.known && (((op == "Add" || op == "Sub") && b.value == 0) ||
                                     ((op == "Mul" || op == "Div") && b.value == 1));
  if (b_neutral) return a;
  if (a.known && ((op == "Add" && a.value == 0) || (op == "Mul" && a.value == 1))) return b;
  return Scalar{};
}

// N-ary broadcasting; output type from input `type_from` (or `elem_type` when given).
void Broadcasting(InferContext& ctx, size_t type_from, DType elem_type) {
  if (elem_type == DType::kUndefined) elem_type = ctx.elem_type(type_from);
  std::optional<Dims> shape = Dims{};
  for (size_t i = 0; i < ctx.num_inputs() && shape; ++i) {
    if (!ctx.has_input(i)) continue;
    const Dims* d = ctx.dims(i);
    shape = d ? Broadcast(*shape, *d) : std::nullopt;
  }
  if (elem_type == DType::kUndefined && !shape) return;
  ctx.set_type(0, shape ? TensorType(elem_type, *shape) : TensorWithoutShape(elem_type));
  const std::string& op = ctx.node().op_type;
  if (ctx.num_inputs() == 2 && ctx.data(0) && ctx.data(1) &&
      (op == "Add" || op == "Sub" || op == "Mul" || op == "Div")) {
    const Data& a = *ctx.data(0);
    const Data& b = *ctx.data(1);
    if (a.size() != b.size() && a.size() != 1 && b.size() != 1) return;
    Data out(std::max(a.size(), b.size()));
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = *ScalarArithmetic(op, a[a.size() == 1 ? 0 : i], b[b.size() == 1 ? 0 : i]);
    ctx.set_data(0, std::move(out));
  }
}

void Arithmetic(InferContext& ctx) { Broadcasting(ctx, 0, DType::kUndefined); }
void Comparison(InferContext& ctx) { Broadcasting(ctx, 0, DType::kBool); }
void Where(InferContext& ctx) { Broadcasting(ctx, 1, DType::kUndefined); }

void Dropout(InferContext& ctx) {
  SameAsInput(ctx);
  // The mask is bool from opset 10 on, the data's type before.
  SameShapeAs(ctx, 1, 0, ctx.opset() >= 10 ? DType::kBool : ctx.elem_type(0));
}

void QuantizeLinear(InferContext& ctx) {
  const DType zp = ctx.elem_type(2);
  SameShapeAs(ctx, 0, 0, zp == DType::kUndefined ? DType::kUInt8 : zp);
}

void DequantizeLinear(InferContext& ctx) { SameShapeAs(ctx, 0, 0, DType::kFloat32); }

// ---- Normalization ----------------------------------------------------------------------------

void BatchNormalization(InferContext& ctx) {
  SameAsInput(ctx);
  // Training mode also returns running mean and variance, shaped like the scale.
  for (size_t i = 1; i < ctx.num_outputs() && i < 5; ++i)
    if (const TypeInfo* t = ctx.type(i < 3 ? 3 : i)) ctx.set_type(i, *t);
}

void LayerNormalization(InferContext& ctx) {
  SameAsInput(ctx);
  const Dims* x = ctx.dims(0);
  int64_t axis = 0;
  if (!x || !NormalizeAxis(ctx.attr_int("axis", -1), static_cast<int64_t>(x->size()), &axis))
    return;
  Dims stats = *x;
  for (size_t i = static_cast<size_t>(axis); i < stats.size(); ++i) stats[i] = KnownDim(1);
  const auto stash = static_cast<DType>(ctx.attr_int("stash_type", 1));
  for (size_t i = 1; i < 3; ++i) ctx.set_type(i, TensorType(stash, stats));
}

// ---- Convolution and pooling ------------------------------------------------------------------

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string auto_pad;
  bool ceil_mode = false;
};

// Reads the window attributes for `rank` spatial axes; false when any is unusable.
bool ReadWindow(const InferContext& ctx, size_t rank, const std::vector<int64_t>& kernel,
                Window* w) {
  auto list = [&](const char* name, int64_t def, size_t n, int64_t min, std::vector<int64_t>* out) {
    const auto* v = ctx.attr_ints(name);
    if (v && !v->empty())
      *out = *v;
    else
      out->assign(n, def);
    if (out->size() != n) return false;
    return std::all_of(out->begin(), out->end(), [&](int64_t x) { return x >= min; });
  };
  w->kernel = kernel;
  if (kernel.size() != rank ||
      !std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k >= 1; }))
    return false;
  w->auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  w->ceil_mode = ctx.attr_int("ceil_mode", 0) != 0;
  return list("strides", 1, rank, 1, &w->strides) && list("dilations", 1, rank, 1, &w->dilations) &&
         list("pads", 0, 2 * rank, 0, &w->pads);
}

// Output extent of spatial axis `d` (the kernel's ForwardGeometry, checked for overflow).
Dim WindowOutput(const Window& w, size_t d, const Dim& in) {
  const size_t r = w.kernel.size();
  const int64_t s = w.strides[d];
  int64_t eff = 0;  // dilated kernel extent
  if (!CheckedMul(w.kernel[d] - 1, w.dilations[d], &eff) || !CheckedAdd(eff, 1, &eff)) return {};
  const bool same = w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER";
  const int64_t pb = w.auto_pad == "VALID" ? 0 : w.pads[d];
  const int64_t pe = w.auto_pad == "VALID" ? 0 : w.pads[d + r];
  if (!in.known()) {
    // A symbolic extent passes through a window that maps each position to itself.
    const bool identity = s == 1 && eff == 1 && (same || (pb == 0 && pe == 0));
    return identity ? in : Dim{};
  }
  if (same) return KnownDim(in.value / s + (in.value % s != 0));
  if (w.auto_pad != "NOTSET" && w.auto_pad != "VALID" && !w.auto_pad.empty()) return {};
  int64_t span = 0;
  if (!CheckedAdd(in.value, pb, &span) || !CheckedAdd(span, pe, &span)) return {};
  span -= eff;
  if (span < 0) return {};
  int64_t out = (w.ceil_mode ? span / s + (span % s != 0) : span / s) + 1;
  // A ceil-mode window must start inside the input or its leading padding.
  int64_t start = 0;
  if (w.ceil_mode && (!CheckedMul(out - 1, s, &start) || start >= in.value + pb)) --out;
  return KnownDim(out);
}

// Conv-like: X [N,C,spatial...] and W [M,C/group,kernel...] give [N,M,out...].
void ConvLike(InferContext& ctx, size_t x_index, size_t w_index, DType elem_type) {
  if (elem_type == DType::kUndefined) elem_type = ctx.elem_type(x_index);
  const Dims* x = ctx.dims(x_index);
  const Dims* w = ctx.dims(w_index);
  if (!x || x->size() < 3 || (w && w->size() != x->size())) {
    if (w && w->size() >= 3)
      ctx.set_type(0, TensorOfRank(elem_type, w->size()));
    else
      ctx.set_type(0, TensorWithoutShape(elem_type));
    return;
  }
  const size_t r = x->size() - 2;
  Dims out(x->size());
  out[0] = (*x)[0];
  if (w) out[1] = (*w)[0];
  std::vector<int64_t> kernel;
  if (const auto* k = ctx.attr_ints("kernel_shape"))
    kernel = *k;
  else if (w)
    for (size_t i = 2; i < w->size(); ++i) kernel.push_back((*w)[i].known() ? (*w)[i].value : -1);
  Window win;
  if (ReadWindow(ctx, r, kernel, &win))
    for (size_t d = 0; d < r; ++d) out[d + 2] = WindowOutput(win, d, (*x)[d + 2]);
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

void Conv(InferContext& ctx) { ConvLike(ctx, 0, 1, DType::kUndefined); }
void ConvInteger(InferContext& ctx) { ConvLike(ctx, 0, 1, DType::kInt32); }
void QLinearConv(InferContext& ctx) { ConvLike(ctx, 0, 3, ctx.elem_type(7)); }

void ConvTranspose(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  const Dims* w = ctx.dims(1);
  if (!x || x->size() < 3 || (w && w->size() != x->size())) {
    ctx.set_type(0, TensorWithoutShape(elem_type));
    return;
  }
  const size_t r = x->size() - 2;
  Dims out(x->size());
  out[0] = (*x)[0];
  const int64_t group = ctx.attr_int("group", 1);
  int64_t channels = 0;
  if (w && (*w)[1].known() && group >= 1 && CheckedMul((*w)[1].value, group, &channels))
    out[1] = KnownDim(channels);
  std::vector<int64_t> kernel;
  if (const auto* k = ctx.attr_ints("kernel_shape"))
    kernel = *k;
  else if (w)
    for (size_t i = 2; i < w->size(); ++i) kernel.push_back((*w)[i].known() ? (*w)[i].value : -1);
  Window win;
  std::vector<int64_t> out_pad(r, 0), out_shape;
  if (const auto* p = ctx.attr_ints("output_padding"); p && !p->empty()) out_pad = *p;
  if (const auto* s = ctx.attr_ints("output_shape")) out_shape = *s;
  if (out_shape.size() == r + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  const bool usable = ReadWindow(ctx, r, kernel, &win) && out_pad.size() == r &&
                      (out_shape.empty() || out_shape.size() == r);
  const bool same = win.auto_pad == "SAME_UPPER" || win.auto_pad == "SAME_LOWER";
  for (size_t d = 0; usable && d < r; ++d) {
    const Dim& in = (*x)[d + 2];
    int64_t v = 0, eff = 0;
    if (!out_shape.empty()) {
      out[d + 2] = KnownDim(out_shape[d]);
    } else if (!in.known() || out_pad[d] < 0) {
      continue;
    } else if (same) {
      if (CheckedMul(in.value, win.strides[d], &v)) out[d + 2] = KnownDim(v);
    } else if (CheckedMul(win.strides[d], in.value - 1, &v) && CheckedAdd(v, out_pad[d], &v) &&
               CheckedMul(win.kernel[d] - 1, win.dilations[d], &eff) && CheckedAdd(v, eff, &v) &&
               CheckedAdd(v, 1, &v)) {
      const bool valid = win.auto_pad == "VALID";
      const int64_t pb = valid ? 0 : win.pads[d], pe = valid ? 0 : win.pads[d + r];
      if (v >= pb && v - pb >= pe) out[d + 2] = KnownDim(v - pb - pe);
    }
  }
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

void Pool(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  if (!x || x->size() < 3) {
    ctx.set_type(0, TensorWithoutShape(elem_type));
    return;
  }
  const size_t r = x->size() - 2;
  Dims out(x->size());
  out[0] = (*x)[0];
  out[1] = (*x)[1];
  Window win;
  const auto* kernel = ctx.attr_ints("kernel_shape");
  if (kernel && ReadWindow(ctx, r, *kernel, &win))
    for (size_t d = 0; d < r; ++d) out[d + 2] = WindowOutput(win, d, (*x)[d + 2]);
  ctx.set_type(0, TensorType(elem_type, out));
  if (ctx.node().op_type == "MaxPool") ctx.set_type(1, TensorType(DType::kInt64, std::move(out)));
}

void GlobalPool(InferContext& ctx) {
  const Dims* x = ctx.dims(0);
  if (!x || x->size() < 2) return SameShapeAs(ctx, 0, 0, ctx.elem_type(0));
  Dims out = *x;
  for (size_t i = 2; i < out.size(); ++i) out[i] = KnownDim(1);
  ctx.set_type(0, TensorType(ctx.elem_type(0), std::move(out)));
}

// ---- Matrix products --------------------------------------------------------------------------

void Gemm(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* a = ctx.dims(0);
  const Dims* b = ctx.dims(1);
  Dims out(2);
  if (a && a->size() == 2) out[0] = (*a)[ctx.attr_int("transA", 0) ? 1 : 0];
  if (b && b->size() == 2) out[1] = (*b)[ctx.attr_int("transB", 0) ? 0 : 1];
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

// NumPy matmul: [...,n,k] x [...,k,m] -> [broadcast(...),n,m]; a 1-D side loses its axis.
void MatMulLike(InferContext& ctx, size_t a_index, size_t b_index, DType elem_type) {
  const Dims* a = ctx.dims(a_index);
  const Dims* b = ctx.dims(b_index);
  if (!a || !b || a->empty() || b->empty()) return ctx.set_type(0, TensorWithoutShape(elem_type));
  const Dims a_batch(a->begin(), a->end() - std::min<size_t>(a->size(), 2));
  const Dims b_batch(b->begin(), b->end() - std::min<size_t>(b->size(), 2));
  std::optional<Dims> out = Broadcast(a_batch, b_batch);
  if (!out) return ctx.set_type(0, TensorWithoutShape(elem_type));
  if (a->size() >= 2) out->push_back((*a)[a->size() - 2]);
  if (b->size() >= 2) out->push_back(b->back());
  ctx.set_type(0, TensorType(elem_type, std::move(*out)));
}

void MatMul(InferContext& ctx) { MatMulLike(ctx, 0, 1, ctx.elem_type(0)); }
void MatMulInteger(InferContext& ctx) { MatMulLike(ctx, 0, 1, DType::kInt32); }
void QLinearMatMul(InferContext& ctx) { MatMulLike(ctx, 0, 3, ctx.elem_type(7)); }

// ---- Reductions -------------------------------------------------------------------------------

// Reduces `axes` of input 0 (all axes when empty); nullopt axes: known only as a list.
void ReduceAxes(InferContext& ctx, const std::optional<std::vector<int64_t>>& axes, bool keepdims,
                DType elem_type) {
  const Dims* x = ctx.dims(0);
  if (!x || !axes) {
    if (x && keepdims) return ctx.set_type(0, TensorOfRank(elem_type, x->size()));
    return ctx.set_type(0, TensorWithoutShape(elem_type));
  }
  const auto rank = static_cast<int64_t>(x->size());
  std::set<int64_t> reduced;
  for (int64_t a : *axes) {
    int64_t axis = 0;
    if (!NormalizeAxis(a, rank, &axis)) return ctx.set_type(0, TensorWithoutShape(elem_type));
    reduced.insert(axis);
  }
  Dims out;
  for (int64_t i = 0; i < rank; ++i) {
    const bool gone = axes->empty() || reduced.count(i);
    if (!gone)
      out.push_back((*x)[i]);
    else if (keepdims)
      out.push_back(KnownDim(1));
  }
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

void Reduce(InferContext& ctx) {
  const bool keepdims = ctx.attr_int("keepdims", 1) != 0;
  bool absent = false;
  auto axes = ctx.ints_from_input_or_attr(1, "axes", &absent);
  if (absent || (axes && axes->empty())) {
    if (ctx.attr_int("noop_with_empty_axes", 0)) return SameAsInput(ctx);
    axes = std::vector<int64_t>{};
  }
  ReduceAxes(ctx, axes, keepdims, ctx.elem_type(0));
}

void ArgReduce(InferContext& ctx) {
  ReduceAxes(ctx, std::vector<int64_t>{ctx.attr_int("axis", 0)}, ctx.attr_int("keepdims", 1) != 0,
             DType::kInt64);
}

void TopK(InferContext& ctx) {
  const Dims* x = ctx.dims(0);
  int64_t axis = 0;
  if (!x || !NormalizeAxis(ctx.attr_int("axis", -1), static_cast<int64_t>(x->size()), &axis)) {
    SameShapeAs(ctx, 0, 0, ctx.elem_type(0));
    SameShapeAs(ctx, 1, 0, DType::kInt64);
    return;
  }
  Dims out = *x;
  bool absent = false;
  auto k = ctx.ints_from_input_or_attr(1, "", &absent);
  if (absent) k = std::vector<int64_t>{ctx.attr_int("k", -1)};
  out[axis] = k && k->size() == 1 ? KnownDim((*k)[0]) : Dim{};
  ctx.set_type(0, TensorType(ctx.elem_type(0), out));
  ctx.set_type(1, TensorType(DType::kInt64, std::move(out)));
}

// ---- Recurrent --------------------------------------------------------------------------------

// LSTM, GRU, RNN: X [seq,batch,input] (layout 1: [batch,seq,input]) gives
// Y [seq,dirs,batch,hidden] (layout 1: [batch,seq,dirs,hidden]) and Y_h, Y_c [dirs,batch,hidden]
// (layout 1: [batch,dirs,hidden]).
void Recurrent(InferContext& ctx, int64_t gates) {
  const DType elem_type = ctx.elem_type(0);
  const std::string direction = ctx.attr_string("direction", "forward");
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  const bool batch_first = ctx.attr_int("layout", 0) == 1;
  Dim hidden;
  if (int64_t h = ctx.attr_int("hidden_size", -1); h > 0)
    hidden = KnownDim(h);
  else if (const Dims* r = ctx.dims(2); r && r->size() == 3)
    hidden = (*r)[2];
  Dim seq, batch;
  if (const Dims* x = ctx.dims(0); x && x->size() == 3) {
    seq = (*x)[batch_first ? 1 : 0];
    batch = (*x)[batch_first ? 0 : 1];
  }
  const Dim d = KnownDim(dirs);
  ctx.set_type(0, TensorType(elem_type, batch_first ? Dims{batch, seq, d, hidden}
                                                    : Dims{seq, d, batch, hidden}));
  const Dims state = batch_first ? Dims{batch, d, hidden} : Dims{d, batch, hidden};
  ctx.set_type(1, TensorType(elem_type, state));
  if (gates == 4) ctx.set_type(2, TensorType(elem_type, state));
}

void Lstm(InferContext& ctx) { Recurrent(ctx, 4); }
void Gru(InferContext& ctx) { Recurrent(ctx, 3); }
void Rnn(InferContext& ctx) { Recurrent(ctx, 1); }

}  // namespace

void AddElementwiseRules(RuleTable& t) {
  for (const char* op : {"Abs",
                         "Neg",
                         "Floor",
                         "Ceil",
                         "Round",
                         "Sqrt",
                         "Reciprocal",
                         "Exp",
                         "Log",
                         "Sin",
                         "Cos",
                         "Tan",
                         "Asin",
                         "Acos",
                         "Atan",
                         "Sinh",
                         "Cosh",
                         "Asinh",
                         "Acosh",
                         "Atanh",
                         "Sigmoid",
                         "Tanh",
                         "Relu",
                         "LeakyRelu",
                         "Elu",
                         "Selu",
                         "Celu",
                         "HardSigmoid",
                         "HardSwish",
                         "Softplus",
                         "Softsign",
                         "ThresholdedRelu",
                         "Erf",
                         "Sign",
                         "Mish",
                         "Gelu",
                         "Shrink",
                         "Not",
                         "BitwiseNot",
                         "Identity",
                         "Softmax",
                         "LogSoftmax",
                         "Hardmax",
                         "Clip",
                         "LRN",
                         "MeanVarianceNormalization",
                         "CumSum",
                         "Trilu",
                         "ReverseSequence",
                         "InstanceNormalization",
                         "LpNormalization",
                         "ScatterElements",
                         "ScatterND",
                         "Scatter"})
    t[op] = SameAsInput;
  t["Identity"] = [](InferContext& ctx) {
    SameAsInput(ctx);
    if (ctx.data(0)) ctx.set_data(0, *ctx.data(0));
  };
  for (const char* op : {"IsNaN", "IsInf"}) t[op] = BoolOfSameShape;
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "PRelu", "BitShift",
                         "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Sum", "Min", "Max", "Mean"})
    t[op] = Arithmetic;
  for (const char* op :
       {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"})
    t[op] = Comparison;
  t["Where"] = Where;
  t["Cast"] = Cast;
  t["CastLike"] = CastLike;
  for (const char* op : {"EyeLike", "RandomNormalLike", "RandomUniformLike"}) t[op] = LikeWithDtype;
  t["Dropout"] = Dropout;
  t["QuantizeLinear"] = QuantizeLinear;
  t["DequantizeLinear"] = DequantizeLinear;
}

void AddNnRules(RuleTable& t) {
  t["BatchNormalization"] = BatchNormalization;
  t["LayerNormalization"] = LayerNormalization;
  t["Conv"] = Conv;
  t["ConvInteger"] = ConvInteger;
  t["QLinearConv"] = QLinearConv;
  t["ConvTranspose"] = ConvTranspose;
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) t[op] = Pool;
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"}) t[op] = GlobalPool;
  t["Gemm"] = Gemm;
  t["MatMul"] = MatMul;
  t["MatMulInteger"] = MatMulInteger;
  t["QLinearMatMul"] = QLinearMatMul;
  for (const char* op :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"})
    t[op] = Reduce;
  for (const char* op : {"ArgMax", "ArgMin"}) t[op] = ArgReduce;
  t["TopK"] = TopK;
  t["LSTM"] = Lstm;
  t["GRU"] = Gru;
  t["RNN"] = Rnn;
}

}  // namespace privedge::shape_inference
