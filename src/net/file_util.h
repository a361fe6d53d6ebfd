// Small-file helpers of the net module: the CA's and the device identity's key and certificate
// files.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "privedge/status.h"

namespace privedge::net {

// Writes `size` bytes to a new file (O_EXCL when `exclusive`, else replacing it through a
// temporary file) with `mode`, and fsyncs it.
Status WriteFile(const std::string& path, const void* data, size_t size, mode_t mode,
                 bool exclusive);

// The whole file, refused (InvalidArgument) when it is larger than `limit` bytes.
Result<std::string> ReadSmallFile(const std::string& path, size_t limit);

}  // namespace privedge::net
