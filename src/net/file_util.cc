#include "net/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace privedge::net {

Status WriteFile(const std::string& path, const void* data, size_t size, mode_t mode,
                 bool exclusive) {
  const std::string tmp = exclusive ? path : path + ".tmp";
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC), mode);
  if (fd < 0) return IoError("cannot create '", tmp, "': ", std::strerror(errno));
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      return IoError("cannot write '", tmp, "': ", std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0)
    return IoError("cannot write '", tmp, "': ", std::strerror(errno));
  if (!exclusive && rename(tmp.c_str(), path.c_str()) != 0)
    return IoError("cannot rename '", tmp, "' to '", path, "': ", std::strerror(errno));
  return Status::OK();
}

Result<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("cannot open '", path, "': ", std::strerror(errno));
  std::string out(limit + 1, '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got > limit) return InvalidArgument("'", path, "' is larger than ", limit, " bytes");
  out.resize(got);
  return out;
}

}  // namespace privedge::net
