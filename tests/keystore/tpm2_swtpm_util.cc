#include "keystore/tpm2_swtpm_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

namespace privedge::testing {
namespace {

// Binds a loopback TCP socket to `port` (0: any free one); returns the fd and sets `port`.
int BindLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(*port));
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Two consecutive free ports P, P+1 (swtpm's server and control ports).
int FreePortPair() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    int port = 0;
    const int a = BindLoopback(&port);
    if (a < 0) continue;
    int next = port + 1;
    const int b = next < 65536 ? BindLoopback(&next) : -1;
    close(a);
    if (b >= 0) {
      close(b);
      return port;
    }
  }
  return -1;
}

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace

Result<std::unique_ptr<Swtpm>> Swtpm::Start(const std::string& state_dir) {
  const std::string binary = FindOnPath("swtpm");
  if (binary.empty()) {
    return NotFound("swtpm (Debian package swtpm) is not installed: run scripts/install-deps.sh");
  }
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return IoError("cannot create swtpm state dir '", state_dir, "': ", ec.message());
  std::string last_error = "no free loopback port pair";
  // Another process may take the ports between our probe and swtpm's bind: retry.
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int port = FreePortPair();
    if (port < 0) continue;
    const std::vector<std::string> args = {
        binary,
        "socket",
        "--tpm2",
        "--tpmstate",
        "dir=" + state_dir,
        "--server",
        "type=tcp,bindaddr=127.0.0.1,port=" + std::to_string(port),
        "--ctrl",
        "type=tcp,bindaddr=127.0.0.1,port=" + std::to_string(port + 1),
        "--flags",
        "not-need-init,startup-clear"};
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) return IoError("fork failed");
    if (pid == 0) {
      // Dies with the test process, even when that one is killed.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      execv(argv[0], argv.data());
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (Accepts(port + 1) && Accepts(port)) return std::unique_ptr<Swtpm>(new Swtpm(pid, port));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!exited) {
      KillAndReap(pid);
      last_error =
          "swtpm did not accept connections on port " + std::to_string(port) + " within 5 s";
    } else {
      last_error =
          "swtpm exited with status " + std::to_string(status) + " on port " + std::to_string(port);
    }
  }
  return Aborted("cannot start swtpm: ", last_error);
}

Swtpm::~Swtpm() { KillAndReap(pid_); }

Status Swtpm::Reset() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return IoError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port_ + 1));
  // CMD_INIT (2) with no flags, big-endian; the answer is a 4-byte TPM result code.
  const uint8_t request[8] = {0, 0, 0, 2, 0, 0, 0, 0};
  uint8_t response[4] = {};
  size_t got = 0;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            write(fd, request, sizeof request) == static_cast<ssize_t>(sizeof request);
  while (ok && got < sizeof response) {
    const ssize_t n = read(fd, response + got, sizeof response - got);
    ok = n > 0;
    if (ok) got += static_cast<size_t>(n);
  }
  close(fd);
  if (!ok) return IoError("swtpm control channel on port ", port_ + 1, " failed");
  if (response[0] != 0 || response[1] != 0 || response[2] != 0 || response[3] != 0) {
    return Internal("swtpm CMD_INIT failed");
  }
  return Status::OK();
}

std::string Swtpm::tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

int UnusedLoopbackPort() {
  int port = 0;
  const int fd = BindLoopback(&port);
  if (fd < 0) return -1;
  close(fd);
  return port;
}

}  // namespace privedge::testing
