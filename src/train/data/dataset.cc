// Datasets: features and labels from files or tensors, converted and checked.
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/dispatch.h"
#include "train/data/data_internal.h"

namespace privedge {
namespace {

// The divisor that scale_integers applies to features of type `t` (1 when none).
double IntegerScale(DType t) {
  switch (t) {
    case DType::kUInt8: return 255.0;
    case DType::kInt8: return 127.0;
    case DType::kUInt16: return 65535.0;
    case DType::kInt16: return 32767.0;
    default: return 1.0;
  }
}

// Checks DatasetOptions::mean/stddev against features of `shape` (after reshaping).
Status CheckNormalization(const Shape& shape, const std::string& name,
                          const DatasetOptions& options) {
  const auto& mean = options.mean;
  const auto& stddev = options.stddev;
  if (mean.size() != stddev.size())
    return InvalidArgument("normalization: ", mean.size(), " mean values but ", stddev.size(),
                           " stddev values (expected the same count)");
  for (float s : stddev)
    if (!(s > 0) || !std::isfinite(s))
      return InvalidArgument("normalization: every stddev must be finite and > 0, got ", s);
  const int64_t channels = static_cast<int64_t>(mean.size());
  if (channels > 1 && (shape.size() < 2 || shape[1] != channels))
    return InvalidArgument(name, ": ", channels, " mean/stddev values need features [N, ", channels,
                           ", ...], got ", ShapeToString(shape));
  return Status::OK();
}

// dst[i] = float(src[i] / scale), refusing non-finite and out-of-range floats.
template <class T>
Status ConvertToFloat(const T* src, int64_t count, int64_t per_example, double scale, float* dst,
                      const std::string& name) {
  if constexpr (sizeof(T) == 1) {
    // 8-bit images: one table lookup per pixel, the same values as the division below.
    float table[256];
    for (int v = 0; v < 256; ++v) table[v] = static_cast<float>(static_cast<T>(v) / scale);
    const auto* bytes = reinterpret_cast<const uint8_t*>(src);
    for (int64_t i = 0; i < count; ++i) dst[i] = table[bytes[i]];
  } else if constexpr (std::is_integral_v<T>) {
    // Every integer below 2^64 is finite in float32: nothing to check.
    for (int64_t i = 0; i < count; ++i)
      dst[i] = static_cast<float>(static_cast<double>(src[i]) / scale);
  } else {
    for (int64_t i = 0; i < count; ++i) {
      const double v = static_cast<double>(src[i]);
      if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max())
        return InvalidArgument(name, ": feature element ", i, " (example ", i / per_example,
                               ") is ", v, ", expected a finite float32 value");
      dst[i] = static_cast<float>(v);
    }
  }
  return Status::OK();
}

// Features as float32 [N, example_shape...], scaled and standardized; never shares storage
// with `in`.
Result<Tensor> ConvertFeatures(const Tensor& in, const std::string& name,
                               const DatasetOptions& options) {
  if (!in.defined() || in.rank() < 1)
    return InvalidArgument(name, ": features must have rank >= 1 ([N, ...]), got ",
                           in.defined() ? ShapeToString(in.shape()) : "no tensor");
  if (!IsFloatingDType(in.dtype()) && !IsIntegerDType(in.dtype()))
    return InvalidArgument(name, ": features must be numbers, got ", DTypeName(in.dtype()));
  const int64_t n = in.dim(0);
  Shape shape = in.shape();
  if (!options.example_shape.empty()) {
    shape = {n};
    shape.insert(shape.end(), options.example_shape.begin(), options.example_shape.end());
    if (ShapeElementCount(shape) != in.numel())
      return InvalidArgument(name, ": cannot reshape examples of shape ",
                             ShapeToString(Shape(in.shape().begin() + 1, in.shape().end())),
                             " to example_shape ", ShapeToString(options.example_shape),
                             " (element counts differ)");
  }
  PE_RETURN_IF_ERROR(CheckNormalization(shape, name, options));

  PE_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(DType::kFloat32, shape, options.limits.max_bytes));
  float* x = out.data<float>();
  const double scale = options.scale_integers ? IntegerScale(in.dtype()) : 1.0;
  const int64_t per_example = n > 0 ? in.numel() / n : 1;
  PE_RETURN_IF_ERROR(DispatchNumeric(in.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    return ConvertToFloat(static_cast<const T*>(in.raw_data()), in.numel(), per_example, scale, x,
                          name);
  }));

  const auto& mean = options.mean;
  const auto& stddev = options.stddev;
  if (mean.empty()) return out;
  const int64_t channels = static_cast<int64_t>(mean.size());
  const int64_t inner = channels > 1 ? per_example / channels : 1;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const int64_t c = channels > 1 ? (i / inner) % channels : 0;
    x[i] = (x[i] - mean[c]) / stddev[c];
  }
  return out;
}

Result<Tensor> ConvertLabels(const Tensor& in, const std::string& name,
                             const DatasetOptions& options) {
  if (!in.defined() || in.rank() != 1)
    return InvalidArgument(name, ": labels must have shape [N], got ",
                           in.defined() ? ShapeToString(in.shape()) : "no tensor");
  if (!IsFloatingDType(in.dtype()) && !IsIntegerDType(in.dtype()))
    return InvalidArgument(name, ": labels must be numbers, got ", DTypeName(in.dtype()));
  const int64_t n = in.dim(0);
  if (options.label_kind == LabelKind::kFloat) {
    PE_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(DType::kFloat32, {n}, options.limits.max_bytes));
    for (int64_t i = 0; i < n; ++i) {
      const double v = in.GetAsDouble(i);
      if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max())
        return InvalidArgument(name, ": label ", i, " is ", v, ", expected a finite float32");
      out.data<float>()[i] = static_cast<float>(v);
    }
    return out;
  }
  PE_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(DType::kInt64, {n}, options.limits.max_bytes));
  const bool is_float = IsFloatingDType(in.dtype());
  for (int64_t i = 0; i < n; ++i) {
    int64_t k;
    if (is_float) {
      const double v = in.GetAsDouble(i);
      if (!(v >= 0 && v < 9.007199254740992e15) || v != std::floor(v))
        return InvalidArgument(name, ": label ", i, " is ", v,
                               ", expected a class index (a whole number >= 0)");
      k = static_cast<int64_t>(v);
    } else {
      k = in.GetAsInt64(i);
      if (in.dtype() == DType::kUInt64 && k < 0)
        return InvalidArgument(name, ": label ", i, " is above 2^63, expected a class index");
    }
    if (k < 0)
      return InvalidArgument(name, ": label ", i, " is ", k, ", expected a class index >= 0");
    if (options.num_classes > 0 && k >= options.num_classes)
      return InvalidArgument(name, ": label ", i, " is ", k, ", expected a class index in [0, ",
                             options.num_classes - 1, "]");
    out.data<int64_t>()[i] = k;
  }
  return out;
}

Result<Dataset> MakeNamedDataset(const Tensor& features, const Tensor& labels,
                                 const std::string& features_name, const std::string& labels_name,
                                 const DatasetOptions& options) {
  if (features.defined() && labels.defined() && features.rank() >= 1 && labels.rank() >= 1 &&
      features.dim(0) != labels.dim(0))
    return InvalidArgument("features '", features_name, "' have ", features.dim(0),
                           " examples but labels '", labels_name, "' have ", labels.dim(0));
  Dataset d;
  PE_ASSIGN_OR_RETURN(d.features, ConvertFeatures(features, features_name, options));
  PE_ASSIGN_OR_RETURN(d.labels, ConvertLabels(labels, labels_name, options));
  return d;
}

// A labels file: IDX, .npy or a one-column CSV.
Result<Tensor> ReadLabels(const std::string& path, const DatasetOptions& options) {
  PE_ASSIGN_OR_RETURN(std::string raw, data::ReadRawFile(path, options.limits.max_bytes));
  PE_ASSIGN_OR_RETURN(DataFormat format, data::DetectRawFormat(data::AsBytes(raw), path));
  if (format != DataFormat::kCsv)
    return data::ParseTensorRaw(std::move(raw), format, path, options.limits);
  PE_ASSIGN_OR_RETURN(std::string text, data::DecodeRaw(std::move(raw), path, options.limits));
  CsvOptions csv = options.csv;
  csv.label_name.clear();
  csv.has_label_index = false;
  PE_ASSIGN_OR_RETURN(CsvTable table, data::ParseCsvText(text, path, csv, options.limits));
  if (table.features.dim(1) != 1)
    return InvalidArgument(path, ": a CSV labels file must have one column, got ",
                           table.features.dim(1));
  return table.features.Reshaped({table.features.dim(0)});
}

}  // namespace

Result<Dataset> MakeDataset(const Tensor& features, const Tensor& labels,
                            const DatasetOptions& options) {
  return MakeNamedDataset(features, labels, "features", "labels", options);
}

Result<Dataset> LoadDataset(const std::string& features_path, const std::string& labels_path,
                            const DatasetOptions& options) {
  PE_ASSIGN_OR_RETURN(std::string raw, data::ReadRawFile(features_path, options.limits.max_bytes));
  PE_ASSIGN_OR_RETURN(DataFormat format, data::DetectRawFormat(data::AsBytes(raw), features_path));
  Tensor features, labels;
  if (format == DataFormat::kCsv) {
    PE_ASSIGN_OR_RETURN(std::string text,
                        data::DecodeRaw(std::move(raw), features_path, options.limits));
    PE_ASSIGN_OR_RETURN(CsvTable table,
                        data::ParseCsvText(text, features_path, options.csv, options.limits));
    features = table.features;
    labels = table.labels;
    if (labels.defined() && !labels_path.empty())
      return InvalidArgument(features_path, ": the CSV has a label column, so no labels file ",
                             "may be given (got '", labels_path, "')");
  } else {
    PE_ASSIGN_OR_RETURN(
        features, data::ParseTensorRaw(std::move(raw), format, features_path, options.limits));
  }
  if (!labels.defined()) {
    if (labels_path.empty())
      return InvalidArgument(features_path, ": no labels: give a labels file",
                             format == DataFormat::kCsv ? " or a CSV label column" : "");
    PE_ASSIGN_OR_RETURN(labels, ReadLabels(labels_path, options));
  }
  return MakeNamedDataset(features, labels, features_path,
                          labels_path.empty() ? features_path : labels_path, options);
}

Result<FeatureStats> ComputeFeatureStats(const Tensor& features, bool per_axis1) {
  if (features.dtype() != DType::kFloat32 || features.rank() < (per_axis1 ? 2u : 1u) ||
      features.numel() == 0)
    return InvalidArgument(
        "feature statistics need non-empty float32 features of rank >= ", per_axis1 ? 2 : 1,
        ", got ", DTypeName(features.dtype()), ShapeToString(features.shape()));
  const int64_t channels = per_axis1 ? features.dim(1) : 1;
  const int64_t inner = per_axis1 ? features.numel() / (features.dim(0) * channels) : 1;
  const float* x = features.data<float>();
  std::vector<double> sum(channels, 0.0), sq(channels, 0.0);
  std::vector<int64_t> count(channels, 0);
  auto channel_of = [&](int64_t i) { return channels > 1 ? (i / inner) % channels : 0; };
  for (int64_t i = 0; i < features.numel(); ++i) {
    sum[channel_of(i)] += x[i];
    ++count[channel_of(i)];
  }
  // Two passes: the squared deviations from the mean lose no precision to cancellation.
  for (int64_t c = 0; c < channels; ++c)
    sum[c] /= static_cast<double>(std::max<int64_t>(1, count[c]));
  for (int64_t i = 0; i < features.numel(); ++i) {
    const double d = x[i] - sum[channel_of(i)];
    sq[channel_of(i)] += d * d;
  }
  FeatureStats stats;
  for (int64_t c = 0; c < channels; ++c) {
    stats.mean.push_back(static_cast<float>(sum[c]));
    stats.stddev.push_back(
        static_cast<float>(std::sqrt(sq[c] / static_cast<double>(std::max<int64_t>(1, count[c])))));
  }
  return stats;
}

Result<Dataset> SubsetDataset(const Dataset& dataset, std::span<const int64_t> indices) {
  const int64_t n = dataset.size();
  if (!dataset.labels.defined() || dataset.labels.rank() != 1 || dataset.labels.dim(0) != n)
    return InvalidArgument("subset: dataset labels must be [", n, "]");
  Shape fshape = dataset.features.shape();
  fshape[0] = static_cast<int64_t>(indices.size());
  PE_ASSIGN_OR_RETURN(Tensor features, Tensor::Create(dataset.features.dtype(), fshape));
  PE_ASSIGN_OR_RETURN(Tensor labels, Tensor::Create(dataset.labels.dtype(),
                                                    {static_cast<int64_t>(indices.size())}));
  const size_t fbytes = n ? dataset.features.nbytes() / n : 0;
  const size_t lbytes = DTypeSize(dataset.labels.dtype());
  for (size_t k = 0; k < indices.size(); ++k) {
    const int64_t i = indices[k];
    if (i < 0 || i >= n)
      return OutOfRange("subset: index ", i, " at position ", k, " is outside [0, ", n, ")");
    std::memcpy(static_cast<uint8_t*>(features.raw_data()) + k * fbytes,
                static_cast<const uint8_t*>(dataset.features.raw_data()) + i * fbytes, fbytes);
    std::memcpy(static_cast<uint8_t*>(labels.raw_data()) + k * lbytes,
                static_cast<const uint8_t*>(dataset.labels.raw_data()) + i * lbytes, lbytes);
  }
  return Dataset{features, labels};
}

}  // namespace privedge
