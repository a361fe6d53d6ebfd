// The isolated worker: loads the model, locks itself down, then runs requests until the
// parent closes the channel. Runs in its own process, started by IsolatedSession.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/dnnl/dnnl_kernels.h"
#include "privedge/isolated_session.h"
#include "sandbox/channel.h"
#include "sandbox/sanitizers.h"
#include "sandbox/seccomp_filter.h"

namespace privedge {
namespace sandbox {
namespace {

RegionHeader* g_header = nullptr;

// A blocked system call: record which one where the parent can read it, and leave. The
// kernel forces SIGSYS through even if the worker blocked or ignored it, so a compromised
// worker cannot skip this; at worst it dies without the note.
void OnBlockedSyscall(int, siginfo_t* info, void*) {
  if (g_header) g_header->blocked_syscall_plus_one = static_cast<uint32_t>(info->si_syscall) + 1;
  syscall(SYS_exit_group, kExitBlockedSyscall);
}

void OnOutOfMemory() {
  if (g_header) g_header->out_of_memory = 1;
  syscall(SYS_exit_group, kExitOutOfMemory);
}

uint64_t CpuNanoseconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Memory and CPU limits, no core dumps, no ptrace by others, no fds but ours, then the filter.
Status LockDown(size_t memory_limit_bytes, int cpu_seconds) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return Status(StatusCode::kInternal, "prctl(PR_SET_DUMPABLE) failed");
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
#ifndef PRIVEDGE_SANITIZED
  // AddressSanitizer reserves terabytes of address space for its shadow, so a sanitizer build
  // (make test-asan, make fuzz) cannot run under RLIMIT_AS; there the limit is not applied.
  const rlimit memory{memory_limit_bytes, memory_limit_bytes};
  if (setrlimit(RLIMIT_AS, &memory) != 0)
    return Status(StatusCode::kInternal, "setrlimit(RLIMIT_AS) failed");
#endif
  const rlim_t cpu = static_cast<rlim_t>(cpu_seconds);
  const rlimit cpu_limit{cpu, cpu + 1};  // SIGXCPU at the soft limit, SIGKILL a second later
  if (setrlimit(RLIMIT_CPU, &cpu_limit) != 0)
    return Status(StatusCode::kInternal, "setrlimit(RLIMIT_CPU) failed");
  for (int fd = 0; fd < 2; ++fd) close(fd);  // stdin/stdout are /dev/null anyway
  syscall(SYS_close_range, kRegionFd + 1, ~0u, 0);
  struct sigaction sa {};
  sa.sa_sigaction = OnBlockedSyscall;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &sa, nullptr);
  std::set_new_handler(OnOutOfMemory);
  return InstallSeccompFilter();
}

// Sends a payload of `size` bytes already written to the region.
bool Reply(MessageType type, const RegionMapping& region, size_t size) {
  ControlMessage m;
  m.type = type;
  m.capacity = region.size();
  m.bytes = size;
  m.cpu_nanoseconds = CpuNanoseconds();
  return SendMessage(kControlFd, m);
}

bool ReplyStatus(const Status& status, const RegionMapping& region) {
  Writer w(region.payload(), region.payload_capacity());
  EncodeStatus(status, w);
  if (w.overflow()) {  // a message longer than the region: send its start
    Writer shorter(region.payload(), region.payload_capacity());
    EncodeStatus(Status(status.code(), status.message().substr(0, region.payload_capacity() / 2)),
                 shorter);
    return Reply(MessageType::kError, region, shorter.size());
  }
  return Reply(MessageType::kError, region, w.size());
}

// Writes the outputs into the region, asking the parent for more room when needed.
bool ReplyOutputs(const NamedTensors& outputs, RegionMapping& region) {
  Writer count(nullptr, 0);
  EncodeTensors(outputs, count);
  if (count.size() > region.payload_capacity()) {
    ControlMessage m;
    m.type = MessageType::kNeedSpace;
    m.capacity = region.size();
    m.bytes = kPayloadOffset + count.size();
    if (!SendMessage(kControlFd, m)) return false;
    if (ReceiveMessage(kControlFd, m, -1) != 1 || m.type != MessageType::kGrown) return false;
    if (!region.Map(kRegionFd, m.capacity).ok() || count.size() > region.payload_capacity())
      return false;
    g_header = region.header();
  }
  Writer w(region.payload(), region.payload_capacity());
  EncodeTensors(outputs, w);
  return Reply(MessageType::kResult, region, w.size());
}

int Serve(const Session& session, RegionMapping& region, size_t max_tensor_bytes) {
  for (;;) {
    ControlMessage m;
    const int r = ReceiveMessage(kControlFd, m, -1);
    if (r == 0) return 0;  // the parent is done with us
    if (r < 0 || m.type != MessageType::kRun) return kExitProtocol;
    if (!region.Map(kRegionFd, m.capacity).ok() || m.bytes > region.payload_capacity())
      return kExitProtocol;
    g_header = region.header();
    Reader reader(region.payload(), m.bytes);
    // Inputs are read in place: the parent does not touch the region until we reply.
    auto inputs = DecodeTensorsBorrowed(reader, max_tensor_bytes, nullptr);
    bool sent;
    if (!inputs.ok()) {
      sent = ReplyStatus(inputs.status(), region);
    } else {
      auto outputs = session.Run(*inputs);
      inputs->clear();
      sent = outputs.ok() ? ReplyOutputs(*outputs, region) : ReplyStatus(outputs.status(), region);
    }
    if (!sent) return kExitProtocol;
  }
}

int RunWorker(size_t memory_limit_bytes, int cpu_seconds) {
  ControlMessage m;
  if (ReceiveMessage(kControlFd, m, -1) != 1 || m.type != MessageType::kLoad) return kExitProtocol;
  RegionMapping region;
  if (!region.Map(kRegionFd, m.capacity).ok() || m.bytes > region.payload_capacity())
    return kExitProtocol;
  g_header = region.header();
  Reader reader(region.payload(), m.bytes);
  auto request = DecodeLoadRequest(reader);
  if (!request.ok()) return kExitProtocol;
  auto session = request->from_buffer
                     ? Session::LoadFromBuffer(request->model_bytes.data(),
                                               request->model_bytes.size(), request->options)
                     : Session::Load(request->path, request->options);
  request->model_bytes.clear();
  request->model_bytes.shrink_to_fit();
  if (!session.ok()) return ReplyStatus(session.status(), region) ? 0 : kExitProtocol;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  StartKernelThreads(request->options.threads > 0 ? request->options.threads
                                                  : static_cast<int>(cpus > 0 ? cpus : 1));
  Status locked = LockDown(memory_limit_bytes, cpu_seconds);
  if (!locked.ok()) {
    ReplyStatus(locked.WithContext("cannot enter the sandbox"), region);
    return 0;
  }
  Writer w(region.payload(), region.payload_capacity());
  EncodeTensorInfos((*session)->inputs(), w);
  EncodeTensorInfos((*session)->outputs(), w);
  if (w.overflow()) {
    ReplyStatus(Status(StatusCode::kResourceExhausted, "model signature larger than the region"),
                region);
    return 0;
  }
  if (!Reply(MessageType::kLoaded, region, w.size())) return kExitProtocol;
  return Serve(**session, region, request->options.max_tensor_bytes);
}

}  // namespace
}  // namespace sandbox

void RunIsolatedWorkerIfRequested(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], kIsolatedWorkerFlag) != 0) return;
  if (argc != 4) _exit(sandbox::kExitProtocol);
  const size_t memory = std::strtoull(argv[2], nullptr, 10);
  const int cpu = std::atoi(argv[3]);
  // _exit: no static destructors or exit handlers run under the filter.
  _exit(sandbox::RunWorker(memory, cpu));
}

}  // namespace privedge
