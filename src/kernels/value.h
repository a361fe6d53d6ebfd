// Kernels see values through core/value.h; kept so kernel code can include "kernels/value.h".
#pragma once

#include "core/value.h"
