// com.privedge.FusedConv: a float Conv, plus an optional residual summand Z, followed by its
// activation, written by the optimizer (optimize/fusion.cc). The reference runs the reference
// Conv, then the reference Add with Z, then the activation in place.
#include <algorithm>
#include <cmath>

#include "kernels/reference/conv_pool_util.h"

namespace privedge {
namespace convpool {

Result<FusedActivation> ReadFusedActivation(const KernelContext& ctx) {
  const std::string name = ctx.attr_string("activation", "");
  const std::vector<float> params = ctx.attr_floats("activation_params");
  FusedActivation act;
  if (!ctx.has_attr("activation") && params.empty()) {
    act.kind = FusedActivation::Kind::kNone;
  } else if (name == "Sigmoid" && params.empty()) {
    act.kind = FusedActivation::Kind::kSigmoid;
  } else if (name == "Swish" && params.empty()) {
    act.kind = FusedActivation::Kind::kSwish;
  } else if (name == "Relu" && params.empty()) {
    act.kind = FusedActivation::Kind::kRelu;
  } else if (name == "LeakyRelu" && params.size() == 1) {
    act.kind = FusedActivation::Kind::kLeakyRelu;
    act.alpha = params[0];
  } else if (name == "Clip" && params.size() == 2) {
    act.kind = FusedActivation::Kind::kClip;
    act.alpha = params[0];
    act.beta = params[1];
  } else {
    return ctx.Error("unsupported activation '", name, "' with ", params.size(), " parameters");
  }
  return act;
}

namespace {

// As the reference Sigmoid: no exp overflow for large |v|.
float Sigmoid(float v) {
  if (v >= 0) return 1.0f / (1.0f + std::exp(-v));
  const float e = std::exp(v);
  return e / (1.0f + e);
}

}  // namespace

void ApplyFusedActivation(const FusedActivation& act, float* data, int64_t n) {
  switch (act.kind) {
    case FusedActivation::Kind::kNone:
      break;
    case FusedActivation::Kind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) data[i] = Sigmoid(data[i]);
      break;
    case FusedActivation::Kind::kSwish:
      for (int64_t i = 0; i < n; ++i) data[i] = data[i] * Sigmoid(data[i]);
      break;
    case FusedActivation::Kind::kRelu:
      for (int64_t i = 0; i < n; ++i) data[i] = data[i] < 0.0f ? 0.0f : data[i];
      break;
    case FusedActivation::Kind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) data[i] = data[i] < 0.0f ? data[i] * act.alpha : data[i];
      break;
    case FusedActivation::Kind::kClip:
      // Same order as the reference Clip: min first, then max.
      for (int64_t i = 0; i < n; ++i) data[i] = std::min(std::max(data[i], act.alpha), act.beta);
      break;
  }
}

}  // namespace convpool

namespace {

Status FusedConv(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(convpool::FusedActivation act, convpool::ReadFusedActivation(ctx));
  const Tensor* x = ctx.input(0);
  if (x && x->dtype() != DType::kFloat32)
    return ctx.Error("FusedConv takes float32 input, got ", DTypeName(x->dtype()));
  PE_RETURN_IF_ERROR(convpool::ConvReference(ctx));
  Value& y = ctx.outputs()[0];
  if (!y.is_tensor() || !y.tensor.defined()) return ctx.Error("Conv produced no output");
  if (ctx.has_input(3)) {
    const Value* z = ctx.input_value(3);
    if (!z->is_tensor() || z->tensor.dtype() != DType::kFloat32)
      return ctx.Error("the summand Z must be a float32 tensor");
    // Exactly ONNX Add, broadcasting included.
    Node add;
    add.name = ctx.node().name;
    add.op_type = "Add";
    add.inputs = {"conv", "z"};
    add.outputs = {"sum"};
    const Value conv = y;
    KernelContext add_ctx(add, 14, {&conv, z});
    add_ctx.set_limits(ctx.limits());
    KernelFn add_fn = KernelRegistry::Global().Find("Add");
    if (!add_fn) return Internal("no reference Add kernel");
    PE_RETURN_IF_ERROR(add_fn(add_ctx).WithContext(ctx.node().Describe()));
    y = add_ctx.outputs()[0];
  }
  convpool::ApplyFusedActivation(act, y.tensor.data<float>(), y.tensor.numel());
  return Status::OK();
}

}  // namespace

void RegisterFusedConvKernels(KernelRegistry& r) { r.Add("FusedConv", FusedConv, "com.privedge"); }

}  // namespace privedge
