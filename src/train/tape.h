// Tape: the training computation built from an inference graph. Forward runs every node in
// topological order and keeps every value and each rule's saved state; Backward walks the
// nodes that lie between a value whose gradient is wanted and the output, in reverse, and
// accumulates gradients (summing where a value feeds several nodes).
//
// The graph is the one imported from the model, without inference-only rewrites (folding a
// BatchNormalization into a Conv would make its statistics constants).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/graph.h"
#include "train/rule.h"

namespace privedge::train {

class Tape {
 public:
  // Plans the training computation of `model` (which must outlive the tape): gradients of
  // `output` with respect to each value in `wrt` (float initializers or graph inputs).
  // Errors: unknown names, and any node between a `wrt` value and `output` whose operator has
  // no backward rule (the message names the node and the operator).
  static Result<std::unique_ptr<Tape>> Create(const Model& model,
                                              const std::vector<std::string>& wrt,
                                              const std::string& output);

  // Replaces the value of initializer `name` (e.g. a view into the flat parameter buffer).
  Status SetInitializer(const std::string& name, Tensor value);
  // The current value of initializer `name` (running statistics change in training steps).
  Result<Tensor> Initializer(const std::string& name) const;

  // Runs the graph on `feeds` (graph inputs by name). training: rules use batch statistics and
  // dropout (seeded with `seed`); false: inference behaviour. Returns the output tensor.
  Result<Tensor> Forward(const std::vector<std::pair<std::string, Tensor>>& feeds, bool training,
                         uint64_t seed);
  // After a training Forward: back-propagates `grad_output` (shaped like the output) and returns
  // the gradient of each `wrt` value in order (zeros where the output does not depend on it).
  Result<std::vector<Tensor>> Backward(const Tensor& grad_output);

  const std::vector<std::string>& wrt() const { return wrt_names_; }

 private:
  struct NodePlan {
    std::vector<int> inputs;         // value ids, -1 for omitted inputs
    std::vector<int> outputs;        // value ids, -1 for omitted outputs
    std::unique_ptr<NodeRule> rule;  // null: reference kernel, no backward
    bool backward = false;           // on a path from a wrt value to the output
    NodeIO io;                       // this step's state
  };

  explicit Tape(const Model& model) : model_(model) {}
  int Id(const std::string& name);

  const Model& model_;
  std::unordered_map<std::string, int> ids_;
  std::vector<std::string> names_;
  std::vector<Value> values_;  // this step's values; initializers persist
  std::vector<bool> is_initializer_;
  std::vector<bool> requires_grad_;
  std::vector<NodePlan> nodes_;
  std::vector<int> wrt_;
  std::vector<std::string> wrt_names_;
  int output_ = -1;
  bool forward_trained_ = false;
};

}  // namespace privedge::train
