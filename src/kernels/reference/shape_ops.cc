#include "kernels/reference/families.h"

namespace privedge {

void RegisterShapeKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
