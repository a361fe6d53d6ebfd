#include "kernels/reference/families.h"

namespace privedge {

void RegisterImageKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
