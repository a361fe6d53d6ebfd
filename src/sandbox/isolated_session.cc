// The parent side of IsolatedSession: starts, feeds, watches and replaces the worker.
#include "privedge/isolated_session.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "sandbox/channel.h"
#include "sandbox/seccomp_filter.h"

extern char** environ;

namespace privedge {

using sandbox::ControlMessage;
using sandbox::MessageType;

struct IsolatedSession::Impl {
  IsolatedSessionOptions options;
  bool from_buffer = false;
  std::string path;         // model file, unless from_buffer
  std::string model_bytes;  // kept to restart the worker
  std::vector<TensorInfo> inputs, outputs;

  std::mutex mu;
  pid_t pid = -1;
  int control_fd = -1;
  int region_fd = -1;
  sandbox::RegionMapping region;
  int starts = 0;
  bool loading = false;  // between spawning a worker and its answer to kLoad
  uint64_t worker_cpu_ns = 0;

  ~Impl() { Stop(); }
  std::string program() const {
    return options.worker_path.empty() ? "/proc/self/exe" : options.worker_path;
  }
  Status Start();
  void Stop();
  Status EnsureCapacity(size_t bytes);
  // Waits for the worker's next message; when none comes, stops the worker and describes why.
  Result<ControlMessage> Await();
  Status Stopped(bool timed_out);
  Status ProtocolError(const std::string& what);
  Result<NamedTensors> RunLocked(const NamedTensors& inputs);
};

namespace {

Status SystemError(const std::string& what) {
  return Status(StatusCode::kInternal, "isolated worker: " + what + ": " + std::strerror(errno));
}

size_t PageRound(size_t n) {
  const size_t page = 4096;
  return (n + page - 1) / page * page;
}

// The environment of the worker: the caller's, with passive OpenMP waiting unless chosen
// (spinning idle threads would burn the worker's CPU-time budget), and oneDNN's profiler
// hooks off: they dlopen a profiling library when code is first generated, which would be
// an open() under the filter.
std::vector<std::string> WorkerEnvironment() {
  std::vector<std::string> env;
  bool has_wait_policy = false;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "DNNL_JIT_PROFILE=", 17) == 0 ||
        std::strncmp(*e, "DNNL_ITT_TASK_LEVEL=", 20) == 0)
      continue;
    env.emplace_back(*e);
    if (std::strncmp(*e, "OMP_WAIT_POLICY=", 16) == 0) has_wait_policy = true;
  }
  if (!has_wait_policy) env.emplace_back("OMP_WAIT_POLICY=PASSIVE");
  env.emplace_back("DNNL_JIT_PROFILE=0");
  env.emplace_back("DNNL_ITT_TASK_LEVEL=0");
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

}  // namespace

Status IsolatedSession::Impl::Start() {
  Stop();
  sandbox::LoadRequest request;
  request.from_buffer = from_buffer;
  request.path = path;
  request.model_bytes = model_bytes;
  request.options = options.session;
  sandbox::Writer count(nullptr, 0);
  sandbox::EncodeLoadRequest(request, count);

  region_fd = memfd_create("privedge-isolated", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (region_fd < 0) return SystemError("memfd_create");
  const size_t size =
      PageRound(std::max<size_t>(size_t{1} << 20, sandbox::kPayloadOffset + count.size()));
  // The worker may never shrink the region under the parent (reads past the end would fault).
  if (ftruncate(region_fd, static_cast<off_t>(size)) != 0 ||
      fcntl(region_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
    return SystemError("shared region");
  PE_RETURN_IF_ERROR(region.Map(region_fd, size));

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return SystemError("socketpair");
  control_fd = sv[0];
  // Above the descriptors the child gets (3, 4), so that its dup2 never meets itself.
  const int child_control = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
  close(sv[1]);
  const int child_region = fcntl(region_fd, F_DUPFD_CLOEXEC, 10);
  if (child_control < 0 || child_region < 0) {
    if (child_control >= 0) close(child_control);
    return SystemError("fcntl");
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, child_control, sandbox::kControlFd);
  posix_spawn_file_actions_adddup2(&actions, child_region, sandbox::kRegionFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, sandbox::kRegionFd + 1);
  const std::string program = this->program();
  std::vector<std::string> args = {program, kIsolatedWorkerFlag,
                                   std::to_string(options.memory_limit_bytes),
                                   std::to_string(options.cpu_seconds_limit)};
  std::vector<std::string> env = WorkerEnvironment();
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, Pointers(args).data(),
                             Pointers(env).data());
  posix_spawn_file_actions_destroy(&actions);
  close(child_control);
  close(child_region);
  if (rc != 0) {
    pid = -1;
    return Status(StatusCode::kInternal,
                  "cannot start the isolated worker '" + program + "': " + std::strerror(rc));
  }
  ++starts;
  worker_cpu_ns = 0;
  loading = true;

  sandbox::Writer w(region.payload(), region.payload_capacity());
  sandbox::EncodeLoadRequest(request, w);
  ControlMessage m;
  m.type = MessageType::kLoad;
  m.capacity = region.size();
  m.bytes = w.size();
  if (!sandbox::SendMessage(control_fd, m)) return Stopped(false);
  PE_ASSIGN_OR_RETURN(m, Await());
  loading = false;
  sandbox::Reader r(region.payload(), std::min<size_t>(m.bytes, region.payload_capacity()));
  if (m.type == MessageType::kError) {
    Status s = sandbox::DecodeStatus(r);
    Stop();
    return s;
  }
  if (m.type != MessageType::kLoaded) return ProtocolError("expected the model signature");
  auto in = sandbox::DecodeTensorInfos(r);
  auto out = sandbox::DecodeTensorInfos(r);
  if (!in.ok() || !out.ok())
    return ProtocolError(in.ok() ? out.status().message() : in.status().message());
  // A restarted worker loads the same model: the signature callers may hold stays untouched.
  if (starts == 1) {
    inputs = std::move(*in);
    outputs = std::move(*out);
  }
  return Status::OK();
}

void IsolatedSession::Impl::Stop() {
  if (pid > 0) {
    kill(pid, SIGKILL);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  pid = -1;
  loading = false;
  if (control_fd >= 0) close(control_fd);
  if (region_fd >= 0) close(region_fd);
  control_fd = region_fd = -1;
  region.Unmap();
}

Status IsolatedSession::Impl::EnsureCapacity(size_t bytes) {
  if (bytes <= region.size()) return Status::OK();
  if (bytes > options.max_shared_bytes + sandbox::kPayloadOffset)
    return Status(StatusCode::kResourceExhausted,
                  "isolated run needs " + std::to_string(bytes) +
                      " bytes of shared memory, more than max_shared_bytes (" +
                      std::to_string(options.max_shared_bytes) + ")");
  const size_t size = PageRound(std::min(std::max(bytes, 2 * region.size()),
                                         options.max_shared_bytes + sandbox::kPayloadOffset));
  if (ftruncate(region_fd, static_cast<off_t>(size)) != 0) return SystemError("grow shared region");
  return region.Map(region_fd, size);
}

Result<ControlMessage> IsolatedSession::Impl::Await() {
  ControlMessage m;
  const int r =
      sandbox::ReceiveMessage(control_fd, m, options.timeout_ms > 0 ? options.timeout_ms : -1);
  if (r == 1) {
    worker_cpu_ns = m.cpu_nanoseconds;
    return m;
  }
  if (r == -1) return ProtocolError("malformed control message");
  return Stopped(r == -2);
}

Status IsolatedSession::Impl::ProtocolError(const std::string& what) {
  Stop();
  return Status(StatusCode::kAborted, "isolated worker broke the protocol (" + what + "); stopped");
}

Status IsolatedSession::Impl::Stopped(bool timed_out) {
  // Read what the worker noted before it went (it writes these only when leaving).
  const uint32_t blocked = region.size() ? region.header()->blocked_syscall_plus_one : 0;
  const uint32_t oom = region.size() ? region.header()->out_of_memory : 0;
  int wstatus = 0;
  if (pid > 0) {
    kill(pid, SIGKILL);  // no effect on the exit status of a worker already leaving
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
  }
  const bool was_loading = loading;
  Stop();
  const bool exited = WIFEXITED(wstatus);
  const int code = exited ? WEXITSTATUS(wstatus) : 0;
  const int sig = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
  if (timed_out)
    return Status(
        StatusCode::kResourceExhausted,
        "worker did not answer within " + std::to_string(options.timeout_ms) + " ms; stopped");
  if ((exited && code == sandbox::kExitBlockedSyscall) || sig == SIGSYS)
    return Status(StatusCode::kAborted,
                  "worker stopped by the sandbox: blocked system call " +
                      (blocked ? sandbox::SyscallName(static_cast<int>(blocked - 1))
                               : std::string("(unknown)")));
  if ((exited && code == sandbox::kExitOutOfMemory) || oom)
    return Status(StatusCode::kResourceExhausted,
                  "worker ran out of memory (limit " +
                      std::to_string(options.memory_limit_bytes >> 20) + " MiB)");
  if (sig == SIGXCPU)
    return Status(StatusCode::kResourceExhausted, "worker exceeded its CPU time limit of " +
                                                      std::to_string(options.cpu_seconds_limit) +
                                                      " s");
  if (sig)
    return Status(StatusCode::kAborted, "worker crashed (signal " + std::to_string(sig) + ", SIG" +
                                            (sigabbrev_np(sig) ? sigabbrev_np(sig) : "?") + ")");
  if (exited && code == sandbox::kExitProtocol)
    return Status(StatusCode::kAborted, "worker broke the protocol and exited");
  if (was_loading)
    return Status(StatusCode::kAborted,
                  "worker exited with code " + std::to_string(code) + " before it was ready (is '" +
                      program() + "' a program that calls RunIsolatedWorkerIfRequested?)");
  return Status(StatusCode::kAborted,
                "worker crashed (exited with code " + std::to_string(code) + ")");
}

Result<NamedTensors> IsolatedSession::Impl::RunLocked(const NamedTensors& given) {
  if (pid < 0 || worker_cpu_ns > static_cast<uint64_t>(options.cpu_seconds_limit) * 500'000'000u)
    PE_RETURN_IF_ERROR(Start());
  sandbox::Writer count(nullptr, 0);
  sandbox::EncodeTensors(given, count);
  PE_RETURN_IF_ERROR(EnsureCapacity(sandbox::kPayloadOffset + count.size()));
  sandbox::Writer w(region.payload(), region.payload_capacity());
  sandbox::EncodeTensors(given, w);
  ControlMessage m;
  m.type = MessageType::kRun;
  m.capacity = region.size();
  m.bytes = w.size();
  if (!sandbox::SendMessage(control_fd, m)) return Stopped(false);
  for (;;) {
    PE_ASSIGN_OR_RETURN(m, Await());
    if (m.type == MessageType::kNeedSpace) {
      Status grown = EnsureCapacity(m.bytes);
      if (!grown.ok()) {
        Stop();
        return grown;
      }
      ControlMessage reply;
      reply.type = MessageType::kGrown;
      reply.capacity = region.size();
      if (!sandbox::SendMessage(control_fd, reply)) return Stopped(false);
      continue;
    }
    if (m.bytes > region.payload_capacity()) return ProtocolError("payload larger than the region");
    sandbox::Reader r(region.payload(), m.bytes);
    if (m.type == MessageType::kError) {
      Status s = sandbox::DecodeStatus(r);
      if (!r.ok()) return ProtocolError(s.message());
      return s;
    }
    if (m.type != MessageType::kResult) return ProtocolError("unexpected message");
    auto outputs = sandbox::DecodeTensors(r, options.session.max_tensor_bytes);
    if (!outputs.ok()) return ProtocolError(outputs.status().message());
    return outputs;
  }
}

IsolatedSession::IsolatedSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IsolatedSession::~IsolatedSession() = default;

Result<std::unique_ptr<IsolatedSession>> IsolatedSession::Load(
    const std::string& path, const IsolatedSessionOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->path = path;
  PE_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<IsolatedSession>(new IsolatedSession(std::move(impl)));
}

Result<std::unique_ptr<IsolatedSession>> IsolatedSession::LoadFromBuffer(
    const void* data, size_t size, const IsolatedSessionOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->from_buffer = true;
  impl->model_bytes.assign(static_cast<const char*>(data), size);
  PE_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<IsolatedSession>(new IsolatedSession(std::move(impl)));
}

const std::vector<TensorInfo>& IsolatedSession::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& IsolatedSession::outputs() const { return impl_->outputs; }

Result<NamedTensors> IsolatedSession::Run(const NamedTensors& inputs) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->RunLocked(inputs);
}

Status IsolatedSession::Restart() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Start();
}

int IsolatedSession::restarts() const { return std::max(0, impl_->starts - 1); }
pid_t IsolatedSession::worker_pid() const { return impl_->pid; }

}  // namespace privedge
