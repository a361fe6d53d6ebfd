#include "fl/sim/dataset.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "privedge/dataset.h"

namespace privedge::fl::sim {

Result<Dataset> ReadIdxPair(const std::string& images_gz, const std::string& labels_gz,
                            int64_t limit) {
  PE_ASSIGN_OR_RETURN(Tensor img, ReadIdxFile(images_gz));
  PE_ASSIGN_OR_RETURN(Tensor lab, ReadIdxFile(labels_gz));
  if (img.dtype() != DType::kUInt8 || img.rank() != 3)
    return InvalidArgument("'", images_gz, "': expected IDX3 unsigned-byte images, got rank ",
                           img.rank(), " ", DTypeName(img.dtype()));
  if (lab.dtype() != DType::kUInt8 || lab.rank() != 1)
    return InvalidArgument("'", labels_gz, "': expected IDX1 unsigned-byte labels, got rank ",
                           lab.rank(), " ", DTypeName(lab.dtype()));
  const int64_t n = img.dim(0);
  if (lab.dim(0) != n)
    return InvalidArgument("'", labels_gz, "': expected ", n, " labels (one per image in '",
                           images_gz, "'), got ", lab.dim(0));
  Dataset d;
  d.count = limit > 0 ? std::min(n, limit) : n;
  d.rows = img.dim(1);
  d.cols = img.dim(2);
  d.dim = d.rows * d.cols;
  if (d.dim == 0) return InvalidArgument("'", images_gz, "': images have no pixels");
  const uint8_t* px = img.data<uint8_t>();
  const uint8_t* lb = lab.data<uint8_t>();
  d.pixels.assign(px, px + d.count * d.dim);
  d.labels.assign(lb, lb + d.count);
  for (uint8_t l : d.labels)
    if (l >= d.num_classes)
      return InvalidArgument("'", labels_gz, "': label ", int{l}, " outside [0, ", d.num_classes,
                             ")");
  return d;
}

Result<Dataset> ReadFashionMnist(const std::string& dir, bool train, int64_t limit) {
  const std::string prefix = dir + (train ? "/train" : "/t10k");
  return ReadIdxPair(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", limit);
}

Result<std::vector<std::vector<int64_t>>> Partition(const Dataset& data, int64_t devices,
                                                    const std::string& spec, std::mt19937_64& rng) {
  if (devices < 1 || devices > data.count)
    return InvalidArgument("cannot split ", data.count, " examples over ", devices, " devices");
  std::vector<std::vector<int64_t>> parts(devices);
  std::vector<int64_t> all(data.count);
  std::iota(all.begin(), all.end(), 0);
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  char* end = nullptr;
  const double value = arg.empty() ? 0 : std::strtod(arg.c_str(), &end);
  const bool arg_ok = !arg.empty() && *end == '\0';
  if (kind == "iid" && colon == std::string::npos) {
    std::shuffle(all.begin(), all.end(), rng);
    for (int64_t i = 0; i < data.count; ++i) parts[i % devices].push_back(all[i]);
  } else if (kind == "dirichlet" && arg_ok && value > 0 && value <= 1e6) {
    std::gamma_distribution<double> gamma(value, 1.0);
    for (int64_t c = 0; c < data.num_classes; ++c) {
      std::vector<int64_t> idx;
      for (int64_t i : all)
        if (data.labels[i] == c) idx.push_back(i);
      std::shuffle(idx.begin(), idx.end(), rng);
      std::vector<double> p(devices);
      double sum = 0;
      for (double& x : p) sum += (x = gamma(rng));
      double acc = 0;
      size_t start = 0;
      for (int64_t k = 0; k < devices; ++k) {
        acc += p[k] / sum;
        size_t stop = k + 1 == devices ? idx.size() : static_cast<size_t>(acc * idx.size());
        stop = std::clamp(stop, start, idx.size());
        parts[k].insert(parts[k].end(), idx.begin() + start, idx.begin() + stop);
        start = stop;
      }
    }
    // A device with no data cannot train: give it one example from the largest part.
    for (auto& part : parts)
      if (part.empty()) {
        auto& big = *std::max_element(parts.begin(), parts.end(),
                                      [](auto& a, auto& b) { return a.size() < b.size(); });
        if (big.size() < 2) return InvalidArgument("too few examples for dirichlet partition");
        part.push_back(big.back());
        big.pop_back();
      }
  } else if (kind == "shards" && arg_ok && value >= 1 && value == std::floor(value)) {
    const int64_t k = static_cast<int64_t>(value);
    const int64_t shards = devices * k;
    if (shards > data.count)
      return InvalidArgument("shards:", k, " needs ", shards, " examples, have ", data.count);
    std::stable_sort(all.begin(), all.end(),
                     [&](int64_t a, int64_t b) { return data.labels[a] < data.labels[b]; });
    std::vector<int64_t> order(shards);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const int64_t size = data.count / shards;
    for (int64_t s = 0; s < shards; ++s) {
      const int64_t shard = order[s];
      auto& part = parts[s / k];
      part.insert(part.end(), all.begin() + shard * size, all.begin() + (shard + 1) * size);
    }
  } else {
    return InvalidArgument(
        "partition must be iid, dirichlet:ALPHA (ALPHA > 0) or shards:K (K >= 1), got '", spec,
        "'");
  }
  return parts;
}

}  // namespace privedge::fl::sim
