#include "kernels/reference/families.h"

namespace privedge {

void RegisterRecurrentKernels(KernelRegistry& r) { (void)r; }

}  // namespace privedge
