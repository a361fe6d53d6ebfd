#include "kernels/dnnl/dnnl_kernels.h"
#include "kernels/kernel.h"
#include "kernels/reference/families.h"

namespace privedge {

const KernelRegistry& KernelRegistry::Global() { return MutableGlobal(); }

KernelRegistry& KernelRegistry::MutableGlobal() {
  static KernelRegistry registry = [] {
    KernelRegistry r;
    RegisterElementwiseKernels(r);
    RegisterReductionKernels(r);
    RegisterMatMulKernels(r);
    RegisterSoftmaxLossKernels(r);
    RegisterConvPoolKernels(r);
    RegisterNormalizationKernels(r);
    RegisterQuantizationKernels(r);
    RegisterShapeKernels(r);
    RegisterIndexingKernels(r);
    RegisterImageKernels(r);
    RegisterRecurrentKernels(r);
    RegisterControlFlowKernels(r);
    RegisterSignalKernels(r);
    RegisterMiscKernels(r);
    RegisterDnnlKernels(r);  // fast kernels, tried before the reference ones
    return r;
  }();
  return registry;
}

}  // namespace privedge
