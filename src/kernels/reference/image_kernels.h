// Kernels of the image family (image.cc registers them; each lives in an image_*.cc file).
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/dispatch.h"
#include "kernels/kernel.h"

namespace privedge {

Status ResizeKernel(KernelContext& ctx);       // image_resize.cc
Status UpsampleKernel(KernelContext& ctx);     // image_resize.cc
Status GridSample(KernelContext& ctx);         // image_grid_sample.cc
Status RoiAlign(KernelContext& ctx);           // image.cc
Status NonMaxSuppression(KernelContext& ctx);  // image.cc

// Keys cubic convolution kernel with coefficient `a` at distance `d` (Resize and GridSample).
inline double CubicWeight(double d, double a) {
  d = std::fabs(d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

// Converts an interpolated double back to element type T. Integer types round to nearest and
// saturate, because a weighted sum of integers is generally not an integer.
template <class T>
T StoreInterpolated(double v) {
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return T{0};
    double r = std::nearbyint(v);
    // Compare in double before converting: converting an out-of-range double is undefined.
    if (r >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    if (r <= static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    return static_cast<T>(r);
  } else {
    return CastValue<T>(v);
  }
}

}  // namespace privedge
