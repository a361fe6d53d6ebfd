// TinyData: two separable classes in 16 dimensions for federated tests (trains in
// microseconds with the built-in linear model).
#pragma once

#include <cstdint>
#include <random>

#include "fl/sim/dataset.h"

namespace privedge::testing {

inline fl::sim::Dataset TinyData(int64_t count, uint64_t seed = 3) {
  fl::sim::Dataset d;
  d.count = count;
  d.dim = 16;
  d.num_classes = 10;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t label = static_cast<uint8_t>(i % 2);
    d.labels.push_back(label);
    for (int64_t j = 0; j < d.dim; ++j)
      d.pixels.push_back(
          static_cast<uint8_t>((j < 8) == (label == 0) ? 200 + rng() % 50 : rng() % 50));
  }
  return d;
}

}  // namespace privedge::testing
