// The contract between the runtime and an operator kernel.
//
// A kernel is a plain function `Status Fn(KernelContext& ctx)`. It reads its inputs and
// attributes from the context, validates them (bad input is a Status, never a crash), and
// sets every output it produces. Kernels own no state between calls.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kernels/value.h"
#include "model/graph.h"
#include "privedge/status.h"

namespace privedge {

class KernelContext;

// Resource bounds a session imposes on every kernel, so that a hostile model can neither
// exhaust memory with one gigantic tensor nor spin forever in a loop.
struct KernelLimits {
  size_t max_tensor_bytes = size_t{1} << 34;  // largest single tensor a kernel may create
  int64_t max_loop_iterations = 10'000'000;   // most iterations one Loop node may run
};

using KernelFn = Status (*)(KernelContext& ctx);

// Runs a subgraph (If/Loop/Scan bodies, SequenceMap) with the given inputs; values of the
// enclosing scopes are visible to it. Provided by the runtime.
using SubgraphRunner =
    std::function<Result<std::vector<Value>>(const Graph& graph, std::vector<Value> inputs)>;

class KernelContext {
 public:
  KernelContext(const Node& node, int64_t opset, std::vector<const Value*> inputs,
                SubgraphRunner runner = nullptr)
      : node_(node), opset_(opset), inputs_(std::move(inputs)), runner_(std::move(runner)),
        outputs_(node.outputs.size()) {}

  const Node& node() const { return node_; }
  // Version of the node's domain in the model's opset imports (e.g. 13).
  int64_t opset() const { return opset_; }

  // Limits checked by AllocateOutput/CreateTensor and the control-flow kernels.
  const KernelLimits& limits() const { return limits_; }
  void set_limits(const KernelLimits& limits) { limits_ = limits; }

  // ---- inputs ----
  // Number of input slots the node declares (including omitted optional ones).
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  // True if input `i` exists and was supplied (not omitted with "").
  bool has_input(int i) const { return i >= 0 && i < num_inputs() && inputs_[i] != nullptr; }
  // Input `i` as a tensor, or nullptr when omitted or not a tensor.
  const Tensor* input(int i) const {
    if (!has_input(i) || !inputs_[i]->is_tensor()) return nullptr;
    return &inputs_[i]->tensor;
  }
  // Input `i` as any value kind, or nullptr when omitted.
  const Value* input_value(int i) const { return has_input(i) ? inputs_[i] : nullptr; }
  // Input `i` as a tensor, or an error naming the node when absent or not a tensor.
  Result<const Tensor*> RequireInput(int i) const;

  // ---- attributes ----
  bool has_attr(const std::string& name) const { return node_.FindAttribute(name) != nullptr; }
  int64_t attr_int(const std::string& name, int64_t def) const;
  float attr_float(const std::string& name, float def) const;
  std::string attr_string(const std::string& name, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& name,
                                 const std::vector<int64_t>& def = {}) const;
  std::vector<float> attr_floats(const std::string& name,
                                 const std::vector<float>& def = {}) const;
  std::vector<std::string> attr_strings(const std::string& name) const;
  // nullptr when absent.
  const Tensor* attr_tensor(const std::string& name) const;
  const Graph* attr_graph(const std::string& name) const;

  // ---- outputs ----
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  // True if the node wants output `i` (declared and not "").
  bool wants_output(int i) const {
    return i >= 0 && i < num_outputs() && !node_.outputs[i].empty();
  }
  void set_output(int i, Tensor t) {
    if (i >= 0 && i < num_outputs()) outputs_[i] = Value::FromTensor(std::move(t));
  }
  void set_output_value(int i, Value v) {
    if (i >= 0 && i < num_outputs()) outputs_[i] = std::move(v);
  }
  // Allocates output `i` with zeroed storage, checking the size; returns it for writing.
  Result<Tensor*> AllocateOutput(int i, DType dtype, const Shape& shape);
  // A zeroed tensor for scratch or intermediate results, checked like AllocateOutput: a shape
  // with a negative extent, an overflowing element count or more than
  // limits().max_tensor_bytes is an error naming the node. Kernels use this (never the
  // Tensor(DType, Shape) constructor) whenever the shape comes from input values.
  Result<Tensor> CreateTensor(DType dtype, const Shape& shape) const;
  // The checks of CreateTensor alone, for kernels that allocate storage of their own.
  Status CheckTensorShape(DType dtype, const Shape& shape) const;
  std::vector<Value>& outputs() { return outputs_; }

  // ---- subgraphs ----
  Result<std::vector<Value>> RunSubgraph(const Graph& graph, std::vector<Value> inputs) const;

  // An error prefixed with the node's description: "node 'x' (Conv): <message>".
  template <class... Args>
  Status Error(const Args&... args) const {
    return InvalidArgument(node_.Describe(), ": ", args...);
  }

 private:
  const Node& node_;
  int64_t opset_;
  KernelLimits limits_;
  std::vector<const Value*> inputs_;
  SubgraphRunner runner_;
  std::vector<Value> outputs_;
};

// A fast kernel prepared once per node when the session is created (attributes validated,
// constant weights packed for it, primitives built). Run() may be called from several threads
// at once; anything it caches per input shape must be guarded. A fast kernel computes exactly
// what the reference kernel for the node computes, up to floating-point rounding.
class PreparedKernel {
 public:
  virtual ~PreparedKernel() = default;
  // A short name for inspection and benchmarks, e.g. "dnnl_f32_conv".
  virtual const char* name() const = 0;
  virtual Status Run(KernelContext& ctx) const = 0;
};

// What a fast-kernel factory sees when the session is planned.
struct PrepareContext {
  const Node& node;
  int64_t opset;
  // Per input slot: the tensor when it is a constant (an initializer of the node's graph that
  // the caller cannot override), nullptr when it is only known at run time or omitted.
  std::vector<const Tensor*> constant_inputs;
  int threads = 1;  // intra-op threads the session may use (>= 1)
  // The weights came from an encrypted model: copies a kernel makes of them (packed layouts)
  // must live in locked, non-dumpable memory (privedge::SecureBuffer).
  bool sensitive_weights = false;
};

// Returns a prepared kernel, or nullptr when this fast path does not handle the node as
// configured (the next factory, and finally the reference kernel, is tried).
using KernelFactory = Result<std::unique_ptr<PreparedKernel>> (*)(const PrepareContext& ctx);

// Maps (domain, op_type) to a reference kernel and, optionally, fast-kernel factories tried in
// registration order. Kernels look at ctx.opset() for versioned behaviour.
class KernelRegistry {
 public:
  // The registry with every built-in kernel.
  static const KernelRegistry& Global();
  // The same registry, for a program that adds operators of its own (the sandbox tests'
  // worker adds test-only ones). Call before any session is created; not thread-safe.
  static KernelRegistry& MutableGlobal();

  void Add(const std::string& op_type, KernelFn fn, const std::string& domain = "");
  // nullptr when no kernel is registered.
  KernelFn Find(const std::string& op_type, const std::string& domain = "") const;
  std::vector<std::string> OpTypes() const;

  void AddFast(const std::string& op_type, KernelFactory factory, const std::string& domain = "");
  // Empty when no fast path exists for the operator.
  std::vector<KernelFactory> FindFast(const std::string& op_type,
                                      const std::string& domain = "") const;

 private:
  std::map<std::pair<std::string, std::string>, KernelFn> kernels_;
  std::map<std::pair<std::string, std::string>, std::vector<KernelFactory>> fast_;
};

}  // namespace privedge
