// Signal family (opset 17): DFT, STFT, window generators and MelWeightMatrix.
//
// The transforms are plain O(n^2) DFTs in double precision: this is the reference, not the
// fast path.
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"

namespace privedge {
namespace {

using Complex = std::complex<double>;

// Largest transform/window length accepted; keeps the O(n^2) loops and allocations sane.
constexpr int64_t kMaxSignalLength = int64_t{1} << 24;
// Largest number of complex outputs a transform may produce.
constexpr int64_t kMaxOutputValues = int64_t{1} << 28;

Status CheckOutputSize(const KernelContext& ctx, const Shape& shape) {
  const int64_t n = ShapeElementCount(shape);
  if (n < 0 || n > kMaxOutputValues)
    return ctx.Error("output ", ShapeToString(shape), " is too large");
  return Status::OK();
}

// Transforms `in` (zero-padded or truncated to n) into n frequency bins, or the inverse
// transform (scaled by 1/n) when `inverse`.
std::vector<Complex> NaiveDft(const std::vector<Complex>& in, int64_t n, bool inverse) {
  // Twiddle factors indexed by (j * k) mod n: exact periodicity and one sin/cos per residue.
  const double sign = inverse ? 1.0 : -1.0;
  std::vector<Complex> twiddle(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r)
    twiddle[r] = std::polar(
        1.0, sign * 2 * std::numbers::pi * static_cast<double>(r) / static_cast<double>(n));
  std::vector<Complex> out(static_cast<size_t>(n));
  const int64_t m = std::min<int64_t>(n, static_cast<int64_t>(in.size()));
  for (int64_t k = 0; k < n; ++k) {
    Complex acc = 0;
    for (int64_t j = 0; j < m; ++j) acc += in[j] * twiddle[(j * k) % n];
    out[k] = inverse ? acc / static_cast<double>(n) : acc;
  }
  return out;
}

// Reads a scalar (or one-element) integer input.
Result<int64_t> ScalarInt(const KernelContext& ctx, int i, const char* what) {
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
  if (t->numel() != 1 || !IsIntegerDType(t->dtype()))
    return ctx.Error(what, " must be a single integer, got ", DTypeName(t->dtype()), " ",
                     ShapeToString(t->shape()));
  return t->GetAsInt64(0);
}

Result<double> ScalarDouble(const KernelContext& ctx, int i, const char* what) {
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
  if (t->numel() != 1 || t->dtype() == DType::kString)
    return ctx.Error(what, " must be a single number, got ", ShapeToString(t->shape()));
  return t->GetAsDouble(0);
}

// Writes doubles into a new output of `dtype` (any numeric type).
Status WriteOutput(KernelContext& ctx, DType dtype, const Shape& shape,
                   const std::vector<double>& values) {
  PE_ASSIGN_OR_RETURN(Tensor * y, ctx.AllocateOutput(0, dtype, shape));
  return DispatchNumeric(dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    T* out = y->data<T>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = CastValue<T>(values[i]);
    return Status::OK();
  });
}

Result<DType> OutputDType(const KernelContext& ctx, int64_t def) {
  const int64_t v = ctx.attr_int("output_datatype", def);
  if (v > std::numeric_limits<int32_t>::max() || !IsValidDType(static_cast<int32_t>(v)) ||
      (!IsFloatingDType(static_cast<DType>(v)) && !IsIntegerDType(static_cast<DType>(v))))
    return ctx.Error("output_datatype ", v, " is not a numeric type");
  return static_cast<DType>(v);
}

// Reads a [..., 1] (real) or [..., 2] (complex) tensor as complex numbers.
std::vector<Complex> ReadComplex(const Tensor& t) {
  const int64_t comps = t.dim(-1);
  std::vector<Complex> v(static_cast<size_t>(t.numel() / std::max<int64_t>(comps, 1)));
  for (size_t i = 0; i < v.size(); ++i) {
    const int64_t o = static_cast<int64_t>(i) * comps;
    v[i] = Complex(t.GetAsDouble(o), comps == 2 ? t.GetAsDouble(o + 1) : 0.0);
  }
  return v;
}

std::vector<double> Interleave(const std::vector<Complex>& v) {
  std::vector<double> out;
  out.reserve(v.size() * 2);
  for (const Complex& c : v) {
    out.push_back(c.real());
    out.push_back(c.imag());
  }
  return out;
}

Status Dft(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const int64_t rank = static_cast<int64_t>(x->rank());
  if (rank < 3 || (x->dim(-1) != 1 && x->dim(-1) != 2))
    return ctx.Error("input must be [batch, signal dims..., 1 or 2], got ",
                     ShapeToString(x->shape()));
  if (!IsFloatingDType(x->dtype()))
    return ctx.Error("input must be a float tensor, got ", DTypeName(x->dtype()));
  // DFT-20 moved the axis from an attribute (default 1) to input 2 (default -2).
  int64_t axis = ctx.attr_int("axis", 1);
  if (ctx.opset() >= 20) {
    axis = -2;
    if (ctx.has_input(2)) {
      PE_ASSIGN_OR_RETURN(axis, ScalarInt(ctx, 2, "axis"));
    }
  }
  const int64_t given_axis = axis;
  if (axis < 0) axis += rank;
  if (axis < 1 || axis > rank - 2)
    return ctx.Error("axis ", given_axis, " must name a signal axis in [1, ", rank - 2, "]");
  const bool inverse = ctx.attr_int("inverse", 0) != 0;
  const bool onesided = ctx.attr_int("onesided", 0) != 0;
  int64_t n = x->dim(axis);
  if (ctx.has_input(1)) {
    PE_ASSIGN_OR_RETURN(n, ScalarInt(ctx, 1, "dft_length"));
  }
  if (n < 1 || n > kMaxSignalLength)
    return ctx.Error("dft_length must be in [1, ", kMaxSignalLength, "], got ", n);
  if (onesided && x->dim(-1) == 2) return ctx.Error("onesided needs a real input ([..., 1])");

  const std::vector<Complex> in = ReadComplex(*x);
  const int64_t len = x->dim(axis);
  int64_t outer = 1, inner = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= x->dim(a);
  for (int64_t a = axis + 1; a < rank - 1; ++a) inner *= x->dim(a);
  const int64_t bins = onesided ? n / 2 + 1 : n;
  Shape out_shape = x->shape();
  out_shape[axis] = bins;
  out_shape.back() = 2;
  PE_RETURN_IF_ERROR(CheckOutputSize(ctx, out_shape));

  std::vector<Complex> out(static_cast<size_t>(outer * bins * inner));
  std::vector<Complex> signal(static_cast<size_t>(std::min(len, n)));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      for (size_t j = 0; j < signal.size(); ++j)
        signal[j] = in[(o * len + static_cast<int64_t>(j)) * inner + i];
      const std::vector<Complex> spectrum = NaiveDft(signal, n, inverse);
      for (int64_t k = 0; k < bins; ++k) out[(o * bins + k) * inner + i] = spectrum[k];
    }
  }
  return WriteOutput(ctx, x->dtype(), out_shape, Interleave(out));
}

Status Stft(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->rank() != 3 || (x->dim(2) != 1 && x->dim(2) != 2))
    return ctx.Error("signal must be [batch, length, 1 or 2], got ", ShapeToString(x->shape()));
  if (!IsFloatingDType(x->dtype()))
    return ctx.Error("signal must be a float tensor, got ", DTypeName(x->dtype()));
  PE_ASSIGN_OR_RETURN(int64_t step, ScalarInt(ctx, 1, "frame_step"));
  if (step < 1) return ctx.Error("frame_step must be positive, got ", step);
  const Tensor* window = ctx.input(2);
  if (window && window->rank() != 1)
    return ctx.Error("window must be 1-D, got ", ShapeToString(window->shape()));
  int64_t frame = window ? window->dim(0) : -1;
  if (ctx.has_input(3)) {
    PE_ASSIGN_OR_RETURN(int64_t fl, ScalarInt(ctx, 3, "frame_length"));
    if (window && fl != frame)
      return ctx.Error("frame_length ", fl, " differs from the window length ", frame);
    frame = fl;
  }
  if (frame < 0) return ctx.Error("either window or frame_length must be given");
  const int64_t length = x->dim(1);
  if (frame < 1 || frame > std::min(length, kMaxSignalLength))
    return ctx.Error("frame length ", frame, " must be in [1, signal length ", length, "]");
  const bool onesided = ctx.attr_int("onesided", 1) != 0;
  if (onesided && x->dim(2) == 2) return ctx.Error("onesided needs a real signal ([..., 1])");

  const int64_t batch = x->dim(0);
  const int64_t frames = (length - frame) / step + 1;
  const int64_t bins = onesided ? frame / 2 + 1 : frame;
  PE_RETURN_IF_ERROR(CheckOutputSize(ctx, {batch, frames, bins, 2}));
  const std::vector<Complex> in = ReadComplex(*x);
  const std::vector<double> w =
      window ? ToDoubleVector(*window) : std::vector<double>(static_cast<size_t>(frame), 1.0);
  std::vector<Complex> out;
  out.reserve(static_cast<size_t>(batch * frames * bins));
  std::vector<Complex> segment(static_cast<size_t>(frame));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      for (int64_t j = 0; j < frame; ++j) segment[j] = in[b * length + f * step + j] * w[j];
      const std::vector<Complex> spectrum = NaiveDft(segment, frame, false);
      out.insert(out.end(), spectrum.begin(), spectrum.begin() + bins);
    }
  }
  return WriteOutput(ctx, x->dtype(), {batch, frames, bins, 2}, Interleave(out));
}

// Generalized cosine window a0 - a1 cos(2 pi k / N) + a2 cos(4 pi k / N), where N is the size
// for a periodic window and size - 1 for a symmetric one.
Status CosineWindow(KernelContext& ctx, double a0, double a1, double a2) {
  PE_ASSIGN_OR_RETURN(int64_t size, ScalarInt(ctx, 0, "size"));
  if (size < 0 || size > kMaxSignalLength)
    return ctx.Error("size must be in [0, ", kMaxSignalLength, "], got ", size);
  PE_ASSIGN_OR_RETURN(DType dtype, OutputDType(ctx, 1));
  const bool periodic = ctx.attr_int("periodic", 1) != 0;
  const double denom = static_cast<double>(periodic ? size : size - 1);
  std::vector<double> w(static_cast<size_t>(size), 1.0);  // a 1-point symmetric window is 1
  if (denom > 0) {
    for (int64_t k = 0; k < size; ++k) {
      const double t = 2 * std::numbers::pi * static_cast<double>(k) / denom;
      w[k] = a0 - a1 * std::cos(t) + a2 * std::cos(2 * t);
    }
  }
  return WriteOutput(ctx, dtype, {size}, w);
}

Status HannWindow(KernelContext& ctx) { return CosineWindow(ctx, 0.5, 0.5, 0); }
Status HammingWindow(KernelContext& ctx) { return CosineWindow(ctx, 25.0 / 46, 21.0 / 46, 0); }
Status BlackmanWindow(KernelContext& ctx) { return CosineWindow(ctx, 0.42, 0.5, 0.08); }

double HertzToMel(double hz) { return 2595 * std::log10(1 + hz / 700); }
double MelToHertz(double mel) { return 700 * (std::pow(10, mel / 2595) - 1); }

// Triangular filters whose corners sit on whole DFT bins, as the ONNX reference builds them.
Status MelWeightMatrix(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(int64_t mel_bins, ScalarInt(ctx, 0, "num_mel_bins"));
  PE_ASSIGN_OR_RETURN(int64_t dft_length, ScalarInt(ctx, 1, "dft_length"));
  PE_ASSIGN_OR_RETURN(int64_t sample_rate, ScalarInt(ctx, 2, "sample_rate"));
  PE_ASSIGN_OR_RETURN(double lower, ScalarDouble(ctx, 3, "lower_edge_hertz"));
  PE_ASSIGN_OR_RETURN(double upper, ScalarDouble(ctx, 4, "upper_edge_hertz"));
  PE_ASSIGN_OR_RETURN(DType dtype, OutputDType(ctx, 1));
  if (mel_bins < 1 || mel_bins > kMaxSignalLength || dft_length < 1 ||
      dft_length > kMaxSignalLength || sample_rate < 1)
    return ctx.Error("num_mel_bins, dft_length and sample_rate must be positive (got ", mel_bins,
                     ", ", dft_length, ", ", sample_rate, ")");
  if (!(lower >= 0 && lower <= upper && std::isfinite(upper)))
    return ctx.Error("need 0 <= lower_edge_hertz <= upper_edge_hertz, got ", lower, " and ", upper);
  const int64_t spec_bins = dft_length / 2 + 1;
  if (spec_bins * mel_bins > kMaxSignalLength)
    return ctx.Error("output [", spec_bins, ", ", mel_bins, "] is too large");
  const double low_mel = HertzToMel(lower);
  const double mel_step = (HertzToMel(upper) - low_mel) / static_cast<double>(mel_bins + 2);
  std::vector<int64_t> corner(static_cast<size_t>(mel_bins + 2));
  for (int64_t i = 0; i < mel_bins + 2; ++i) {
    const double hz = MelToHertz(static_cast<double>(i) * mel_step + low_mel);
    const double bin =
        std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(sample_rate));
    // Corners far beyond the spectrum only shape triangles that are never written.
    corner[i] = static_cast<int64_t>(std::clamp(bin, -1e12, 1e12));
  }
  std::vector<double> w(static_cast<size_t>(spec_bins * mel_bins), 0.0);
  auto set = [&](int64_t bin, int64_t m, double v) {
    if (bin >= 0 && bin < spec_bins) w[bin * mel_bins + m] = v;
  };
  for (int64_t m = 0; m < mel_bins; ++m) {
    const int64_t lo = corner[m], center = corner[m + 1], hi = corner[m + 2];
    if (center == lo) {
      set(center, m, 1.0);
    } else {
      for (int64_t j = std::max<int64_t>(lo, 0); j <= std::min(center, spec_bins - 1); ++j)
        set(j, m, static_cast<double>(j - lo) / static_cast<double>(center - lo));
    }
    for (int64_t j = std::max<int64_t>(center, 0); j < std::min(hi, spec_bins); ++j)
      set(j, m, static_cast<double>(hi - j) / static_cast<double>(hi - center));
  }
  return WriteOutput(ctx, dtype, {spec_bins, mel_bins}, w);
}

}  // namespace

void RegisterSignalKernels(KernelRegistry& r) {
  r.Add("DFT", Dft);
  r.Add("STFT", Stft);
  r.Add("HannWindow", HannWindow);
  r.Add("HammingWindow", HammingWindow);
  r.Add("BlackmanWindow", BlackmanWindow);
  r.Add("MelWeightMatrix", MelWeightMatrix);
}

}  // namespace privedge
