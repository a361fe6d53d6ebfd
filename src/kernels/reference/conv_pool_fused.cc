// com.privedge.FusedConv: a float Conv followed by its activation, written by the optimizer
// (optimize/fusion.cc). The reference runs the reference Conv, then the activation in place.
#include <algorithm>

#include "kernels/reference/conv_pool_util.h"

namespace privedge {
namespace convpool {

Result<FusedActivation> ReadFusedActivation(const KernelContext& ctx) {
  const std::string name = ctx.attr_string("activation", "");
  const std::vector<float> params = ctx.attr_floats("activation_params");
  FusedActivation act;
  if (name == "Relu" && params.empty()) {
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

void ApplyFusedActivation(const FusedActivation& act, float* data, int64_t n) {
  switch (act.kind) {
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
  convpool::ApplyFusedActivation(act, y.tensor.data<float>(), y.tensor.numel());
  return Status::OK();
}

}  // namespace

void RegisterFusedConvKernels(KernelRegistry& r) { r.Add("FusedConv", FusedConv, "com.privedge"); }

}  // namespace privedge
