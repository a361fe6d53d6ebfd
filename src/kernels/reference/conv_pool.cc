#include "kernels/reference/families.h"

namespace privedge {

void RegisterConvPoolKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
