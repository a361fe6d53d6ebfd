// Resize (opset 10-19: axes, keep_aspect_ratio_policy and half_pixel_symmetric included; no
// antialias) and Upsample (opset 7, 9): separable N-d interpolation.
//
// Every output coordinate along every axis is mapped back to an input coordinate, which gives a
// short list of weighted input taps per axis (1 for nearest, 2 for linear, 4 for cubic). An
// output element is the sum over the tensor product of its per-axis taps.
#include <string>
#include <vector>

#include "kernels/kernel_util.h"
#include "kernels/reference/image_kernels.h"

namespace privedge {
namespace {

enum class InterpMode { kNearest, kLinear, kCubic };
enum class CoordMode {
  kHalfPixel,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize,
  kHalfPixelSymmetric,
};
// kLegacy is the rounding of Upsample and Resize-10: floor when upsampling, ceil when
// downsampling.
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kLegacy };

struct ResizeOptions {
  InterpMode mode = InterpMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation_value = 0;
};

// One input element contributing to an output coordinate along one axis.
struct Tap {
  int64_t index;
  double weight;
};

// How one output coordinate along one axis reads the input.
struct AxisSample {
  bool outside = false;  // tf_crop_and_resize sampled outside the input: extrapolation_value
  std::vector<Tap> taps;
};

Status ParseMode(const KernelContext& ctx, ResizeOptions* o) {
  std::string mode = ctx.attr_string("mode", "nearest");
  if (mode == "nearest") {
    o->mode = InterpMode::kNearest;
  } else if (mode == "linear" || mode == "bilinear") {
    o->mode = InterpMode::kLinear;
  } else if (mode == "cubic" || mode == "bicubic") {
    o->mode = InterpMode::kCubic;
  } else {
    return ctx.Error("mode must be nearest, linear or cubic, got '", mode, "'");
  }
  return Status::OK();
}

// Attributes added by Resize-11.
Status ParseResize11Options(const KernelContext& ctx, ResizeOptions* o) {
  std::string coord = ctx.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "half_pixel") {
    o->coord = CoordMode::kHalfPixel;
  } else if (coord == "pytorch_half_pixel") {
    o->coord = CoordMode::kPytorchHalfPixel;
  } else if (coord == "align_corners") {
    o->coord = CoordMode::kAlignCorners;
  } else if (coord == "asymmetric") {
    o->coord = CoordMode::kAsymmetric;
  } else if (coord == "tf_half_pixel_for_nn") {
    o->coord = CoordMode::kTfHalfPixelForNn;
  } else if (coord == "tf_crop_and_resize") {
    o->coord = CoordMode::kTfCropAndResize;
  } else if (coord == "half_pixel_symmetric" && ctx.opset() >= 19) {
    o->coord = CoordMode::kHalfPixelSymmetric;
  } else {
    return ctx.Error("unknown coordinate_transformation_mode '", coord, "'");
  }
  std::string nearest = ctx.attr_string("nearest_mode", "round_prefer_floor");
  if (nearest == "round_prefer_floor") {
    o->nearest = NearestMode::kRoundPreferFloor;
  } else if (nearest == "round_prefer_ceil") {
    o->nearest = NearestMode::kRoundPreferCeil;
  } else if (nearest == "floor") {
    o->nearest = NearestMode::kFloor;
  } else if (nearest == "ceil") {
    o->nearest = NearestMode::kCeil;
  } else {
    return ctx.Error("unknown nearest_mode '", nearest, "'");
  }
  o->cubic_a = ctx.attr_float("cubic_coeff_a", -0.75f);
  o->exclude_outside = ctx.attr_int("exclude_outside", 0) != 0;
  o->extrapolation_value = ctx.attr_float("extrapolation_value", 0.0f);
  return Status::OK();
}

// Maps output coordinate `x` to the input axis. `scale` is output/input; the float output
// length scale * in (not the rounded size `out`) is what the ONNX reference uses.
double OriginalCoordinate(const ResizeOptions& o, double x, double scale, int64_t out, int64_t in,
                          double roi_start, double roi_end) {
  const double out_len = scale * static_cast<double>(in);
  switch (o.coord) {
    case CoordMode::kHalfPixel:
      return (x + 0.5) / scale - 0.5;
    case CoordMode::kPytorchHalfPixel:
      return out_len > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case CoordMode::kAlignCorners:
      return out_len == 1 ? 0.0 : x * static_cast<double>(in - 1) / (out_len - 1);
    case CoordMode::kAsymmetric:
      return x / scale;
    case CoordMode::kTfHalfPixelForNn:
      return (x + 0.5) / scale;
    case CoordMode::kHalfPixelSymmetric: {
      // Centres the rounded output on the input.
      const double adjustment = static_cast<double>(out) / out_len;
      const double offset = static_cast<double>(in) / 2 * (1 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case CoordMode::kTfCropAndResize: {
      const double span = (roi_end - roi_start) * static_cast<double>(in - 1);
      const double start = roi_start * static_cast<double>(in - 1);
      return out_len == 1 ? start + span / 2 : start + x * span / (out_len - 1);
    }
  }
  return x;
}

int64_t NearestIndex(NearestMode mode, double xo, double scale) {
  const double fl = std::floor(xo);
  if (mode == NearestMode::kLegacy) return static_cast<int64_t>(scale < 1 ? std::ceil(xo) : fl);
  if (xo == fl) return static_cast<int64_t>(fl);
  const double frac = xo - fl;
  bool up = false;
  switch (mode) {
    case NearestMode::kRoundPreferFloor:
      up = frac > 0.5;
      break;
    case NearestMode::kRoundPreferCeil:
      up = frac >= 0.5;
      break;
    case NearestMode::kFloor:
      up = false;
      break;
    case NearestMode::kCeil:
      up = true;
      break;
    case NearestMode::kLegacy:
      break;
  }
  return static_cast<int64_t>(fl) + (up ? 1 : 0);
}

AxisSample SampleCoordinate(const ResizeOptions& o, double xo, double scale, int64_t in) {
  AxisSample s;
  // NaN can only come from a NaN roi; treat it like a crop outside the input.
  if (std::isnan(xo) ||
      (o.coord == CoordMode::kTfCropAndResize && (xo < 0 || xo > static_cast<double>(in - 1)))) {
    s.outside = true;
    return s;
  }
  // Far outside the input every tap clamps to an edge anyway; bounding keeps the int64
  // conversions below defined.
  xo = std::clamp(xo, -8.0, static_cast<double>(in) + 8.0);
  std::vector<Tap> raw;
  if (o.mode == InterpMode::kNearest) {
    raw.push_back({NearestIndex(o.nearest, xo, scale), 1.0});
  } else {
    const double base = std::floor(xo);
    const double t = xo - base;
    const int64_t b = static_cast<int64_t>(base);
    if (o.mode == InterpMode::kLinear) {
      raw = {{b, 1 - t}, {b + 1, t}};
    } else {
      for (int64_t k = -1; k <= 2; ++k)
        raw.push_back({b + k, CubicWeight(t - static_cast<double>(k), o.cubic_a)});
    }
  }
  if (o.exclude_outside) {
    double sum = 0;
    for (Tap& tap : raw) {
      if (tap.index < 0 || tap.index >= in) tap.weight = 0;
      sum += tap.weight;
    }
    if (sum != 0)
      for (Tap& tap : raw) tap.weight /= sum;
  }
  for (const Tap& tap : raw) {
    if (tap.weight == 0) continue;
    s.taps.push_back({std::clamp<int64_t>(tap.index, 0, in - 1), tap.weight});
  }
  return s;
}

// Calls f(output_offset, samples) for every output element, where samples[a] is how that
// element reads axis a.
template <class F>
void ForEachOutput(const std::vector<std::vector<AxisSample>>& samples, const Shape& out_shape,
                   F&& f) {
  const size_t rank = out_shape.size();
  std::vector<int64_t> idx(rank, 0);
  std::vector<const AxisSample*> cur(rank);
  const int64_t total = ShapeElementCount(out_shape);
  for (int64_t o = 0; o < total; ++o) {
    for (size_t a = 0; a < rank; ++a) cur[a] = &samples[a][idx[a]];
    f(o, cur);
    for (size_t a = rank; a-- > 0;) {
      if (++idx[a] < out_shape[a]) break;
      idx[a] = 0;
    }
  }
}

bool AnyOutside(const std::vector<const AxisSample*>& cur) {
  for (const AxisSample* s : cur)
    if (s->outside || s->taps.empty()) return true;
  return false;
}

// Nearest mode copies elements, so it works for every type (strings and bools included) and
// keeps every bit of wide integers.
template <class T>
void ResizeNearest(const Tensor& x, const std::vector<std::vector<AxisSample>>& samples,
                   const ResizeOptions& o, Tensor* y) {
  const T* in = x.data<T>();
  T* out = y->data<T>();
  const std::vector<int64_t> strides = ContiguousStrides(x.shape());
  T fill{};
  if constexpr (std::is_same_v<T, bool>) {
    fill = o.extrapolation_value != 0;
  } else if constexpr (!std::is_same_v<T, std::string>) {
    fill = StoreInterpolated<T>(o.extrapolation_value);
  }
  ForEachOutput(samples, y->shape(), [&](int64_t i, const std::vector<const AxisSample*>& cur) {
    if (AnyOutside(cur)) {
      out[i] = fill;
      return;
    }
    int64_t off = 0;
    for (size_t a = 0; a < cur.size(); ++a) off += cur[a]->taps[0].index * strides[a];
    out[i] = in[off];
  });
}

// Linear and cubic: the weighted sum over every combination of per-axis taps.
template <class T>
void ResizeInterpolate(const Tensor& x, const std::vector<std::vector<AxisSample>>& samples,
                       const ResizeOptions& o, Tensor* y) {
  const T* in = x.data<T>();
  T* out = y->data<T>();
  const size_t rank = x.rank();
  const std::vector<int64_t> strides = ContiguousStrides(x.shape());
  std::vector<size_t> k(rank);
  ForEachOutput(samples, y->shape(), [&](int64_t i, const std::vector<const AxisSample*>& cur) {
    if (AnyOutside(cur)) {
      out[i] = StoreInterpolated<T>(o.extrapolation_value);
      return;
    }
    double acc = 0;
    std::fill(k.begin(), k.end(), 0);
    bool done = false;
    while (!done) {
      double w = 1;
      int64_t off = 0;
      for (size_t a = 0; a < rank; ++a) {
        const Tap& tap = cur[a]->taps[k[a]];
        w *= tap.weight;
        off += tap.index * strides[a];
      }
      acc += w * CastValue<double>(in[off]);
      // Next combination of taps (an odometer over the axes).
      done = true;
      for (size_t a = rank; a-- > 0;) {
        if (++k[a] < cur[a]->taps.size()) {
          done = false;
          break;
        }
        k[a] = 0;
      }
    }
    out[i] = StoreInterpolated<T>(acc);
  });
}

// The requested output, expanded to every axis.
struct ResizeTarget {
  Shape out_shape;
  std::vector<double> scales;  // output / input per axis, as the coordinate mapping uses it
  std::vector<double> roi;     // starts then ends, 2 * rank values; empty when not given
};

Result<ResizeTarget> TargetFromScales(const KernelContext& ctx, const Tensor& x,
                                      const std::vector<double>& scales) {
  const size_t rank = x.rank();
  if (scales.size() != rank)
    return ctx.Error("scales has ", scales.size(), " elements, expected the input rank ", rank);
  ResizeTarget t;
  t.scales = scales;
  for (size_t a = 0; a < rank; ++a) {
    if (!(scales[a] > 0) || !std::isfinite(scales[a]))
      return ctx.Error("scales[", a, "] must be a positive finite number, got ", scales[a]);
    const double len = std::floor(scales[a] * static_cast<double>(x.dim(a)));
    if (len > static_cast<double>(int64_t{1} << 40))
      return ctx.Error("scales[", a, "] = ", scales[a], " gives an output that is too large");
    t.out_shape.push_back(static_cast<int64_t>(len));
  }
  return t;
}

// `policy` is Resize-18's keep_aspect_ratio_policy, applied over `axes`.
Result<ResizeTarget> TargetFromSizes(const KernelContext& ctx, const Tensor& x,
                                     const std::vector<int64_t>& sizes,
                                     const std::vector<int64_t>& axes, const std::string& policy) {
  const size_t rank = x.rank();
  if (sizes.size() != rank)
    return ctx.Error("sizes has ", sizes.size(), " elements, expected the input rank ", rank);
  ResizeTarget t;
  t.out_shape = sizes;
  t.scales.assign(rank, 1.0);
  for (size_t a = 0; a < rank; ++a) {
    if (sizes[a] < 0) return ctx.Error("sizes[", a, "] is negative (", sizes[a], ")");
    if (x.dim(a) == 0 && sizes[a] != 0)
      return ctx.Error("cannot resize empty axis ", a, " to ", sizes[a]);
    if (x.dim(a) > 0 && sizes[a] > 0)
      t.scales[a] = static_cast<double>(sizes[a]) / static_cast<double>(x.dim(a));
  }
  if (policy == "stretch") return t;
  if (policy != "not_larger" && policy != "not_smaller")
    return ctx.Error("keep_aspect_ratio_policy must be stretch, not_larger or not_smaller, got '",
                     policy, "'");
  // One common scale keeps the aspect ratio of the resized axes.
  double s = policy == "not_larger" ? INFINITY : 0.0;
  for (int64_t a : axes) {
    if (x.dim(a) == 0) return ctx.Error("cannot keep the aspect ratio of empty axis ", a);
    const double r = static_cast<double>(sizes[a]) / static_cast<double>(x.dim(a));
    s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
  }
  for (int64_t a : axes) {
    t.scales[a] = s;
    t.out_shape[a] = static_cast<int64_t>(std::round(s * static_cast<double>(x.dim(a))));
  }
  return t;
}

Status RunResize(KernelContext& ctx, const Tensor& x, const ResizeOptions& o,
                 const ResizeTarget& t) {
  const size_t rank = x.rank();
  if (o.coord == CoordMode::kTfCropAndResize && t.roi.size() != 2 * rank)
    return ctx.Error("tf_crop_and_resize needs roi with 2 * rank = ", 2 * rank, " elements, got ",
                     t.roi.size());
  // Allocate first: it validates the output size before the per-axis tables are built.
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x.dtype(), t.out_shape));
  if (y->numel() == 0) return Status::OK();
  std::vector<std::vector<AxisSample>> samples(rank);
  for (size_t a = 0; a < rank; ++a) {
    const double rs = t.roi.size() == 2 * rank ? t.roi[a] : 0.0;
    const double re = t.roi.size() == 2 * rank ? t.roi[a + rank] : 1.0;
    samples[a].reserve(static_cast<size_t>(t.out_shape[a]));
    for (int64_t i = 0; i < t.out_shape[a]; ++i) {
      const double xo = OriginalCoordinate(o, static_cast<double>(i), t.scales[a], t.out_shape[a],
                                           x.dim(a), rs, re);
      samples[a].push_back(SampleCoordinate(o, xo, t.scales[a], x.dim(a)));
    }
  }
  if (o.mode == InterpMode::kNearest) {
    return DispatchAll(x.dtype(), [&](auto tag) -> Status {
      ResizeNearest<decltype(tag)>(x, samples, o, y);
      return Status::OK();
    });
  }
  return DispatchNumeric(x.dtype(), [&](auto tag) -> Status {
    ResizeInterpolate<decltype(tag)>(x, samples, o, y);
    return Status::OK();
  });
}

// A present, non-empty input; empty tensors mean "absent" in Resize-11 and later.
const Tensor* NonEmptyInput(const KernelContext& ctx, int i) {
  const Tensor* t = ctx.input(i);
  return t && t->numel() > 0 ? t : nullptr;
}

// Upsample and Resize-10: (X, scales) with asymmetric coordinates and legacy rounding.
Status LegacyResize(KernelContext& ctx, const std::vector<double>& scales) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  ResizeOptions o;
  PE_RETURN_IF_ERROR(ParseMode(ctx, &o));
  if (o.mode == InterpMode::kCubic) return ctx.Error("cubic mode needs Resize-11 or later");
  o.coord = CoordMode::kAsymmetric;
  o.nearest = NearestMode::kLegacy;
  PE_ASSIGN_OR_RETURN(ResizeTarget t, TargetFromScales(ctx, *x, scales));
  return RunResize(ctx, *x, o, t);
}

// Resize-18 'axes': which axes roi/scales/sizes describe (all of them by default).
Result<std::vector<int64_t>> ResizeAxes(const KernelContext& ctx, int64_t rank) {
  std::vector<int64_t> axes;
  if (ctx.opset() < 18 || !ctx.has_attr("axes")) {
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
    return axes;
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : ctx.attr_ints("axes")) {
    PE_ASSIGN_OR_RETURN(int64_t n, NormalizeAxis(a, rank));
    if (seen[n]) return ctx.Error("axis ", a, " appears twice in axes");
    seen[n] = true;
    axes.push_back(n);
  }
  return axes;
}

// Spreads per-listed-axis values over every axis, filling the others with `fill(axis)`.
template <class V, class Fill>
Result<std::vector<V>> ExpandToRank(const KernelContext& ctx, const std::vector<V>& given,
                                    const std::vector<int64_t>& axes, size_t rank, Fill fill,
                                    const char* what) {
  if (given.size() != axes.size())
    return ctx.Error(what, " has ", given.size(), " elements, expected ", axes.size());
  std::vector<V> full(rank);
  for (size_t a = 0; a < rank; ++a) full[a] = fill(a);
  for (size_t i = 0; i < axes.size(); ++i) full[axes[i]] = given[i];
  return full;
}

}  // namespace

Status ResizeKernel(KernelContext& ctx) {
  if (ctx.opset() < 11) {
    PE_ASSIGN_OR_RETURN(const Tensor* scales, ctx.RequireInput(1));
    return LegacyResize(ctx, ToDoubleVector(*scales));
  }
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  ResizeOptions o;
  PE_RETURN_IF_ERROR(ParseMode(ctx, &o));
  PE_RETURN_IF_ERROR(ParseResize11Options(ctx, &o));
  if (ctx.attr_int("antialias", 0) != 0)
    return NotImplemented(ctx.node().Describe(), ": antialias");
  const Tensor* roi = NonEmptyInput(ctx, 1);
  const Tensor* scales = NonEmptyInput(ctx, 2);
  const Tensor* sizes = NonEmptyInput(ctx, 3);
  if ((scales != nullptr) == (sizes != nullptr))
    return ctx.Error("exactly one of scales and sizes must be given, got ",
                     scales ? "both" : "neither");
  if (sizes && !IsIntegerDType(sizes->dtype()))
    return ctx.Error("sizes must be int64, got ", DTypeName(sizes->dtype()));
  const size_t rank = x->rank();
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ResizeAxes(ctx, static_cast<int64_t>(rank)));
  ResizeTarget t;
  if (scales) {
    PE_ASSIGN_OR_RETURN(std::vector<double> full, ExpandToRank(
                                                      ctx, ToDoubleVector(*scales), axes, rank,
                                                      [](size_t) { return 1.0; }, "scales"));
    PE_ASSIGN_OR_RETURN(t, TargetFromScales(ctx, *x, full));
  } else {
    PE_ASSIGN_OR_RETURN(
        std::vector<int64_t> full,
        ExpandToRank(
            ctx, ToInt64Vector(*sizes), axes, rank, [&](size_t a) { return x->dim(a); }, "sizes"));
    PE_ASSIGN_OR_RETURN(t, TargetFromSizes(ctx, *x, full, axes,
                                           ctx.attr_string("keep_aspect_ratio_policy", "stretch")));
  }
  // roi only matters to tf_crop_and_resize; other modes ignore whatever exporters put there.
  if (roi && o.coord == CoordMode::kTfCropAndResize) {
    const std::vector<double> r = ToDoubleVector(*roi);
    if (r.size() != 2 * axes.size())
      return ctx.Error("roi has ", r.size(), " elements, expected ", 2 * axes.size());
    t.roi.assign(rank, 0.0);
    t.roi.resize(2 * rank, 1.0);
    for (size_t i = 0; i < axes.size(); ++i) {
      t.roi[axes[i]] = r[i];
      t.roi[axes[i] + rank] = r[i + axes.size()];
    }
  }
  return RunResize(ctx, *x, o, t);
}

Status UpsampleKernel(KernelContext& ctx) {
  if (ctx.opset() < 9) {
    if (!ctx.has_attr("scales")) return ctx.Error("attribute 'scales' is required");
    std::vector<float> s = ctx.attr_floats("scales");
    return LegacyResize(ctx, std::vector<double>(s.begin(), s.end()));
  }
  PE_ASSIGN_OR_RETURN(const Tensor* scales, ctx.RequireInput(1));
  return LegacyResize(ctx, ToDoubleVector(*scales));
}

}  // namespace privedge
