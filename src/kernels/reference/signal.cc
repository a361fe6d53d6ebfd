#include "kernels/reference/families.h"

namespace privedge {

void RegisterSignalKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
