// Training examples in a secure store silo: one encrypted record per example (format in
// include/privedge/dataset.h).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "privedge/dataset.h"
#include "privedge/secure_buffer.h"
#include "privedge/secure_store.h"

namespace privedge {
namespace {

constexpr char kMagic[4] = {'P', 'E', 'X', '1'};
constexpr size_t kFixedHeader = 8;  // magic, feature type, label type, rank, zero
constexpr int kMaxRank = 8;
constexpr uint64_t kMaxExampleBytes = uint64_t{64} << 20;

bool SupportedType(DType t) {
  switch (t) {
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kUInt8:
    case DType::kInt8:
    case DType::kUInt16:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
      return true;
    default:
      return false;
  }
}

void PutU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// What the first record fixed: every later one must match it.
struct Layout {
  DType feature_type = DType::kUndefined;
  DType label_type = DType::kUndefined;
  Shape example_shape;
  size_t feature_bytes = 0;
  size_t label_bytes = 0;
};

// Parses one record's header; `where` names it in errors.
Result<Layout> ParseHeader(std::span<const uint8_t> v, const std::string& where) {
  if (v.size() < kFixedHeader || std::memcmp(v.data(), kMagic, 4) != 0)
    return InvalidArgument(where, ": not a training example record (expected the PEX1 header, "
                           "got ", v.size(), " bytes without it)");
  Layout l;
  l.feature_type = static_cast<DType>(v[4]);
  l.label_type = static_cast<DType>(v[5]);
  const int rank = v[6];
  if (!SupportedType(l.feature_type) || !SupportedType(l.label_type))
    return InvalidArgument(where, ": unsupported example types (feature code ", int{v[4]},
                           ", label code ", int{v[5]}, "): expected numeric ONNX type codes");
  if (rank > kMaxRank || v[7] != 0)
    return InvalidArgument(where, ": bad example header (rank ", rank, ", expected at most ",
                           kMaxRank, ")");
  if (v.size() < kFixedHeader + 8 * static_cast<size_t>(rank))
    return InvalidArgument(where, ": example record truncated in its shape (", v.size(),
                           " bytes)");
  uint64_t elements = 1;
  for (int i = 0; i < rank; ++i) {
    const uint64_t d = GetU64(v.data() + kFixedHeader + 8 * i);
    if (d == 0 || d > kMaxExampleBytes || elements * d > kMaxExampleBytes)
      return InvalidArgument(where, ": example dimension ", i, " is ", d,
                             ": expected 1 to a 64 MiB example");
    elements *= d;
    l.example_shape.push_back(static_cast<int64_t>(d));
  }
  l.feature_bytes = elements * DTypeSize(l.feature_type);
  l.label_bytes = DTypeSize(l.label_type);
  const size_t want = kFixedHeader + 8 * rank + l.feature_bytes + l.label_bytes;
  if (l.feature_bytes > kMaxExampleBytes || v.size() != want)
    return InvalidArgument(where, ": example record is ", v.size(), " bytes, expected ", want,
                           " for ", DTypeName(l.feature_type), " ",
                           ShapeToString(l.example_shape));
  return l;
}

}  // namespace

Status AppendExamples(SecureStore& store, std::string_view silo, const Tensor& features,
                      const Tensor& labels) {
  if (!features.defined() || !labels.defined() || features.rank() < 1 || labels.rank() != 1)
    return InvalidArgument("examples for silo '", silo, "': expected features [N, ...] and labels",
                           " [N]");
  if (features.dim(0) != labels.dim(0))
    return InvalidArgument("examples for silo '", silo, "': ", features.dim(0),
                           " feature rows but ", labels.dim(0), " labels");
  if (!SupportedType(features.dtype()) || !SupportedType(labels.dtype()))
    return InvalidArgument("examples for silo '", silo, "': unsupported types ",
                           DTypeName(features.dtype()), " / ", DTypeName(labels.dtype()),
                           ": expected float32/64 or 8- to 64-bit integers");
  if (features.rank() - 1 > kMaxRank)
    return InvalidArgument("examples for silo '", silo, "': example rank ", features.rank() - 1,
                           " above ", kMaxRank);
  const int64_t n = features.dim(0);
  const size_t row = n == 0 ? 0 : features.nbytes() / static_cast<size_t>(n);
  if (row > kMaxExampleBytes)
    return InvalidArgument("examples for silo '", silo, "': one example is ", row,
                           " bytes, above the 64 MiB limit");
  PE_ASSIGN_OR_RETURN(std::vector<std::string> silos, store.ListSilos());
  if (std::find(silos.begin(), silos.end(), silo) == silos.end())
    PE_RETURN_IF_ERROR(store.CreateSilo(silo));

  std::vector<uint8_t> header(kMagic, kMagic + 4);
  header.push_back(static_cast<uint8_t>(features.dtype()));
  header.push_back(static_cast<uint8_t>(labels.dtype()));
  header.push_back(static_cast<uint8_t>(features.rank() - 1));
  header.push_back(0);
  for (size_t i = 1; i < features.rank(); ++i) PutU64(header, static_cast<uint64_t>(features.dim(i)));
  const size_t label_bytes = DTypeSize(labels.dtype());
  // One scratch record in locked memory, wiped when it goes.
  PE_ASSIGN_OR_RETURN(SecureBuffer record,
                      SecureBuffer::Allocate(header.size() + row + label_bytes));
  std::memcpy(record.data(), header.data(), header.size());
  for (int64_t i = 0; i < n; ++i) {
    const auto* x = static_cast<const uint8_t*>(features.raw_data()) + i * row;
    const auto* y = static_cast<const uint8_t*>(labels.raw_data()) + i * label_bytes;
    std::memcpy(record.data() + header.size(), x, row);
    std::memcpy(record.data() + header.size() + row, y, label_bytes);
    PE_RETURN_IF_ERROR(store.Append(silo, record.span()).status());
  }
  return Status::OK();
}

Result<Dataset> LoadDatasetFromStore(SecureStore& store, std::string_view silo,
                                     const DatasetOptions& options) {
  const std::string name = "silo '" + std::string(silo) + "'";
  PE_ASSIGN_OR_RETURN(const uint64_t count, store.Count(silo));
  if (count == 0) return InvalidArgument(name, ": no examples");
  Layout first;
  Tensor features, labels;
  uint64_t n = 0;
  PE_RETURN_IF_ERROR(store.Scan(silo, [&](const SecureRecord& r) -> Status {
    const std::string where = name + " record " + std::to_string(r.seq);
    if (!r.key.empty())
      return InvalidArgument(where, ": a keyed record (examples are appended without keys)");
    if (n == count) return Aborted(name, ": records were added while it was read");
    PE_ASSIGN_OR_RETURN(Layout l, ParseHeader(r.value, where));
    if (n == 0) {
      first = l;
      if (count > options.limits.max_bytes / l.feature_bytes)
        return ResourceExhausted(name, ": ", count, " examples of ", l.feature_bytes,
                                 " bytes exceed the ", options.limits.max_bytes,
                                 "-byte data limit (DataLimits::max_bytes)");
      Shape shape{static_cast<int64_t>(count)};
      shape.insert(shape.end(), l.example_shape.begin(), l.example_shape.end());
      features = Tensor(l.feature_type, shape);
      labels = Tensor(l.label_type, {static_cast<int64_t>(count)});
    } else if (l.feature_type != first.feature_type || l.label_type != first.label_type ||
               l.example_shape != first.example_shape) {
      return InvalidArgument(where, ": example is ", DTypeName(l.feature_type), " ",
                             ShapeToString(l.example_shape), " with a ", DTypeName(l.label_type),
                             " label, but the first record set ", DTypeName(first.feature_type),
                             " ", ShapeToString(first.example_shape), " with ",
                             DTypeName(first.label_type));
    }
    const uint8_t* body = r.value.data() + kFixedHeader + 8 * l.example_shape.size();
    std::memcpy(static_cast<uint8_t*>(features.raw_data()) + n * l.feature_bytes, body,
                l.feature_bytes);
    std::memcpy(static_cast<uint8_t*>(labels.raw_data()) + n * l.label_bytes,
                body + l.feature_bytes, l.label_bytes);
    ++n;
    return Status::OK();
  }));
  if (n != count) return Aborted(name, ": records were removed while it was read");
  return MakeDataset(features, labels, options);
}

}  // namespace privedge
