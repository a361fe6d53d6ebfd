#include "keystore/tpm2/tpm2_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "keystore/tpm2/tpm2_util.h"

namespace privedge::keystore::tpm2 {
namespace {

constexpr char kHeader[] = "privedge-tpm2-keystore 1";
constexpr size_t kMaxFileBytes = 64 * 1024;

Status Errno(const std::string& what, const std::string& path) {
  return IoError(what, " '", path, "': ", std::strerror(errno));
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write", path);
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace

std::string GenerationsPath(const std::string& dir) { return dir + "/tpm2-keys"; }

Result<std::vector<Generation>> ReadGenerations(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("no TPM keystore file '", path, "'");
    return Errno("cannot open", path);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const Status s = Errno("cannot read", path);
      close(fd);
      return s;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      close(fd);
      return InvalidArgument(path, ": larger than ", kMaxFileBytes, " bytes");
    }
  }
  close(fd);

  std::vector<Generation> generations;
  std::set<std::string> ids;
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    if (end == std::string::npos) return InvalidArgument(path, ": last line has no newline");
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line_no == 1) {
      if (line != kHeader) {
        return InvalidArgument(path, ":1: expected '", kHeader, "', got '", line.substr(0, 40),
                               "'");
      }
      continue;
    }
    Generation g;
    uint8_t id[16];
    if (line.size() != 64 + 1 + 32 || line[64] != ' ' ||
        !ParseHex(line.substr(0, 64), g.unique.data(), 32) ||
        !ParseHex(line.substr(65), id, sizeof id)) {
      return InvalidArgument(path, ":", line_no,
                             ": expected '<64 hex digits> <32 hex digits>', got '",
                             line.substr(0, 100), "'");
    }
    g.key_id = HexString(id, sizeof id);
    if (!ids.insert(g.key_id).second) {
      return InvalidArgument(path, ":", line_no, ": key id ", g.key_id, " listed twice");
    }
    generations.push_back(std::move(g));
  }
  if (line_no == 0) return InvalidArgument(path, ": empty file");
  if (generations.empty()) return InvalidArgument(path, ": no key generation listed");
  return generations;
}

Status WriteGenerations(const std::string& path, const std::vector<Generation>& generations) {
  std::string text = std::string(kHeader) + "\n";
  for (const Generation& g : generations) {
    text += HexString(g.unique.data(), g.unique.size()) + " " + g.key_id + "\n";
  }
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  Status s = WriteAll(fd, text, tmp);
  if (s.ok() && fsync(fd) != 0) s = Errno("cannot sync", tmp);
  if (close(fd) != 0 && s.ok()) s = Errno("cannot close", tmp);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = Errno("cannot rename to", path);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  const std::string dir = path.substr(0, path.find_last_of('/'));
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("cannot open directory", dir);
  const bool synced = fsync(dfd) == 0;
  close(dfd);
  if (!synced) return Errno("cannot sync directory", dir);
  return Status::OK();
}

Result<DirLock> DirLock::Acquire(const std::string& dir) {
  const std::string path = dir + "/tpm2-keys.lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Errno("cannot open lock file", path);
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      const Status s = Errno("cannot lock", path);
      close(fd);
      return s;
    }
  }
  return DirLock(fd);
}

DirLock::~DirLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace privedge::keystore::tpm2
