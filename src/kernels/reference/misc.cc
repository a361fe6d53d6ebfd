#include "kernels/reference/families.h"

namespace privedge {

void RegisterMiscKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
