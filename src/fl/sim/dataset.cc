#include "fl/sim/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <numeric>

namespace privedge::fl::sim {
namespace {

Result<std::vector<uint8_t>> ReadGzip(const std::string& path, size_t max_bytes) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), gzclose);
  if (!f) return IoError("cannot open '", path, "'");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f.get(), buf, sizeof buf)) > 0) {
    out.insert(out.end(), buf, buf + n);
    if (out.size() > max_bytes)
      return OutOfRange("'", path, "' inflates to more than ", max_bytes, " bytes");
  }
  if (n < 0) return IoError("'", path, "' is not a valid gzip stream");
  return out;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

Result<Dataset> ReadIdxPair(const std::string& images_gz, const std::string& labels_gz,
                            int64_t limit) {
  PE_ASSIGN_OR_RETURN(std::vector<uint8_t> img, ReadGzip(images_gz, size_t{1} << 30));
  PE_ASSIGN_OR_RETURN(std::vector<uint8_t> lab, ReadGzip(labels_gz, size_t{1} << 28));
  if (img.size() < 16 || BigEndian32(img.data()) != 0x803)
    return InvalidArgument("'", images_gz, "': expected IDX3 unsigned-byte magic 0x00000803");
  if (lab.size() < 8 || BigEndian32(lab.data()) != 0x801)
    return InvalidArgument("'", labels_gz, "': expected IDX1 unsigned-byte magic 0x00000801");
  const uint64_t n = BigEndian32(img.data() + 4);
  const uint64_t dim = uint64_t{BigEndian32(img.data() + 8)} * BigEndian32(img.data() + 12);
  if (dim == 0 || dim > (1u << 20) || img.size() - 16 != n * dim)
    return InvalidArgument("'", images_gz, "': header says ", n, " images of ", dim,
                           " pixels, file holds ", img.size() - 16, " pixel bytes");
  if (BigEndian32(lab.data() + 4) != n || lab.size() - 8 != n)
    return InvalidArgument("'", labels_gz, "': expected ", n, " labels, header says ",
                           BigEndian32(lab.data() + 4), ", file holds ", lab.size() - 8);
  Dataset d;
  d.count = static_cast<int64_t>(limit > 0 ? std::min<uint64_t>(n, limit) : n);
  d.dim = static_cast<int64_t>(dim);
  d.pixels.assign(img.begin() + 16, img.begin() + 16 + d.count * d.dim);
  d.labels.assign(lab.begin() + 8, lab.begin() + 8 + d.count);
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
