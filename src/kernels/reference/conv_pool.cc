// Conv and ConvTranspose, plus the window geometry shared with the pools and the quantized
// convolutions (see conv_pool_util.h).
#include <algorithm>
#include <type_traits>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/conv_pool_util.h"
#include "kernels/reference/families.h"

namespace privedge {
namespace convpool {
namespace {

// Attribute values beyond this are certainly wrong and would overflow window arithmetic.
constexpr int64_t kMaxWindowValue = int64_t{1} << 31;
// Largest im2col/col2im scratch buffer, in elements.
constexpr int64_t kMaxScratchElements = int64_t{1} << 31;

Result<AutoPad> ParseAutoPad(const KernelContext& ctx) {
  const std::string s = ctx.attr_string("auto_pad", "NOTSET");
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "VALID") return AutoPad::kValid;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  return ctx.Error("auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got '", s, "'");
}

Status CheckWindowList(const KernelContext& ctx, const char* name,
                       const std::vector<int64_t>& v, size_t size, int64_t min_value) {
  if (v.size() != size)
    return ctx.Error(name, " must have ", size, " values, got ", v.size());
  for (int64_t e : v) {
    if (e < min_value || e > kMaxWindowValue)
      return ctx.Error(name, " values must be in [", min_value, ", ", kMaxWindowValue,
                       "], got ", e);
  }
  return Status::OK();
}

int64_t EffectiveKernel(int64_t k, int64_t dilation) { return (k - 1) * dilation + 1; }

// The walk over (tap, window position) pairs and its per-axis tables must stay affordable; a
// hostile kernel_shape or pads could otherwise ask for terabytes.
Status CheckWindowWork(const KernelContext& ctx, const WindowGeometry& g) {
  constexpr int64_t kMaxTable = int64_t{1} << 28;
  constexpr int64_t kMaxWork = int64_t{1} << 36;
  int64_t work = 1;
  for (size_t d = 0; d < g.rank(); ++d) {
    const int64_t k = g.kernel[d], c = g.cols[d];
    if (c > 0 && k > kMaxTable / c)
      return ctx.Error("window of ", k, " taps over ", c, " positions on spatial axis ", d,
                       " is too large");
    if (k * c == 0) return Status::OK();
    if (k * c > kMaxWork / work)
      return ctx.Error("window of ", ShapeToString(g.kernel), " taps over ",
                       ShapeToString(g.cols), " positions is too large");
    work *= k * c;
  }
  return Status::OK();
}

}  // namespace

Result<WindowAttrs> ReadWindowAttrs(const KernelContext& ctx, size_t rank,
                                    const Shape& kernel_from_weights) {
  if (rank == 0) return ctx.Error("input needs at least one spatial axis");
  WindowAttrs a;
  if (ctx.has_attr("kernel_shape")) {
    a.kernel = ctx.attr_ints("kernel_shape");
    if (!kernel_from_weights.empty() && a.kernel != kernel_from_weights)
      return ctx.Error("kernel_shape ", ShapeToString(a.kernel),
                       " does not match W's spatial shape ", ShapeToString(kernel_from_weights));
  } else if (!kernel_from_weights.empty()) {
    a.kernel = kernel_from_weights;
  } else {
    return ctx.Error("the kernel_shape attribute is required");
  }
  PE_RETURN_IF_ERROR(CheckWindowList(ctx, "kernel_shape", a.kernel, rank, 1));
  a.strides = ctx.attr_ints("strides", std::vector<int64_t>(rank, 1));
  PE_RETURN_IF_ERROR(CheckWindowList(ctx, "strides", a.strides, rank, 1));
  a.dilations = ctx.attr_ints("dilations", std::vector<int64_t>(rank, 1));
  PE_RETURN_IF_ERROR(CheckWindowList(ctx, "dilations", a.dilations, rank, 1));
  a.pads = ctx.attr_ints("pads", std::vector<int64_t>(2 * rank, 0));
  PE_RETURN_IF_ERROR(CheckWindowList(ctx, "pads", a.pads, 2 * rank, 0));
  PE_ASSIGN_OR_RETURN(a.auto_pad, ParseAutoPad(ctx));
  return a;
}

Result<WindowGeometry> ForwardGeometry(const KernelContext& ctx, const WindowAttrs& attrs,
                                       const Shape& image, bool ceil_mode) {
  const size_t r = image.size();
  WindowGeometry g;
  g.image = image;
  g.kernel = attrs.kernel;
  g.strides = attrs.strides;
  g.dilations = attrs.dilations;
  g.pads = attrs.pads;
  g.cols.assign(r, 0);
  for (size_t d = 0; d < r; ++d) {
    const int64_t in = image[d], s = attrs.strides[d];
    const int64_t eff = EffectiveKernel(attrs.kernel[d], attrs.dilations[d]);
    int64_t& pb = g.pads[d];
    int64_t& pe = g.pads[d + r];
    if (attrs.auto_pad == AutoPad::kSameUpper || attrs.auto_pad == AutoPad::kSameLower) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in);
      // SAME_UPPER puts the odd padding element at the end, SAME_LOWER at the beginning.
      pb = attrs.auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      pe = total - pb;
      g.cols[d] = out;
      continue;
    }
    if (attrs.auto_pad == AutoPad::kValid) pb = pe = 0;
    const int64_t span = in + pb + pe - eff;
    if (span < 0)
      return ctx.Error("window of extent ", eff, " does not fit the padded input extent ",
                       in + pb + pe, " on spatial axis ", d);
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    // A ceil-mode window must start inside the input or its leading padding.
    if (ceil_mode && (out - 1) * s >= in + pb) --out;
    g.cols[d] = out;
  }
  PE_RETURN_IF_ERROR(CheckWindowWork(ctx, g));
  return g;
}

Status WriteDoubles(const std::vector<double>& values, Tensor* out) {
  if (static_cast<int64_t>(values.size()) != out->numel())
    return Internal("WriteDoubles: ", values.size(), " values for ", out->numel(), " elements");
  return DispatchNumeric(out->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T* d = out->data<T>();
    for (size_t i = 0; i < values.size(); ++i) d[i] = CastValue<T>(values[i]);
    return Status::OK();
  });
}

Status CheckScratchSize(const KernelContext& ctx, int64_t a, int64_t b) {
  if (a < 0 || b < 0 || (a > 0 && b > kMaxScratchElements / a))
    return ctx.Error("convolution scratch of ", a, " x ", b, " elements is too large");
  return Status::OK();
}

TapMap::TapMap(const WindowGeometry& g)
    : rank_(g.rank()), image_shape_(g.image), cols_shape_(g.cols), kernel_(g.kernel) {
  image_strides_.assign(rank_, 1);
  for (size_t d = rank_; d-- > 1;) image_strides_[d - 1] = image_strides_[d] * g.image[d];
  taps_ = cols_ = image_size_ = 1;
  coord_.resize(rank_);
  padded_.resize(rank_);
  for (size_t d = 0; d < rank_; ++d) {
    taps_ *= g.kernel[d];
    cols_ *= g.cols[d];
    image_size_ *= g.image[d];
    const int64_t pb = g.pads[d], pe = g.pads[d + rank_];
    for (int64_t k = 0; k < g.kernel[d]; ++k) {
      for (int64_t o = 0; o < g.cols[d]; ++o) {
        const int64_t c = o * g.strides[d] - pb + k * g.dilations[d];
        coord_[d].push_back(c >= 0 && c < g.image[d] ? c : -1);
        padded_[d].push_back(c >= -pb && c < g.image[d] + pe ? 1 : 0);
      }
    }
  }
}

void TapMap::Advance(std::vector<int64_t>& idx, const Shape& extent, size_t axes) {
  for (size_t a = axes; a-- > 0;) {
    if (++idx[a] < extent[a]) return;
    idx[a] = 0;
  }
}

std::vector<int64_t> TapMap::PaddedTapCounts() const {
  std::vector<std::vector<int64_t>> per_axis(rank_);
  for (size_t d = 0; d < rank_; ++d) {
    per_axis[d].assign(static_cast<size_t>(cols_shape_[d]), 0);
    for (int64_t k = 0; k < kernel_[d]; ++k)
      for (int64_t o = 0; o < cols_shape_[d]; ++o)
        per_axis[d][o] += padded_[d][k * cols_shape_[d] + o];
  }
  std::vector<int64_t> counts(static_cast<size_t>(cols_), 1);
  std::vector<int64_t> o(rank_, 0);
  for (int64_t p = 0; p < cols_; ++p) {
    for (size_t d = 0; d < rank_; ++d) counts[p] *= per_axis[d][o[d]];
    Advance(o, cols_shape_, rank_);
  }
  return counts;
}

Result<ConvSetup> PrepareConv(const KernelContext& ctx, const Shape& x, const Shape& w) {
  if (x.size() < 3)
    return ctx.Error("X must be [N, C, spatial...] (rank >= 3), got ", ShapeToString(x));
  if (w.size() != x.size())
    return ctx.Error("W must have the rank of X (", x.size(), "), got ", ShapeToString(w));
  ConvSetup s;
  s.dims = {x[0], x[1], w[0], ctx.attr_int("group", 1)};
  if (s.dims.group < 1 || s.dims.group > kMaxWindowValue)
    return ctx.Error("group must be in [1, ", kMaxWindowValue, "], got ", s.dims.group);
  if (w[1] * s.dims.group != x[1] || w[0] % s.dims.group != 0)
    return ctx.Error("X ", ShapeToString(x), " and W ", ShapeToString(w),
                     " do not agree with group ", s.dims.group,
                     " (expected C == W[1] * group and M divisible by group)");
  const Shape image(x.begin() + 2, x.end());
  PE_ASSIGN_OR_RETURN(WindowAttrs attrs,
                      ReadWindowAttrs(ctx, image.size(), Shape(w.begin() + 2, w.end())));
  PE_ASSIGN_OR_RETURN(s.geometry, ForwardGeometry(ctx, attrs, image, false));
  s.output_shape = {x[0], w[0]};
  s.output_shape.insert(s.output_shape.end(), s.geometry.cols.begin(), s.geometry.cols.end());
  if (ShapeElementCount(s.output_shape) < 0)
    return ctx.Error("output shape ", ShapeToString(s.output_shape), " is too large");
  PE_RETURN_IF_ERROR(
      CheckScratchSize(ctx, ShapeElementCount(Shape(w.begin() + 1, w.end())),
                       ShapeElementCount(s.geometry.cols)));
  return s;
}

Result<ConvSetup> PrepareConvTranspose(const KernelContext& ctx, const Shape& x, const Shape& w) {
  if (x.size() < 3)
    return ctx.Error("X must be [N, C, spatial...] (rank >= 3), got ", ShapeToString(x));
  if (w.size() != x.size())
    return ctx.Error("W must have the rank of X (", x.size(), "), got ", ShapeToString(w));
  ConvSetup s;
  const int64_t group = ctx.attr_int("group", 1);
  if (group < 1 || group > kMaxWindowValue)
    return ctx.Error("group must be in [1, ", kMaxWindowValue, "], got ", group);
  if (w[0] != x[1] || x[1] % group != 0)
    return ctx.Error("X ", ShapeToString(x), " and W ", ShapeToString(w),
                     " do not agree with group ", group,
                     " (expected W[0] == C and C divisible by group)");
  s.dims = {x[0], x[1], w[1] * group, group};
  const size_t r = x.size() - 2;
  const Shape input(x.begin() + 2, x.end());
  PE_ASSIGN_OR_RETURN(WindowAttrs attrs, ReadWindowAttrs(ctx, r, Shape(w.begin() + 2, w.end())));
  std::vector<int64_t> out_pad = ctx.attr_ints("output_padding", std::vector<int64_t>(r, 0));
  PE_RETURN_IF_ERROR(CheckWindowList(ctx, "output_padding", out_pad, r, 0));
  std::vector<int64_t> out_shape = ctx.attr_ints("output_shape");
  if (out_shape.size() == r + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty()) PE_RETURN_IF_ERROR(CheckWindowList(ctx, "output_shape", out_shape, r, 0));

  WindowGeometry& g = s.geometry;
  g.cols = input;
  g.kernel = attrs.kernel;
  g.strides = attrs.strides;
  g.dilations = attrs.dilations;
  g.pads = attrs.pads;
  g.image.assign(r, 0);
  const bool same = attrs.auto_pad == AutoPad::kSameUpper || attrs.auto_pad == AutoPad::kSameLower;
  for (size_t d = 0; d < r; ++d) {
    const int64_t full = attrs.strides[d] * (input[d] - 1) + out_pad[d] +
                         EffectiveKernel(attrs.kernel[d], attrs.dilations[d]);
    if (!out_shape.empty() || same) {
      const int64_t out = out_shape.empty() ? input[d] * attrs.strides[d] : out_shape[d];
      // Extra requested extent beyond the full result is zero-filled, never negative padding.
      const int64_t total = std::max<int64_t>(0, full - out);
      g.pads[d] = attrs.auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      g.pads[d + r] = total - g.pads[d];
      g.image[d] = out;
    } else {
      if (attrs.auto_pad == AutoPad::kValid) g.pads[d] = g.pads[d + r] = 0;
      g.image[d] = full - g.pads[d] - g.pads[d + r];
      if (g.image[d] < 0)
        return ctx.Error("pads ", g.pads[d], "+", g.pads[d + r], " exceed the output extent ",
                         full, " on spatial axis ", d);
    }
  }
  PE_RETURN_IF_ERROR(CheckWindowWork(ctx, g));
  s.output_shape = {x[0], s.dims.out_channels};
  s.output_shape.insert(s.output_shape.end(), g.image.begin(), g.image.end());
  if (ShapeElementCount(s.output_shape) < 0)
    return ctx.Error("output shape ", ShapeToString(s.output_shape), " is too large");
  PE_RETURN_IF_ERROR(CheckScratchSize(ctx, ShapeElementCount(Shape(w.begin() + 1, w.end())),
                                      ShapeElementCount(input)));
  return s;
}

}  // namespace convpool

namespace {

using convpool::ConvSetup;

// Float convolution in either direction; float16/bfloat16 accumulate in float, double in double.
template <class T>
Status RunFloatConv(KernelContext& ctx, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const ConvSetup& s, bool transposed) {
  using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, x.dtype(), s.output_shape));
  const T* wd = w.data<T>();
  std::vector<Acc> wv(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) wv[i] = static_cast<Acc>(wd[i]);
  const T* xd = x.data<T>();
  auto x_at = [xd](int64_t i) { return static_cast<Acc>(xd[i]); };

  std::vector<Acc> scratch;
  Acc* acc = nullptr;
  if constexpr (std::is_same_v<T, Acc>) {
    acc = y->data<T>();
  } else {
    scratch.assign(static_cast<size_t>(y->numel()), Acc{0});
    acc = scratch.data();
  }
  const convpool::TapMap map(s.geometry);
  if (transposed)
    convpool::ConvolveTransposed<Acc>(s.dims, map, x_at, wv, acc);
  else
    convpool::ConvolveForward<Acc>(s.dims, map, x_at, wv, acc);

  const int64_t planes = s.dims.batch * s.dims.out_channels;
  if (bias && planes > 0) {
    const T* bd = bias->data<T>();
    const int64_t plane = y->numel() / planes;
    for (int64_t i = 0; i < planes; ++i) {
      const Acc b = static_cast<Acc>(bd[i % s.dims.out_channels]);
      for (int64_t p = 0; p < plane; ++p) acc[i * plane + p] += b;
    }
  }
  if constexpr (!std::is_same_v<T, Acc>) {
    T* yd = y->data<T>();
    for (int64_t i = 0; i < y->numel(); ++i) yd[i] = T(acc[i]);
  }
  return Status::OK();
}

Status ConvCommon(KernelContext& ctx, bool transposed) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* w, ctx.RequireInput(1));
  const Tensor* bias = ctx.input(2);
  if (w->dtype() != x->dtype())
    return ctx.Error("W must have X's type ", DTypeName(x->dtype()), ", got ",
                     DTypeName(w->dtype()));
  ConvSetup s;
  if (transposed) {
    PE_ASSIGN_OR_RETURN(s, convpool::PrepareConvTranspose(ctx, x->shape(), w->shape()));
  } else {
    PE_ASSIGN_OR_RETURN(s, convpool::PrepareConv(ctx, x->shape(), w->shape()));
  }
  if (bias && (bias->dtype() != x->dtype() || bias->rank() != 1 ||
               bias->numel() != s.dims.out_channels))
    return ctx.Error("B must be a 1-D ", DTypeName(x->dtype()), " tensor of ",
                     s.dims.out_channels, " values, got ", DTypeName(bias->dtype()), " ",
                     ShapeToString(bias->shape()));
  return DispatchFloat(x->dtype(), [&](auto tag) -> Status {
    return RunFloatConv<decltype(tag)>(ctx, *x, *w, bias, s, transposed);
  });
}

Status ConvTranspose(KernelContext& ctx) { return ConvCommon(ctx, true); }

}  // namespace

Status convpool::ConvReference(KernelContext& ctx) { return ConvCommon(ctx, false); }

void RegisterConvPoolKernels(KernelRegistry& r) {
  r.Add("Conv", convpool::ConvReference);
  r.Add("ConvTranspose", ConvTranspose);
  RegisterPoolingKernels(r);
  RegisterFusedConvKernels(r);
}

}  // namespace privedge
