// Elementwise operators: math, comparison and logic, activations, Cast. The kernels live in
// the elementwise_*.cc files; this file holds their shared helpers and the registration.
#include <cstring>

#include "kernels/reference/elementwise_common.h"
#include "kernels/reference/families.h"

namespace privedge {
namespace elementwise {

float RoundToOddFloat(double d) {
  float f = static_cast<float>(d);
  if (std::isnan(d) || static_cast<double>(f) == d) return f;
  // Truncate toward zero, then mark the lost bits in the lowest mantissa bit.
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  bits |= 1u;
  std::memcpy(&f, &bits, sizeof bits);
  return f;
}

Status CheckSameTypes(const KernelContext& ctx, const std::vector<const Tensor*>& inputs,
                      int first_index) {
  for (size_t i = 1; i < inputs.size(); ++i) {
    if (inputs[i]->dtype() != inputs[0]->dtype())
      return ctx.Error("input ", first_index + static_cast<int>(i), " has type ",
                       DTypeName(inputs[i]->dtype()), ", expected the type of input ",
                       first_index, " (", DTypeName(inputs[0]->dtype()), ")");
  }
  return Status::OK();
}

Result<std::vector<const Tensor*>> RequireInputs(const KernelContext& ctx, int n) {
  std::vector<const Tensor*> out;
  for (int i = 0; i < n; ++i) {
    PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
    out.push_back(t);
  }
  return out;
}

}  // namespace elementwise

void RegisterElementwiseKernels(KernelRegistry& r) {
  RegisterElementwiseUnaryKernels(r);
  RegisterElementwiseBinaryKernels(r);
  RegisterElementwiseVariadicKernels(r);
  RegisterElementwiseActivationKernels(r);
  RegisterElementwiseCastKernels(r);
}

}  // namespace privedge
