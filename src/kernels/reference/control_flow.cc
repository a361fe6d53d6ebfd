#include "kernels/reference/families.h"

namespace privedge {

void RegisterControlFlowKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
