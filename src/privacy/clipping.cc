// L2 clipping of updates, flat and per layer.
#include <cmath>

#include "privacy/validate.h"
#include "privedge/privacy.h"

namespace privedge::privacy {
namespace {

// The L2 norm in double precision; an error if any element is NaN or infinite.
Result<double> CheckedL2Norm(std::span<const float> values, size_t offset) {
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]))
      return InvalidArgument("element ", offset + i, " is not finite (", values[i], ")");
    sum += static_cast<double>(values[i]) * values[i];
  }
  return std::sqrt(sum);
}

double ClipScale(double norm, double max_norm) { return norm > max_norm ? max_norm / norm : 1.0; }

void Scale(std::span<float> values, double scale) {
  if (scale == 1.0) return;
  for (float& v : values) v = static_cast<float>(v * scale);
}

}  // namespace

Result<double> ClipL2(std::span<float> values, double max_norm) {
  PE_RETURN_IF_ERROR(internal::CheckPositive("clip norm", max_norm));
  PE_ASSIGN_OR_RETURN(double norm, CheckedL2Norm(values, 0));
  const double scale = ClipScale(norm, max_norm);
  Scale(values, scale);
  return scale;
}

Result<std::vector<double>> ClipL2PerLayer(std::span<float> values,
                                           std::span<const size_t> layer_ends,
                                           std::span<const double> max_norms) {
  const size_t layers = layer_ends.size();
  if (layers == 0) return InvalidArgument("per-layer clipping needs at least one layer");
  if (max_norms.size() != 1 && max_norms.size() != layers)
    return InvalidArgument("expected 1 or ", layers, " clip norms (one per layer), got ",
                           max_norms.size());
  for (double c : max_norms) PE_RETURN_IF_ERROR(internal::CheckPositive("clip norm", c));
  for (size_t k = 0; k < layers; ++k) {
    const size_t begin = k == 0 ? 0 : layer_ends[k - 1];
    if (layer_ends[k] <= begin)
      return InvalidArgument("layer ends must be strictly increasing: layer ", k, " ends at ",
                             layer_ends[k], " but starts at ", begin);
  }
  if (layer_ends.back() != values.size())
    return InvalidArgument("the last layer must end at the update size ", values.size(), ", got ",
                           layer_ends.back());
  // Check every layer before changing any, so that an error leaves the update as it was.
  std::vector<double> scales(layers);
  for (size_t k = 0; k < layers; ++k) {
    const size_t begin = k == 0 ? 0 : layer_ends[k - 1];
    PE_ASSIGN_OR_RETURN(double norm,
                        CheckedL2Norm(values.subspan(begin, layer_ends[k] - begin), begin));
    scales[k] = ClipScale(norm, max_norms[max_norms.size() == 1 ? 0 : k]);
  }
  for (size_t k = 0; k < layers; ++k) {
    const size_t begin = k == 0 ? 0 : layer_ends[k - 1];
    Scale(values.subspan(begin, layer_ends[k] - begin), scales[k]);
  }
  return scales;
}

}  // namespace privedge::privacy
