// The simulator's data: labelled 8-bit images read with the shared IDX loader
// (privedge/dataset.h), and the partitions of a training set over virtual devices.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "privedge/status.h"

namespace privedge::fl::sim {

struct Dataset {
  int64_t count = 0;
  int64_t rows = 0, cols = 0;  // image size
  int64_t dim = 0;             // pixels per example: rows * cols
  int64_t num_classes = 10;
  std::vector<uint8_t> pixels;  // count * dim, row-major
  std::vector<uint8_t> labels;  // count, each < num_classes
};

// Reads images (IDX3, unsigned byte) and labels (IDX1), gzipped or not, at most `limit`
// examples (0 = all). Errors (the shared loader's, or a wrong type, rank, count or label) name
// the file.
Result<Dataset> ReadIdxPair(const std::string& images_gz, const std::string& labels_gz,
                            int64_t limit = 0);

// Fashion-MNIST from `dir` (train-* or t10k-*-idx?-ubyte.gz).
Result<Dataset> ReadFashionMnist(const std::string& dir, bool train, int64_t limit = 0);

// How examples are dealt to devices:
//   "iid"           shuffled and split into equal parts
//   "dirichlet:A"   per class, proportions over devices drawn from Dirichlet(A) (A > 0)
//   "shards:K"      sorted by label, cut into devices*K shards, K random shards per device
//                   (McMahan et al. 2017)
// Returns one index list per device; InvalidArgument for a bad spec or too few examples.
Result<std::vector<std::vector<int64_t>>> Partition(const Dataset& data, int64_t devices,
                                                    const std::string& spec, std::mt19937_64& rng);

}  // namespace privedge::fl::sim
