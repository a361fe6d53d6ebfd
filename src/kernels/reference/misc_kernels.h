// Kernels of the misc family (misc.cc registers them; the random ones live in misc_random.cc).
#pragma once

#include "kernels/kernel.h"

namespace privedge {

Status RandomUniform(KernelContext& ctx);
Status RandomNormal(KernelContext& ctx);
Status RandomUniformLike(KernelContext& ctx);
Status RandomNormalLike(KernelContext& ctx);
Status Bernoulli(KernelContext& ctx);
Status Multinomial(KernelContext& ctx);

}  // namespace privedge
