// Shared pieces of the training tests: graph building, random tensors, the finite-difference
// gradient check, and the deterministic generator shared with tools/torch_train_reference.py.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model/graph.h"
#include "privedge/tensor.h"

namespace privedge::train::testing {

Attribute Int(int64_t v);
Attribute Float(float v);
Attribute Ints(std::vector<int64_t> v);
Attribute Str(std::string v);

// A model with one graph holding `nodes`; `inputs` are graph inputs (fed each run), the output
// is the last node's first output. Opset `opset` for the default domain.
Model BuildModel(std::vector<Node> nodes, const std::vector<std::string>& inputs,
                 std::map<std::string, Tensor> initializers = {}, int64_t opset = 13);
Node MakeNode(std::string op, std::vector<std::string> inputs, std::vector<std::string> outputs,
              std::map<std::string, Attribute> attrs = {});

// Uniform in [lo, hi), or with |x| >= gap when gap > 0 (keeps inputs away from kinks).
Tensor Random(const Shape& shape, std::mt19937& rng, float lo = -1, float hi = 1, float gap = 0);
// Distinct values spread over [-2, 2], shuffled (MaxPool inputs without ties).
Tensor Distinct(const Shape& shape, std::mt19937& rng);

struct GradCheckOptions {
  double eps = 3e-3;
  double atol = 1e-2;
  double rtol = 3e-2;
  int max_elements = 48;  // per checked tensor; a random subset beyond that
};

// Checks the analytic gradient of L = sum(output * R) (R random) with respect to each feed
// named in `wrt` against central differences. Returns "" when all agree, else a description of
// the first mismatch (or error).
std::string CheckGradients(const Model& model, std::vector<std::pair<std::string, Tensor>> feeds,
                           const std::vector<std::string>& wrt,
                           const GradCheckOptions& options = {});

// The generator shared with tools/torch_train_reference.py.
float UniformFromCounter(uint64_t seed, uint64_t i);
uint64_t Fnv1a(const std::string& s);
// Initial values of a parameter named `name`: (2u - 1) * scale, scale 1/sqrt(fan_in) for
// rank >= 2 and 0.1 for rank 1.
std::vector<float> InitValues(const std::string& name, const Shape& shape);

// Writes tools/torch_train_reference.py's model `name` ("mlp" or "cnn") with the generator's
// initial weights to a folder under the build directory; returns the model's path.
std::string MaterializeReferenceModel(const std::string& name);
// Batch `step` (8 examples) of the reference script's synthetic data: input and int64 labels.
std::pair<Tensor, Tensor> ReferenceBatch(const std::string& name, int step);

}  // namespace privedge::train::testing
