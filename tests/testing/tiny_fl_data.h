// TinyData: two separable classes in 16 dimensions for federated tests (trains in
// microseconds with the built-in linear model); UpdateFor: a wire update for an assignment.
#pragma once

#include <cstdint>
#include <random>

#include "fl/sim/dataset.h"
#include "privedge/v1/federated.pb.h"

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

// An update answering the assignment `a`: every delta entry `value`, 10 examples.
inline v1::UpdateRequest UpdateFor(const v1::CheckInResponse& a, uint64_t nonce, float value) {
  v1::UpdateRequest u;
  u.set_protocol_version(1);
  u.set_task_id(a.task_id());
  u.set_round(a.round());
  u.set_device_id(a.device_id());
  u.set_base_version(a.base_version());
  u.set_nonce(nonce);
  for (int64_t i = 0; i < a.num_params(); ++i) u.add_delta(value);
  u.set_num_examples(10);
  u.set_train_loss(0.5);
  return u;
}

}  // namespace privedge::testing
