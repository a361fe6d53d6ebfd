// Shape inference rules for operators that move, cut, join or describe shapes. These also
// carry tracked shape data (Shape -> Gather -> Unsqueeze -> Concat -> Reshape).
#include <algorithm>
#include <set>

#include "model/shape_inference_internal.h"

namespace privedge::shape_inference {
namespace {

Data DataFromDims(const Dims& dims) {
  Data data;
  for (const Dim& d : dims) data.push_back(ScalarFromDim(d));
  return data;
}

Dims DimsFromData(const Data& data) {
  Dims dims;
  for (const Scalar& s : data) dims.push_back(DimFromScalar(s));
  return dims;
}

// Tracked data of input `i` read as a shape (ConstantOfShape, Expand, Reshape's target).
std::optional<Dims> ShapeFromInput(const InferContext& ctx, size_t i) {
  const Data* d = ctx.data(i);
  if (!d) return std::nullopt;
  return DimsFromData(*d);
}

void Shape(InferContext& ctx) {
  const Dims* x = ctx.dims(0);
  if (!x) return ctx.set_type(0, TensorOfRank(DType::kInt64, 1));
  // Opset 15 start/end: a slice of the shape, clamped like Slice.
  const auto rank = static_cast<int64_t>(x->size());
  auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  const int64_t start = clamp(ctx.attr_int("start", 0));
  const int64_t end = clamp(ctx.attr_int("end", rank));
  const Dims part(x->begin() + start, x->begin() + std::max(start, end));
  ctx.set_type(0, TensorType(DType::kInt64, {KnownDim(static_cast<int64_t>(part.size()))}));
  ctx.set_data(0, DataFromDims(part));
}

void Size(InferContext& ctx) {
  ctx.set_type(0, TensorType(DType::kInt64, {}));
  if (const Dims* x = ctx.dims(0))
    ctx.set_data(0, {ScalarFromDim(ProductOfDims(x->begin(), x->end()))});
}

void Flatten(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  const auto rank = static_cast<int64_t>(x ? x->size() : 0);
  int64_t axis = ctx.attr_int("axis", 1);
  if (axis < 0) axis += rank;
  if (!x || axis < 0 || axis > rank) return ctx.set_type(0, TensorOfRank(elem_type, 2));
  ctx.set_type(0, TensorType(elem_type, {ProductOfDims(x->begin(), x->begin() + axis),
                                         ProductOfDims(x->begin() + axis, x->end())}));
}

// The extent Reshape's -1 stands for: input dims divided by the other output dims, with equal
// symbols cancelling ([batch,seq,4,32] -> [batch,seq,-1] gives 128).
Dim InferredReshapeDim(const Dims& in, const Dims& out, size_t minus_one) {
  std::multiset<std::string> symbols;
  int64_t in_known = 1, out_known = 1;
  for (const Dim& d : in) {
    if (d.known()) {
      if (!CheckedMul(in_known, d.value, &in_known)) return {};
    } else if (d.symbol.empty()) {
      return {};
    } else {
      symbols.insert(d.symbol);
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (i == minus_one) continue;
    const Dim& d = out[i];
    if (d.known()) {
      if (!CheckedMul(out_known, d.value, &out_known)) return {};
    } else {
      auto it = d.symbol.empty() ? symbols.end() : symbols.find(d.symbol);
      if (it == symbols.end()) return {};
      symbols.erase(it);
    }
  }
  if (out_known == 0 || in_known % out_known != 0) return {};
  const int64_t rest = in_known / out_known;
  if (symbols.empty()) return KnownDim(rest);
  if (symbols.size() == 1 && rest == 1) return Dim{-1, *symbols.begin()};
  return {};
}

void Reshape(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Data* target = ctx.data(1);
  const Dims* x = ctx.dims(0);
  if (!target) {
    const Dims* shape_dims = ctx.dims(1);
    if (shape_dims && shape_dims->size() == 1 && (*shape_dims)[0].known())
      return ctx.set_type(0, TensorOfRank(elem_type, static_cast<size_t>((*shape_dims)[0].value)));
    return ctx.set_type(0, TensorWithoutShape(elem_type));
  }
  const bool allowzero = ctx.attr_int("allowzero", 0) != 0;
  Dims out(target->size());
  std::optional<size_t> minus_one;
  for (size_t i = 0; i < target->size(); ++i) {
    const Scalar& s = (*target)[i];
    if (!s.known) {
      out[i] = DimFromScalar(s);
    } else if (s.value == 0 && !allowzero) {
      if (x && i < x->size()) out[i] = (*x)[i];  // 0 copies the input extent
    } else if (s.value == -1 && !minus_one) {
      minus_one = i;
    } else if (s.value < 0) {
      return ctx.set_type(0, TensorWithoutShape(elem_type));  // the kernel reports it
    } else {
      out[i] = KnownDim(s.value);
    }
  }
  if (minus_one && x) out[*minus_one] = InferredReshapeDim(*x, out, *minus_one);
  ctx.set_type(0, TensorType(elem_type, out));
  if (ctx.data(0) && out.size() <= 1) ctx.set_data(0, *ctx.data(0));
}

void Transpose(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  if (!x) return ctx.set_type(0, TensorWithoutShape(elem_type));
  std::vector<int64_t> perm;
  if (const auto* p = ctx.attr_ints("perm"); p && !p->empty())
    perm = *p;
  else
    for (size_t i = x->size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  std::vector<bool> seen(x->size(), false);
  Dims out;
  for (int64_t p : perm) {
    if (perm.size() != x->size() || p < 0 || p >= static_cast<int64_t>(x->size()) || seen[p])
      return ctx.set_type(0, TensorOfRank(elem_type, x->size()));
    seen[p] = true;
    out.push_back((*x)[p]);
  }
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

void Concat(InferContext& ctx) {
  DType elem_type = DType::kUndefined;
  for (size_t i = 0; i < ctx.num_inputs() && elem_type == DType::kUndefined; ++i)
    elem_type = ctx.elem_type(i);
  const Dims* first = nullptr;
  for (size_t i = 0; i < ctx.num_inputs() && !first; ++i) first = ctx.dims(i);
  int64_t axis = 0;
  if (!first || !NormalizeAxis(ctx.attr_int("axis", 0), static_cast<int64_t>(first->size()), &axis))
    return ctx.set_type(0, TensorWithoutShape(elem_type));
  Dims out = *first;
  int64_t total = 0;
  bool total_known = true;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Dims* d = ctx.dims(i);
    if (!d) {
      total_known = false;
      continue;
    }
    if (d->size() != out.size()) return ctx.set_type(0, TensorWithoutShape(elem_type));
    for (size_t j = 0; j < out.size(); ++j)
      if (static_cast<int64_t>(j) != axis) out[j] = UnifyDims(out[j], (*d)[j]);
    const Dim& a = (*d)[axis];
    total_known = total_known && a.known() && CheckedAdd(total, a.value, &total);
  }
  out[axis] = total_known ? KnownDim(total) : Dim{};
  if (ctx.num_inputs() == 1) out[axis] = (*first)[axis];  // a lone input passes through
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
  Data data;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Data* d = ctx.data(i);
    const Dims* shape = ctx.dims(i);
    if (!d || !shape || shape->size() != 1) return;
    data.insert(data.end(), d->begin(), d->end());
  }
  ctx.set_data(0, std::move(data));
}

void Split(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  int64_t axis = 0;
  const size_t n = ctx.num_outputs();
  if (!x || !NormalizeAxis(ctx.attr_int("axis", 0), static_cast<int64_t>(x->size()), &axis)) {
    for (size_t i = 0; i < n; ++i) ctx.set_type(i, TensorWithoutShape(elem_type));
    return;
  }
  bool absent = false;
  auto sizes = ctx.ints_from_input_or_attr(1, "split", &absent);
  const Dim& whole = (*x)[axis];
  if (absent && whole.known() && n > 0 && whole.value % static_cast<int64_t>(n) == 0)
    sizes = std::vector<int64_t>(n, whole.value / static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    Dims out = *x;
    out[axis] = sizes && sizes->size() == n ? KnownDim((*sizes)[i]) : Dim{};
    ctx.set_type(i, TensorType(elem_type, std::move(out)));
  }
}

void Squeeze(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  bool absent = false;
  const auto axes = ctx.ints_from_input_or_attr(1, "axes", &absent);
  if (!x || (!absent && !axes)) return ctx.set_type(0, TensorWithoutShape(elem_type));
  std::set<int64_t> removed;
  const auto rank = static_cast<int64_t>(x->size());
  for (int64_t i = 0; absent && i < rank; ++i) {
    const Dim& d = (*x)[i];
    if (!d.known()) return ctx.set_type(0, TensorWithoutShape(elem_type));  // 1 or not?
    if (d.value == 1) removed.insert(i);
  }
  for (int64_t a : absent ? std::vector<int64_t>{} : *axes) {
    int64_t axis = 0;
    if (!NormalizeAxis(a, rank, &axis)) return ctx.set_type(0, TensorWithoutShape(elem_type));
    removed.insert(axis);
  }
  Dims out;
  for (int64_t i = 0; i < rank; ++i)
    if (!removed.count(i)) out.push_back((*x)[i]);
  ctx.set_type(0, TensorType(elem_type, out));
  if (ctx.data(0) && out.empty()) ctx.set_data(0, *ctx.data(0));
}

void Unsqueeze(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  bool absent = false;
  const auto axes = ctx.ints_from_input_or_attr(1, "axes", &absent);
  if (!x || !axes || axes->size() > kMaxRank) return ctx.set_type(0, TensorWithoutShape(elem_type));
  const auto rank = static_cast<int64_t>(x->size() + axes->size());
  std::set<int64_t> inserted;
  for (int64_t a : *axes) {
    int64_t axis = 0;
    if (!NormalizeAxis(a, rank, &axis) || !inserted.insert(axis).second)
      return ctx.set_type(0, TensorWithoutShape(elem_type));
  }
  Dims out;
  size_t next = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(inserted.count(i) ? KnownDim(1) : (*x)[next++]);
  ctx.set_type(0, TensorType(elem_type, out));
  if (ctx.data(0) && out.size() == 1) ctx.set_data(0, *ctx.data(0));
}

void Gather(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  const Dims* indices = ctx.dims(1);
  int64_t axis = 0;
  if (!x || !indices ||
      !NormalizeAxis(ctx.attr_int("axis", 0), static_cast<int64_t>(x->size()), &axis))
    return ctx.set_type(0, TensorWithoutShape(elem_type));
  Dims out(x->begin(), x->begin() + axis);
  out.insert(out.end(), indices->begin(), indices->end());
  out.insert(out.end(), x->begin() + axis + 1, x->end());
  ctx.set_type(0, TensorType(elem_type, out));
  // Picking from tracked shape data (Gather(Shape(x), 0) is x's first extent).
  const Data* data = ctx.data(0);
  const auto picks = ctx.ints(1);
  if (!data || !picks || x->size() != 1) return;
  Data picked;
  for (int64_t p : *picks) {
    int64_t i = 0;
    if (!NormalizeAxis(p, static_cast<int64_t>(data->size()), &i)) return;
    picked.push_back((*data)[i]);
  }
  ctx.set_data(0, std::move(picked));
}

void GatherElements(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  if (const Dims* indices = ctx.dims(1))
    ctx.set_type(0, TensorType(elem_type, *indices));
  else
    ctx.set_type(0, TensorWithoutShape(elem_type));
}

// Length of Slice(start, end, step) over an axis of extent n (ONNX clamping rules).
std::optional<int64_t> SliceLength(int64_t n, int64_t start, int64_t end, int64_t step) {
  if (step == 0 || step == INT64_MIN) return std::nullopt;
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (step > 0) {
    start = std::clamp(start, int64_t{0}, n);
    end = std::clamp(end, int64_t{0}, n);
    return end <= start ? 0 : (end - start - 1) / step + 1;
  }
  start = std::clamp(start, int64_t{0}, n - 1);
  end = std::clamp(end, int64_t{-1}, n - 1);
  return start <= end ? 0 : (start - end - 1) / -step + 1;
}

void Slice(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  if (!x) return ctx.set_type(0, TensorWithoutShape(elem_type));
  bool absent = false;
  const auto starts = ctx.ints_from_input_or_attr(1, "starts", &absent);
  const auto ends = ctx.ints_from_input_or_attr(2, "ends", &absent);
  bool no_axes = false, no_steps = false;
  auto axes = ctx.ints_from_input_or_attr(3, "axes", &no_axes);
  auto steps = ctx.ints_from_input_or_attr(4, "", &no_steps);
  const auto rank = static_cast<int64_t>(x->size());
  if (!starts || !ends || (!no_axes && !axes) || (!no_steps && !steps) ||
      starts->size() != ends->size())
    return ctx.set_type(0, TensorOfRank(elem_type, x->size()));
  if (no_axes) {
    axes = std::vector<int64_t>();
    for (size_t i = 0; i < starts->size(); ++i) axes->push_back(static_cast<int64_t>(i));
  }
  if (no_steps) steps = std::vector<int64_t>(starts->size(), 1);
  if (axes->size() != starts->size() || steps->size() != starts->size())
    return ctx.set_type(0, TensorOfRank(elem_type, x->size()));
  Dims out = *x;
  std::set<int64_t> seen;
  for (size_t i = 0; i < axes->size(); ++i) {
    int64_t axis = 0;
    if (!NormalizeAxis((*axes)[i], rank, &axis) || !seen.insert(axis).second)
      return ctx.set_type(0, TensorOfRank(elem_type, x->size()));
    const Dim& in = (*x)[axis];
    const int64_t start = (*starts)[i], end = (*ends)[i], step = (*steps)[i];
    if (!in.known()) {
      // x[0:] of a symbolic axis is the whole axis; anything else is unknown.
      out[axis] = start == 0 && end == INT64_MAX && step == 1 ? in : Dim{};
      continue;
    }
    const auto len = SliceLength(in.value, start, end, step);
    out[axis] = len ? KnownDim(*len) : Dim{};
  }
  ctx.set_type(0, TensorType(elem_type, out));
  // Slicing tracked shape data (Shape(x)[1:3]).
  const Data* data = ctx.data(0);
  if (!data || x->size() != 1 || !out[0].known()) return;
  const auto n = static_cast<int64_t>(data->size());
  int64_t start = (*starts)[0], step = (*steps)[0];
  if (start < 0) start += n;
  start = step > 0 ? std::clamp(start, int64_t{0}, n) : std::clamp(start, int64_t{0}, n - 1);
  Data sliced;
  for (int64_t k = 0, i = start; k < out[0].value; ++k, i += step) {
    if (i < 0 || i >= n) return;
    sliced.push_back((*data)[i]);
  }
  ctx.set_data(0, std::move(sliced));
}

void Constant(InferContext& ctx) {
  const Node& node = ctx.node();
  for (const auto& [key, a] : node.attributes) {
    switch (a.kind) {
      case Attribute::Kind::kTensor: {
        Known k = KnownFromTensor(a.t, true);
        ctx.set_type(0, k.type);
        if (k.data) ctx.set_data(0, *k.data);
        return;
      }
      case Attribute::Kind::kInt:
        ctx.set_type(0, TensorType(DType::kInt64, {}));
        return ctx.set_data(0, {KnownScalar(a.i)});
      case Attribute::Kind::kInts: {
        const auto n = static_cast<int64_t>(a.ints.size());
        ctx.set_type(0, TensorType(DType::kInt64, {KnownDim(n)}));
        if (a.ints.size() > kMaxTrackedElements) return;
        Data data;
        for (int64_t v : a.ints) data.push_back(KnownScalar(v));
        return ctx.set_data(0, std::move(data));
      }
      case Attribute::Kind::kFloat:
        return ctx.set_type(0, TensorType(DType::kFloat32, {}));
      case Attribute::Kind::kFloats:
        return ctx.set_type(
            0, TensorType(DType::kFloat32, {KnownDim(static_cast<int64_t>(a.floats.size()))}));
      case Attribute::Kind::kString:
        return ctx.set_type(0, TensorType(DType::kString, {}));
      case Attribute::Kind::kStrings:
        return ctx.set_type(
            0, TensorType(DType::kString, {KnownDim(static_cast<int64_t>(a.strings.size()))}));
      default:
        break;
    }
  }
}

void ConstantOfShape(InferContext& ctx) {
  const Attribute* value = ctx.node().FindAttribute("value");
  const DType elem_type =
      value && value->kind == Attribute::Kind::kTensor ? value->t.dtype() : DType::kFloat32;
  if (auto shape = ShapeFromInput(ctx, 0)) return ctx.set_type(0, TensorType(elem_type, *shape));
  const Dims* d = ctx.dims(0);
  if (d && d->size() == 1 && (*d)[0].known())
    return ctx.set_type(0, TensorOfRank(elem_type, static_cast<size_t>((*d)[0].value)));
  ctx.set_type(0, TensorWithoutShape(elem_type));
}

void Expand(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  const auto shape = ShapeFromInput(ctx, 1);
  std::optional<Dims> out = x && shape ? Broadcast(*x, *shape) : std::nullopt;
  ctx.set_type(0, out ? TensorType(elem_type, *out) : TensorWithoutShape(elem_type));
}

void Tile(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  if (!x) return ctx.set_type(0, TensorWithoutShape(elem_type));
  const auto repeats = ctx.ints(1);
  Dims out(x->size());
  for (size_t i = 0; repeats && repeats->size() == x->size() && i < x->size(); ++i) {
    const int64_t r = (*repeats)[i];
    int64_t v = 0;
    if (r == 1)
      out[i] = (*x)[i];
    else if ((*x)[i].known() && r >= 0 && CheckedMul((*x)[i].value, r, &v))
      out[i] = KnownDim(v);
  }
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

void Pad(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  if (!x) return ctx.set_type(0, TensorWithoutShape(elem_type));
  bool absent = false;
  auto pads = ctx.ints_from_input_or_attr(1, "pads", &absent);
  if (absent)
    pads = ctx.attr_ints("paddings") ? std::optional(*ctx.attr_ints("paddings")) : std::nullopt;
  const size_t r = x->size();
  Dims out(r);
  for (size_t i = 0; pads && pads->size() == 2 * r && i < r; ++i) {
    const int64_t pb = (*pads)[i], pe = (*pads)[i + r];
    int64_t v = 0;
    if (pb == 0 && pe == 0)
      out[i] = (*x)[i];
    else if ((*x)[i].known() && CheckedAdd((*x)[i].value, pb, &v) && CheckedAdd(v, pe, &v))
      out[i] = KnownDim(v);  // negative: the kernel reports it
  }
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

// Resize and Upsample: the rank and type survive; extents only when `sizes` is constant.
void Resize(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  if (!x) return ctx.set_type(0, TensorWithoutShape(elem_type));
  Dims out(x->size());
  const auto sizes = ctx.node().op_type == "Resize" ? ctx.ints(3) : std::nullopt;
  if (sizes && sizes->size() == x->size())
    for (size_t i = 0; i < out.size(); ++i) out[i] = KnownDim((*sizes)[i]);
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

void DepthSpace(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const Dims* x = ctx.dims(0);
  const int64_t b = ctx.attr_int("blocksize", 0);
  int64_t b2 = 0;
  if (!x || x->size() != 4 || b < 1 || !CheckedMul(b, b, &b2))
    return ctx.set_type(0, TensorOfRank(elem_type, 4));
  const bool to_space = ctx.node().op_type == "DepthToSpace";
  Dims out{(*x)[0], {}, {}, {}};
  int64_t v = 0;
  const Dim& c = (*x)[1];
  if (c.known() && to_space && c.value % b2 == 0) out[1] = KnownDim(c.value / b2);
  if (c.known() && !to_space && CheckedMul(c.value, b2, &v)) out[1] = KnownDim(v);
  for (size_t i = 2; i < 4; ++i) {
    const Dim& d = (*x)[i];
    if (d.known() && to_space && CheckedMul(d.value, b, &v)) out[i] = KnownDim(v);
    if (d.known() && !to_space && d.value % b == 0) out[i] = KnownDim(d.value / b);
  }
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

void Range(InferContext& ctx) {
  const DType elem_type = ctx.elem_type(0);
  const auto start = ctx.ints(0), limit = ctx.ints(1), delta = ctx.ints(2);
  Dims out(1);
  if (start && limit && delta && start->size() == 1 && limit->size() == 1 && delta->size() == 1) {
    const int64_t s = (*start)[0], l = (*limit)[0], d = (*delta)[0];
    int64_t span = 0;
    if (d != 0 && d != INT64_MIN && !__builtin_sub_overflow(l, s, &span)) {
      const int64_t n =
          d > 0 ? (span <= 0 ? 0 : (span - 1) / d + 1) : (span >= 0 ? 0 : (-(span + 1)) / -d + 1);
      out[0] = KnownDim(n);
    }
  }
  ctx.set_type(0, TensorType(elem_type, std::move(out)));
}

void NonZero(InferContext& ctx) {
  const Dims* x = ctx.dims(0);
  ctx.set_type(
      0, TensorType(DType::kInt64, {x ? KnownDim(static_cast<int64_t>(x->size())) : Dim{}, Dim{}}));
}

}  // namespace

void AddShapeRules(RuleTable& t) {
  t["Shape"] = Shape;
  t["Size"] = Size;
  t["Flatten"] = Flatten;
  t["Reshape"] = Reshape;
  t["Transpose"] = Transpose;
  t["Concat"] = Concat;
  t["Split"] = Split;
  t["Squeeze"] = Squeeze;
  t["Unsqueeze"] = Unsqueeze;
  t["Gather"] = Gather;
  t["GatherElements"] = GatherElements;
  t["Slice"] = Slice;
  t["Constant"] = Constant;
  t["ConstantOfShape"] = ConstantOfShape;
  t["Expand"] = Expand;
  t["Tile"] = Tile;
  t["Pad"] = Pad;
  t["Resize"] = Resize;
  t["Upsample"] = Resize;
  t["DepthToSpace"] = DepthSpace;
  t["SpaceToDepth"] = DepthSpace;
  t["Range"] = Range;
  t["NonZero"] = NonZero;
}

}  // namespace privedge::shape_inference
