// Backward rules: how one operator computes its forward pass for training and passes
// gradients from its outputs back to its inputs.
//
// A rule is created once per node when the training graph is planned (it may cache primitives
// per input shape) and then runs forward and backward once per step, in that order. Forward
// keeps what backward needs in the rule object itself: a step is single-threaded and the tape
// never runs two steps of one graph at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/value.h"
#include "kernels/kernel.h"
#include "model/graph.h"
#include "privedge/status.h"

namespace privedge::train {

// The inputs, outputs and gradients of one node in one step.
struct NodeIO {
  const Node* node = nullptr;
  int64_t opset = 0;
  bool training = true;              // false: evaluation (BN running stats, no dropout)
  uint64_t seed = 0;                 // per node and step, for Dropout
  std::vector<const Value*> inputs;  // nullptr for omitted optional inputs
  std::vector<Value> outputs;        // set by Forward, one per node output
  std::vector<Tensor> grad_outputs;  // undefined where no gradient reaches an output
  std::vector<bool> needs_grad;      // per input: Backward must set grad_inputs[i]
  std::vector<Tensor> grad_inputs;   // set by Backward, shaped like the input
  // State inputs a training-mode Forward replaced (BatchNormalization's running statistics):
  // index of the input and its new value; the tape writes them back to the initializer.
  std::vector<std::pair<int, Tensor>> updated_inputs;

  const Tensor* input(int i) const {
    return i < static_cast<int>(inputs.size()) && inputs[i] && inputs[i]->is_tensor()
               ? &inputs[i]->tensor
               : nullptr;
  }
  // Input `i` as a float32 tensor, or an error naming the node.
  Result<const Tensor*> FloatInput(int i) const;
  // The gradient of output `i`, zeros of the output's shape when none reached it.
  Tensor GradOutput(int i) const;
  template <class... Args>
  Status Error(const Args&... args) const {
    return InvalidArgument(node->Describe(), ": ", args...);
  }
};

class NodeRule {
 public:
  virtual ~NodeRule() = default;
  // Computes io.outputs from io.inputs.
  virtual Status Forward(NodeIO& io) = 0;
  // Computes io.grad_inputs[i] for every i with io.needs_grad[i], from io.grad_outputs and
  // whatever Forward kept. Called only after Forward of the same step with training = true.
  virtual Status Backward(NodeIO& io) = 0;
};

// Forward through the registered reference kernel; for rules whose forward is plain.
Status ReferenceForward(NodeIO& io);

// A rule whose forward is the reference kernel and whose backward is a function.
using BackwardFn = Status (*)(NodeIO& io);
class ReferenceRule final : public NodeRule {
 public:
  explicit ReferenceRule(BackwardFn backward) : backward_(backward) {}
  Status Forward(NodeIO& io) override { return ReferenceForward(io); }
  Status Backward(NodeIO& io) override { return backward_(io); }

 private:
  BackwardFn backward_;
};

using RuleFactory = Result<std::unique_ptr<NodeRule>> (*)(const Node& node, int64_t opset);

// Maps an ONNX operator (default domain) to the factory of its rule.
class RuleRegistry {
 public:
  static const RuleRegistry& Global();
  void Add(const std::string& op_type, RuleFactory factory);
  // Registers a ReferenceRule with `backward` (the rule needs no state of its own).
  void AddSimple(const std::string& op_type, BackwardFn backward);
  bool Has(const std::string& op_type) const;
  // A new rule for `node`. Precondition: Has(node.op_type).
  Result<std::unique_ptr<NodeRule>> Create(const Node& node, int64_t opset) const;
  std::vector<std::string> OpTypes() const;

 private:
  std::map<std::string, RuleFactory> factories_;
  std::map<std::string, BackwardFn> simple_;
};

// One registration function per rule family (rules/*.cc), called once by Global().
void RegisterElementwiseRules(RuleRegistry& r);
void RegisterMatMulRules(RuleRegistry& r);
void RegisterSoftmaxRules(RuleRegistry& r);
void RegisterConvRules(RuleRegistry& r);
void RegisterPoolRules(RuleRegistry& r);
void RegisterNormalizationRules(RuleRegistry& r);
void RegisterShapeRules(RuleRegistry& r);

}  // namespace privedge::train
