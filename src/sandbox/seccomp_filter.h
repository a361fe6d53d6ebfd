// The system-call filter the isolated worker enters after it has loaded its model.
#pragma once

#include <string>

#include "privedge/status.h"

namespace privedge::sandbox {

// File descriptors the worker keeps: the control socket and the shared memory region.
constexpr int kControlFd = 3;
constexpr int kRegionFd = 4;

// Installs the filter on the calling process (all its threads, present and future; it can
// never be removed). Allowed: memory management, futexes, clocks, sleeping, threads (clone
// with CLONE_THREAD only; pinning itself with sched_setaffinity), exiting, signal masks and
// handlers (except SIGSYS's), getrandom, arch_prctl's AMX state requests, and
// read/write/send/recv on the control socket (write also on stderr). Sanitizer builds also
// allow pipe2, close and write anywhere (UBSan probes memory through a pipe). Everything else (socket, connect, open, exec, fork, ptrace, ftruncate,
// ...) raises SIGSYS; clone3 fails with ENOSYS so that the C library falls back to clone,
// whose flags the filter can see.
Status InstallSeccompFilter();

// "socket" for the x86-64 number of socket(2); "syscall 999" when unknown.
std::string SyscallName(int number);

}  // namespace privedge::sandbox
