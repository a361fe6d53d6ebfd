#include "kernels/reference/families.h"

namespace privedge {

void RegisterIndexingKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
