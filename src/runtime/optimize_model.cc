#include "runtime/optimize_model.h"

#include <algorithm>
#include <utility>

#include "model/schema_check.h"

namespace privedge {

Evaluator MakeReferenceEvaluator(const KernelLimits& limits, size_t max_growth_bytes) {
  return [limits, max_growth_bytes](
             const Node& node, int64_t opset,
             const std::vector<const Tensor*>& inputs) -> Result<std::vector<Tensor>> {
    KernelFn fn = KernelRegistry::Global().Find(node.op_type, node.domain);
    if (!fn) return NotImplemented(node.Describe(), ": no kernel");
    if (node.domain.empty()) PE_RETURN_IF_ERROR(CheckNodeSchema(node, opset));
    std::vector<Value> values;
    values.reserve(inputs.size());
    std::vector<const Value*> slots;
    size_t input_bytes = 0;
    for (const Tensor* t : inputs) {
      if (!t) {
        slots.push_back(nullptr);
        continue;
      }
      values.push_back(Value::FromTensor(*t));
      slots.push_back(&values.back());
      input_bytes += t->nbytes();
    }
    KernelLimits bounded = limits;
    if (node.op_type != "Constant")
      bounded.max_tensor_bytes = std::min(limits.max_tensor_bytes, input_bytes + max_growth_bytes);
    KernelContext ctx(node, opset, std::move(slots));
    ctx.set_limits(bounded);
    PE_RETURN_IF_ERROR(fn(ctx));
    std::vector<Tensor> outputs;
    for (int i = 0; i < ctx.num_outputs(); ++i) {
      if (!ctx.wants_output(i)) {
        outputs.emplace_back();
        continue;
      }
      const Value& v = ctx.outputs()[i];
      if (!v.is_tensor() || !v.tensor.defined())
        return NotImplemented(node.Describe(), ": output ", i, " is not a tensor");
      // The executor bounds outputs that share their input's storage the same way.
      PE_RETURN_IF_ERROR(CheckShapeExtents(v.tensor.shape(), limits.max_tensor_bytes,
                                           node.Describe() + ": output"));
      outputs.push_back(v.tensor);
    }
    return outputs;
  };
}

Result<OptimizeStats> OptimizeForSession(Model& model, const SessionOptions& options) {
  OptimizeOptions opts;
  KernelLimits limits;
  limits.max_tensor_bytes = options.max_tensor_bytes;
  limits.max_loop_iterations = options.max_loop_iterations;
  return OptimizeGraph(model, opts, MakeReferenceEvaluator(limits, opts.max_fold_growth_bytes));
}

}  // namespace privedge
