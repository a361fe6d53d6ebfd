#include "sandbox/seccomp_filter.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "sandbox/sanitizers.h"

namespace privedge::sandbox {
namespace {

// Syscalls inference needs whatever their arguments.
constexpr int kAllowed[] = {
    // memory
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    SCMP_SYS(brk),
    SCMP_SYS(mremap),
    // locked memory for decrypted weights (SecureBuffer: packed copies made at the first run)
    SCMP_SYS(mlock),
    SCMP_SYS(munlock),
    // threads and synchronization (OpenMP workers, futex-based locks)
    SCMP_SYS(futex),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(sched_yield),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(gettid),
    SCMP_SYS(getpid),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(restart_syscall),
    // time
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(nanosleep),
    SCMP_SYS(clock_nanosleep),
    // random-number kernels seeding from the kernel's generator
    SCMP_SYS(getrandom),
    // ending a thread or the process
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
};

// Argument 0 compared as the 32-bit int the kernel reads (upper bits masked off).
scmp_arg_cmp Arg0Is(scmp_datum_t value) {
  scmp_arg_cmp c{};
  c.arg = 0;
  c.op = SCMP_CMP_MASKED_EQ;
  c.datum_a = 0xffffffffu;
  c.datum_b = value;
  return c;
}

scmp_arg_cmp Arg0(scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
  scmp_arg_cmp c{};
  c.arg = 0;
  c.op = op;
  c.datum_a = a;
  c.datum_b = b;
  return c;
}

Status Check(int rc, const char* what) {
  if (rc == 0) return Status::OK();
  return Status(StatusCode::kInternal,
                std::string("seccomp: ") + what + " failed: " + std::strerror(-rc));
}

}  // namespace

Status InstallSeccompFilter() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return Status(StatusCode::kInternal,
                  std::string("prctl(PR_SET_NO_NEW_PRIVS) failed: ") + std::strerror(errno));
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
  if (!ctx) return Status(StatusCode::kInternal, "seccomp_init failed");
  // A binary tree of syscall numbers rather than a linear list: fewer BPF steps per call.
  Status s = Check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize");
  for (int nr : kAllowed) {
    if (!s.ok()) break;
    s = Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), "rule");
  }
  auto rule = [&](uint32_t action, int nr, unsigned count, scmp_arg_cmp a) {
    if (s.ok()) s = Check(seccomp_rule_add(ctx, action, nr, count, a), "rule");
  };
  // I/O only on the descriptors the worker was given.
  for (int nr : {SCMP_SYS(read), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg)})
    rule(SCMP_ACT_ALLOW, nr, 1, Arg0Is(kControlFd));
  for (int nr : {SCMP_SYS(write), SCMP_SYS(sendto), SCMP_SYS(sendmsg)}) {
    rule(SCMP_ACT_ALLOW, nr, 1, Arg0Is(kControlFd));
    rule(SCMP_ACT_ALLOW, nr, 1, Arg0Is(2));
  }
#ifdef PRIVEDGE_SANITIZED
  // Sanitizer builds only (make test-asan, make fuzz): UBSan's type checks probe memory by
  // writing it into a pipe of their own. The worker holds no descriptor it could misuse.
  for (int nr : {SCMP_SYS(pipe2), SCMP_SYS(write), SCMP_SYS(close)})
    if (s.ok()) s = Check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), "rule");
#endif
  // OpenMP runtimes may pin their threads: each its own (pid 0), never another process.
  rule(SCMP_ACT_ALLOW, SCMP_SYS(sched_setaffinity), 1, Arg0Is(0));
  // New threads, never new processes.
  rule(SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, Arg0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
  if (s.ok()) s = Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "rule");
  // oneDNN asks for permission to use AMX tiles (ARCH_GET_XCOMP_SUPP/_PERM, ARCH_REQ_XCOMP_PERM).
  for (scmp_datum_t option : {0x1021, 0x1022, 0x1023})
    rule(SCMP_ACT_ALLOW, SCMP_SYS(arch_prctl), 1, Arg0Is(option));
  // The C library installs its thread-cancellation handler at the first pthread_create; the
  // SIGSYS handler that reports blocked calls stays as the worker set it. (Were it replaced,
  // through bits above the int the kernel reads, a blocked call would still not run: only the
  // report would be lost.)
  rule(SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 1, Arg0(SCMP_CMP_NE, SIGSYS));
  // abort() signals its own thread group only.
  rule(SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, Arg0Is(static_cast<scmp_datum_t>(getpid())));
  if (s.ok()) s = Check(seccomp_load(ctx), "load");
  seccomp_release(ctx);
  return s;
}

std::string SyscallName(int number) {
  char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number);
  if (!name) return "syscall " + std::to_string(number);
  std::string s = name;
  std::free(name);
  return s;
}

}  // namespace privedge::sandbox
