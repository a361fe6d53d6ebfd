// GridSample (opset 16): samples a 4-D input at the normalized (x, y) locations of a grid,
// with PyTorch grid_sample semantics (which the ONNX operator follows).
#include <string>
#include <vector>

#include "kernels/reference/image_kernels.h"

namespace privedge {
namespace {

enum class SampleMode { kBilinear, kNearest, kBicubic };
enum class Padding { kZeros, kBorder, kReflection };

// Maps a normalized coordinate in [-1, 1] to pixel units.
double Unnormalize(double v, int64_t size, bool align_corners) {
  const double s = static_cast<double>(size);
  return align_corners ? (v + 1) / 2 * (s - 1) : ((v + 1) * s - 1) / 2;
}

// Reflects `x` into [twice_low / 2, twice_high / 2] (bounds given doubled so that half-pixel
// borders stay integers).
double Reflect(double x, double twice_low, double twice_high) {
  if (twice_low == twice_high) return 0;
  const double low = twice_low / 2;
  const double span = (twice_high - twice_low) / 2;
  x = std::fabs(x - low);
  const double extra = std::fmod(x, span);
  const double flips = std::floor(x / span);
  return std::fmod(flips, 2) == 0 ? low + extra : low + span - extra;
}

// Applies border or reflection padding to a pixel coordinate; zeros padding leaves it alone
// (out-of-range reads then return 0).
double PadCoordinate(double x, int64_t size, Padding padding, bool align_corners) {
  const double hi = static_cast<double>(size - 1);
  if (padding == Padding::kBorder) return std::clamp(x, 0.0, hi);
  if (padding == Padding::kReflection) {
    const double s = static_cast<double>(size);
    x = align_corners ? Reflect(x, 0, 2 * hi) : Reflect(x, -1, 2 * s - 1);
    return std::clamp(x, 0.0, hi);
  }
  return x;
}

// PyTorch's bicubic coefficient.
constexpr double kCubicA = -0.75;

// One H x W plane of the input.
template <class T>
struct Plane {
  const T* data;
  int64_t h, w;
  // Zero outside the plane; callers have already applied border/reflection padding.
  double At(int64_t y, int64_t x) const {
    if (y < 0 || y >= h || x < 0 || x >= w) return 0;
    return CastValue<double>(data[y * w + x]);
  }
};

struct SampleOptions {
  SampleMode mode;
  Padding padding;
  bool align_corners;
};

// Far-away coordinates all read zeros or padding; bounding them keeps int64 casts defined.
// NaN (from an infinite grid value under reflection) maps to an out-of-range index.
int64_t FloorIndex(double v) {
  if (std::isnan(v)) return -1;
  return static_cast<int64_t>(std::floor(std::clamp(v, -1e9, 1e9)));
}

template <class T>
double SamplePlane(const Plane<T>& p, double gx, double gy, const SampleOptions& o) {
  double x = Unnormalize(gx, p.w, o.align_corners);
  double y = Unnormalize(gy, p.h, o.align_corners);
  if (std::isnan(x) || std::isnan(y)) return 0;
  if (o.mode == SampleMode::kBicubic) {
    // Bicubic pads each of the 16 taps rather than the sample point.
    const int64_t x0 = FloorIndex(x), y0 = FloorIndex(y);
    const double tx = x - static_cast<double>(x0), ty = y - static_cast<double>(y0);
    double acc = 0;
    for (int64_t j = -1; j <= 2; ++j) {
      const double wy = CubicWeight(ty - static_cast<double>(j), kCubicA);
      for (int64_t i = -1; i <= 2; ++i) {
        const double wx = CubicWeight(tx - static_cast<double>(i), kCubicA);
        const double px =
            PadCoordinate(static_cast<double>(x0 + i), p.w, o.padding, o.align_corners);
        const double py =
            PadCoordinate(static_cast<double>(y0 + j), p.h, o.padding, o.align_corners);
        acc += wx * wy * p.At(FloorIndex(py), FloorIndex(px));
      }
    }
    return acc;
  }
  x = PadCoordinate(x, p.w, o.padding, o.align_corners);
  y = PadCoordinate(y, p.h, o.padding, o.align_corners);
  if (o.mode == SampleMode::kNearest) {
    // Half-way cases round to even, as std::nearbyint does in the default rounding mode.
    return p.At(FloorIndex(std::nearbyint(y)), FloorIndex(std::nearbyint(x)));
  }
  const int64_t x0 = FloorIndex(x), y0 = FloorIndex(y);
  const double tx = x - static_cast<double>(x0), ty = y - static_cast<double>(y0);
  return (1 - ty) * ((1 - tx) * p.At(y0, x0) + tx * p.At(y0, x0 + 1)) +
         ty * ((1 - tx) * p.At(y0 + 1, x0) + tx * p.At(y0 + 1, x0 + 1));
}

template <class T>
Status GridSampleTyped(const Tensor& x, const Tensor& grid, const SampleOptions& o, Tensor* y) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t ho = grid.dim(1), wo = grid.dim(2);
  std::vector<double> g(static_cast<size_t>(grid.numel()));
  for (int64_t i = 0; i < grid.numel(); ++i) g[i] = grid.GetAsDouble(i);
  const T* in = x.data<T>();
  T* out = y->data<T>();
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      Plane<T> plane{in + (b * c + ch) * h * w, h, w};
      T* dst = out + (b * c + ch) * ho * wo;
      const double* gb = g.data() + b * ho * wo * 2;
      for (int64_t i = 0; i < ho * wo; ++i)
        dst[i] = StoreInterpolated<T>(SamplePlane(plane, gb[2 * i], gb[2 * i + 1], o));
    }
  }
  return Status::OK();
}

}  // namespace

Status GridSample(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* grid, ctx.RequireInput(1));
  if (x->rank() != 4)
    return ctx.Error("X must be 4-D [N, C, H, W], got ", ShapeToString(x->shape()));
  if (grid->rank() != 4 || grid->dim(0) != x->dim(0) || grid->dim(3) != 2)
    return ctx.Error("grid must be [N, H_out, W_out, 2] with N = ", x->dim(0), ", got ",
                     ShapeToString(grid->shape()));
  if (!IsFloatingDType(grid->dtype()))
    return ctx.Error("grid must be a float tensor, got ", DTypeName(grid->dtype()));
  SampleOptions o;
  const std::string mode = ctx.attr_string("mode", "bilinear");
  if (mode == "bilinear" || mode == "linear") {
    o.mode = SampleMode::kBilinear;
  } else if (mode == "nearest") {
    o.mode = SampleMode::kNearest;
  } else if (mode == "bicubic" || mode == "cubic") {
    o.mode = SampleMode::kBicubic;
  } else {
    return ctx.Error("mode must be bilinear, nearest or bicubic, got '", mode, "'");
  }
  const std::string padding = ctx.attr_string("padding_mode", "zeros");
  if (padding == "zeros") {
    o.padding = Padding::kZeros;
  } else if (padding == "border") {
    o.padding = Padding::kBorder;
  } else if (padding == "reflection") {
    o.padding = Padding::kReflection;
  } else {
    return ctx.Error("padding_mode must be zeros, border or reflection, got '", padding, "'");
  }
  o.align_corners = ctx.attr_int("align_corners", 0) != 0;
  PE_ASSIGN_OR_RETURN(
      Tensor * y,
      ctx.AllocateOutput(0, x->dtype(), {x->dim(0), x->dim(1), grid->dim(1), grid->dim(2)}));
  if (y->numel() == 0) return Status::OK();
  if (x->dim(2) == 0 || x->dim(3) == 0) return Status::OK();  // every sample reads padding zeros
  return DispatchNumeric(x->dtype(),
                         [&](auto tag) { return GridSampleTyped<decltype(tag)>(*x, *grid, o, y); });
}

}  // namespace privedge
