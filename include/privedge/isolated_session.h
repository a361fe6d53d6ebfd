// IsolatedSession: run a model in a locked-down worker process, so that a crafted model that
// exploits a bug in a kernel or in the loader can neither read the application's memory nor
// reach the network or the file system.
//
//   int main(int argc, char** argv) {
//     privedge::RunIsolatedWorkerIfRequested(argc, argv);  // first line of main (see below)
//     privedge::IsolatedSessionOptions options;
//     options.memory_limit_bytes = size_t{2} << 30;
//     auto session = privedge::IsolatedSession::Load("model.onnx", options);
//     if (!session.ok()) { std::cerr << session.status().message() << "\n"; return 1; }
//     auto outputs = (*session)->Run({{"input", input_tensor}});
//     if (!outputs.ok()) std::cerr << outputs.status().message() << "\n";  // worker restarts
//   }
//
// How it works. Load() starts a worker: a fresh exec of a program (by default the calling
// program itself, /proc/self/exe) that holds only two descriptors, a control socket and a
// shared memory region (memfd), with stdin and stdout on /dev/null. A fresh exec rather than
// a fork, because the parent may be multi-threaded (OpenMP under the fast kernels) and a
// forked copy of such a process can deadlock. The worker loads the model (it may open the
// model file and its external data now), then, before it runs anything:
//   - sets PR_SET_NO_NEW_PRIVS and PR_SET_DUMPABLE 0 (no core dumps, no ptrace attach by
//     other processes of the user), RLIMIT_CORE 0, closes every other descriptor;
//   - sets RLIMIT_AS to memory_limit_bytes and RLIMIT_CPU to cpu_seconds_limit;
//   - enters a seccomp-bpf filter (libseccomp) that allows only what inference needs: memory
//     management (mmap, munmap, mprotect, madvise, brk, mremap), futexes, clocks and sleeps,
//     new threads (clone with CLONE_THREAD only, for the OpenMP workers, which are started
//     before the filter), signal masks and handlers (not SIGSYS's), getrandom, exit, and
//     read/write/send/recv on the control socket (write also on stderr, for diagnostics).
//     Everything else, notably socket, connect, open/openat, execve, fork, ptrace, ftruncate
//     and kill, is blocked: the kernel stops the call and raises SIGSYS, and the worker exits,
//     noting the call's number for the parent. docs/isolation.md has the full list.
// Each Run() copies the inputs into the shared region, wakes the worker over the socket, and
// copies the outputs back; nothing else crosses. Everything the worker sends is checked as
// untrusted (sizes, counts, types) before use.
//
// When the worker stops. A blocked system call, a crash, exceeding a limit or the run timeout
// ends the worker, never the caller: Run() returns an error saying what happened, e.g.
//   "worker stopped by the sandbox: blocked system call socket"          (kAborted)
//   "worker crashed (signal 11, SIGSEGV)"                                 (kAborted)
//   "worker exceeded its CPU time limit of 60 s"                          (kResourceExhausted)
//   "worker ran out of memory (limit 4096 MiB)"                           (kResourceExhausted)
//   "worker did not answer within 60000 ms; stopped"                      (kResourceExhausted)
// and the next Run() starts a new worker (reloading the model) before running; restarts()
// counts them. An ordinary model error (bad input shape, ...) is returned as from Session and
// the worker lives on. Because RLIMIT_CPU counts the worker's whole life, the parent also
// replaces a worker that has used more than half of cpu_seconds_limit before its next run.
//
// The worker program. It must call RunIsolatedWorkerIfRequested(argc, argv) first thing in
// main(): it returns at once unless the program was started as a worker, and otherwise never
// returns. The privedge command does; a program that cannot may point worker_path at the
// privedge binary. Operators available in the worker are those linked into that program.
//
// Costs. Starting a worker costs one exec plus the model load (tens of milliseconds). Each
// Run() adds two socket messages and the copies of inputs and outputs through shared memory;
// bench/RESULTS.md ("Isolation overhead") has measured figures (tens of microseconds).
//
// Thread-safety: Run() may be called from several threads; calls on one IsolatedSession are
// serialized (one worker, one request at a time). Use several sessions for parallel runs.
//
// Errors from Load(): those of Session::Load, plus the worker failing to start or to enter the
// sandbox (e.g. seccomp unavailable in the kernel).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "privedge/session.h"
#include "privedge/status.h"

namespace privedge {

// The argv[1] that starts a program as an isolated worker.
inline constexpr const char* kIsolatedWorkerFlag = "--privedge-isolated-worker";

struct IsolatedSessionOptions {
  // Options of the Session inside the worker.
  SessionOptions session;
  // Program to start as the worker; empty means the calling program (/proc/self/exe).
  std::string worker_path;
  // RLIMIT_AS of the worker: all its address space (libraries, the model, thread stacks,
  // tensors, the shared region). Not applied in AddressSanitizer builds, whose shadow memory
  // needs terabytes of address space.
  size_t memory_limit_bytes = size_t{4} << 30;
  // RLIMIT_CPU of the worker, in seconds of CPU time over its life (all threads).
  int cpu_seconds_limit = 300;
  // Wall-clock time allowed for loading and for each Run(); past it the worker is killed.
  // 0 or less: no wall-clock limit (the CPU-time limit still applies).
  int timeout_ms = 60'000;
  // Largest shared region (inputs or outputs of one run, encoded) the parent will create.
  size_t max_shared_bytes = size_t{1} << 31;
};

class IsolatedSession {
 public:
  // Starts a worker that loads the model file. The path is resolved by the parent; external
  // data is read from the model's folder, by the worker, before it is locked down.
  static Result<std::unique_ptr<IsolatedSession>> Load(const std::string& path,
                                                       const IsolatedSessionOptions& options = {});
  // The same for a model held in memory (no external data).
  static Result<std::unique_ptr<IsolatedSession>> LoadFromBuffer(
      const void* data, size_t size, const IsolatedSessionOptions& options = {});
  // Stops the worker (SIGKILL) and reaps it.
  ~IsolatedSession();

  // As declared by the model (reported by the worker, checked by the parent).
  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;

  // Runs the model in the worker; same contract as Session::Run. If the worker is gone (it
  // was stopped by an earlier call), a new one is started first.
  Result<NamedTensors> Run(const NamedTensors& inputs);

  // Replaces the worker with a fresh one (reloads the model).
  Status Restart();
  // Workers started after the first.
  int restarts() const;
  // Process id of the current worker, or -1 when none is running.
  pid_t worker_pid() const;

  struct Impl;

 private:
  explicit IsolatedSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// If argv[1] is kIsolatedWorkerFlag, runs this process as an isolated worker and exits (never
// returns); otherwise returns at once. Call it first in main() of a worker program.
void RunIsolatedWorkerIfRequested(int argc, char** argv);

}  // namespace privedge
