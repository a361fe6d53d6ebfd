#include "kernels/reference/families.h"

namespace privedge {

void RegisterNormalizationKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
