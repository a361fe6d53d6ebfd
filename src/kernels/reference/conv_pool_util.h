// Shared machinery for the sliding-window operators: Conv, ConvTranspose, ConvInteger,
// QLinearConv and the pools. It covers the spatial axes only; callers handle batch and channels.
//
// Convolution is computed as im2col + a plain GEMM per (batch, group): readable, and fast enough
// for the reference path (the inner loop runs over contiguous window positions, so it
// vectorizes). The same loop serves float (float/double accumulation) and integer (int32
// accumulation) convolutions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "privedge/status.h"
#include "privedge/tensor.h"

namespace privedge {

void RegisterPoolingKernels(KernelRegistry& r);    // conv_pool_pooling.cc
void RegisterFusedConvKernels(KernelRegistry& r);  // conv_pool_fused.cc

namespace convpool {

// Where a sliding window lands, per spatial axis. The "image" is the side the window slides
// over (Conv/pool input, ConvTranspose output); "cols" are the window positions (Conv/pool
// output, ConvTranspose input).
struct WindowGeometry {
  Shape image;
  Shape cols;
  Shape kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;  // begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}
  size_t rank() const { return image.size(); }
};

enum class AutoPad { kNotSet, kValid, kSameUpper, kSameLower };

// Window attributes as written on the node, validated against the spatial rank.
struct WindowAttrs {
  Shape kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;
  AutoPad auto_pad = AutoPad::kNotSet;
};

// Reads kernel_shape, strides, dilations, pads and auto_pad. `kernel_from_weights` (Conv) is
// used when kernel_shape is absent and must agree with it when present; pass an empty shape for
// pools, which require kernel_shape.
Result<WindowAttrs> ReadWindowAttrs(const KernelContext& ctx, size_t rank,
                                    const Shape& kernel_from_weights);

// Output extents and effective pads of a forward window (Conv, pools) over `image`.
Result<WindowGeometry> ForwardGeometry(const KernelContext& ctx, const WindowAttrs& attrs,
                                       const Shape& image, bool ceil_mode);

// Maps (kernel tap, window position) to an image offset. Precomputes one coordinate table per
// axis so the walk is a table lookup per element.
class TapMap {
 public:
  explicit TapMap(const WindowGeometry& g);
  int64_t taps() const { return taps_; }
  int64_t cols() const { return cols_; }
  int64_t image_size() const { return image_size_; }

  // Calls f(tap, col, offset) for every kernel tap (outer) and window position (inner), in
  // row-major order of each; offset is the row-major offset in one image plane, or -1 when the
  // tap falls in the padding.
  template <class F>
  void ForEach(F&& f) const {
    const size_t r = rank_;
    std::vector<int64_t> k(r, 0);
    std::vector<int64_t> o(r, 0);
    const int64_t inner = cols_shape_[r - 1];
    for (int64_t tap = 0; tap < taps_; ++tap) {
      std::fill(o.begin(), o.end(), 0);
      for (int64_t col = 0; col < cols_; col += inner) {
        int64_t base = 0;
        bool valid = true;
        for (size_t d = 0; d + 1 < r; ++d) {
          int64_t c = coord_[d][k[d] * cols_shape_[d] + o[d]];
          if (c < 0) valid = false;
          base += c * image_strides_[d];
        }
        const int64_t* last = &coord_[r - 1][k[r - 1] * inner];
        for (int64_t j = 0; j < inner; ++j)
          f(tap, col + j, (valid && last[j] >= 0) ? base + last[j] : int64_t{-1});
        Advance(o, cols_shape_, r - 1);
      }
      Advance(k, kernel_, r);
    }
  }

  // For each window position, how many taps land inside the padded image (image plus pads):
  // the divisor of AveragePool with count_include_pad.
  std::vector<int64_t> PaddedTapCounts() const;

 private:
  // Odometer step over the first `axes` axes of `extent`.
  static void Advance(std::vector<int64_t>& idx, const Shape& extent, size_t axes);

  size_t rank_;
  Shape image_shape_, cols_shape_, kernel_;
  std::vector<int64_t> image_strides_;
  std::vector<std::vector<int64_t>> coord_;   // per axis: [tap_d * cols_d + col_d] -> coord | -1
  std::vector<std::vector<int64_t>> padded_;  // per axis: same, 1 if inside the padded extent
  int64_t taps_, cols_, image_size_;
};

// Batch and channel layout of a (possibly grouped) convolution.
struct ConvDims {
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t group = 1;
};

// Everything needed to run a convolution, derived from X, W and the node's attributes.
struct ConvSetup {
  ConvDims dims;
  WindowGeometry geometry;
  Shape output_shape;  // [N, M, spatial...]
};

// X [N, C, spatial...], W [M, C/group, kernel...].
Result<ConvSetup> PrepareConv(const KernelContext& ctx, const Shape& x, const Shape& w);
// X [N, C, spatial...], W [C, M/group, kernel...].
Result<ConvSetup> PrepareConvTranspose(const KernelContext& ctx, const Shape& x, const Shape& w);

// Writes double results into `out`, converting to its element type (numeric types).
Status WriteDoubles(const std::vector<double>& values, Tensor* out);

// Refuses scratch buffers that would not fit in memory (hostile shapes).
Status CheckScratchSize(const KernelContext& ctx, int64_t a, int64_t b);

// Forward convolution: y[n, m, p] += sum over (c, tap) of w[m, c, tap] * x[n, g*Cg + c, tap@p].
// x_at(i) returns the input element at flat index i of X as Acc (integer callers subtract the
// zero point there, so padding contributes 0). w holds W as Acc, [M, Cg * taps]. y is
// [N, M, cols], zero-initialized by the caller.
template <class Acc, class XAt>
void ConvolveForward(const ConvDims& d, const TapMap& map, XAt x_at, const std::vector<Acc>& w,
                     Acc* y) {
  const int64_t cg = d.in_channels / d.group;
  const int64_t mg = d.out_channels / d.group;
  const int64_t taps = map.taps(), cols = map.cols(), img = map.image_size();
  const int64_t rows = cg * taps;
  std::vector<Acc> col(static_cast<size_t>(rows * cols));
  for (int64_t n = 0; n < d.batch; ++n) {
    for (int64_t g = 0; g < d.group; ++g) {
      for (int64_t c = 0; c < cg; ++c) {
        const int64_t plane = (n * d.in_channels + g * cg + c) * img;
        Acc* dst = col.data() + c * taps * cols;
        map.ForEach([&](int64_t tap, int64_t p, int64_t off) {
          dst[tap * cols + p] = off < 0 ? Acc{0} : x_at(plane + off);
        });
      }
      for (int64_t m = 0; m < mg; ++m) {
        Acc* yrow = y + (n * d.out_channels + g * mg + m) * cols;
        const Acc* wrow = w.data() + (g * mg + m) * rows;
        for (int64_t r = 0; r < rows; ++r) {
          const Acc wv = wrow[r];
          const Acc* crow = col.data() + r * cols;
          for (int64_t p = 0; p < cols; ++p) yrow[p] += wv * crow[p];
        }
      }
    }
  }
}

// Transposed convolution: y[n, m, tap@p] += sum over c of w[c, m, tap] * x[n, c, p], computed
// as a GEMM into columns followed by a scatter (col2im). w holds W as Acc, [C, Mg * taps]; y is
// [N, M, image], zero-initialized by the caller.
template <class Acc, class XAt>
void ConvolveTransposed(const ConvDims& d, const TapMap& map, XAt x_at,
                        const std::vector<Acc>& w, Acc* y) {
  const int64_t cg = d.in_channels / d.group;
  const int64_t mg = d.out_channels / d.group;
  const int64_t taps = map.taps(), cols = map.cols(), img = map.image_size();
  const int64_t rows = mg * taps;
  std::vector<Acc> col(static_cast<size_t>(rows * cols));
  std::vector<Acc> xrow(static_cast<size_t>(cols));
  for (int64_t n = 0; n < d.batch; ++n) {
    for (int64_t g = 0; g < d.group; ++g) {
      std::fill(col.begin(), col.end(), Acc{0});
      for (int64_t c = 0; c < cg; ++c) {
        const int64_t plane = (n * d.in_channels + g * cg + c) * cols;
        for (int64_t p = 0; p < cols; ++p) xrow[p] = x_at(plane + p);
        const Acc* wrow = w.data() + (g * cg + c) * rows;
        for (int64_t r = 0; r < rows; ++r) {
          const Acc wv = wrow[r];
          Acc* crow = col.data() + r * cols;
          for (int64_t p = 0; p < cols; ++p) crow[p] += wv * xrow[p];
        }
      }
      for (int64_t m = 0; m < mg; ++m) {
        Acc* yplane = y + (n * d.out_channels + g * mg + m) * img;
        const Acc* src = col.data() + m * taps * cols;
        map.ForEach([&](int64_t tap, int64_t p, int64_t off) {
          if (off >= 0) yplane[off] += src[tap * cols + p];
        });
      }
    }
  }
}

// The reference Conv (conv_pool.cc), which com.privedge.FusedConv runs before its activation.
Status ConvReference(KernelContext& ctx);

// The activation of a com.privedge.FusedConv node (written by the optimizer's Conv+Add and
// Conv+activation fusions): attribute activation = "Relu" | "LeakyRelu" | "Clip" with
// activation_params {} | {alpha} | {min, max}; no activation attribute (and no parameters):
// none. The node computes Y = activation(Conv(X, W, B) + Z), Z being its optional 4th input
// (a residual summand, added with ONNX Add's broadcasting).
struct FusedActivation {
  enum class Kind { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kSwish } kind = Kind::kRelu;
  float alpha = 0.0f;  // LeakyRelu slope, Clip min
  float beta = 0.0f;   // Clip max
};
Result<FusedActivation> ReadFusedActivation(const KernelContext& ctx);
// Applies `act` in place to `n` floats.
void ApplyFusedActivation(const FusedActivation& act, float* data, int64_t n);

}  // namespace convpool
}  // namespace privedge
