// Parameter checks shared by the privacy calls: one wording for every range error.
#pragma once

#include <cmath>

#include "privedge/status.h"

namespace privedge::privacy::internal {

// `value` must be finite and > 0.
inline Status CheckPositive(const char* name, double value) {
  if (std::isfinite(value) && value > 0) return Status::OK();
  return InvalidArgument(name, " must be a finite number > 0, got ", value);
}

// `value` must lie in the interval from lo to hi, each end open or closed as given.
inline Status CheckInRange(const char* name, double value, double lo, double hi, bool lo_closed,
                           bool hi_closed) {
  const bool ok = (lo_closed ? value >= lo : value > lo) && (hi_closed ? value <= hi : value < hi);
  if (ok) return Status::OK();  // NaN fails both comparisons
  return InvalidArgument(name, " must be in ", lo_closed ? "[" : "(", lo, ", ", hi,
                         hi_closed ? "]" : ")", ", got ", value);
}

}  // namespace privedge::privacy::internal
