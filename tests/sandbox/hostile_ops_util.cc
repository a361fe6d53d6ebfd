// Test-only operators (domain "test.privedge") that do what a model exploiting a kernel bug
// would try. They are compiled only into the tests (privedge_tests and the sandbox tests'
// worker), never into the privedge library or command. Each acts only when its input
// x[0] > 0; otherwise it copies x to y, so one session can show both a stopped worker and a
// restarted one serving again.
#include "sandbox/hostile_ops_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "kernels/kernel.h"

namespace privedge::testing {
namespace {

// Runs `attack` when x[0] > 0, then copies x to y. An attack that returns means it was not
// stopped (as when the model runs in-process): the kernel reports that as its error.
template <class Attack>
Status Act(KernelContext& ctx, Attack attack) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->dtype() != DType::kFloat32 || x->numel() < 1) return ctx.Error("expected float x");
  if (x->data<float>()[0] > 0) {
    Status s = attack();
    if (!s.ok()) return s;
  }
  ctx.set_output(0, *x);
  return Status::OK();
}

Status OpenSocket(KernelContext& ctx) {
  return Act(ctx, [&] {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) close(fd);
    return ctx.Error("socket() returned ", fd, ": the call was not blocked");
  });
}

Status OpenFile(KernelContext& ctx) {
  return Act(ctx, [&] {
    const int fd = open("/etc/passwd", O_RDONLY);
    if (fd >= 0) close(fd);
    return ctx.Error("open() returned ", fd, ": the call was not blocked");
  });
}

Status Crash(KernelContext& ctx) {
  return Act(ctx, [&] {
    raise(SIGSEGV);
    return ctx.Error("still alive after SIGSEGV");
  });
}

Status Spin(KernelContext& ctx) {
  return Act(ctx, [&] {
    std::atomic<uint64_t> spins{0};
    for (;;) spins.fetch_add(1, std::memory_order_relaxed);
    return Status::OK();
  });
}

Status EatMemory(KernelContext& ctx) {
  return Act(ctx, [&] {
    static std::vector<char*> kept;
    for (;;) kept.push_back(new char[64 << 20]);  // virtual only: RLIMIT_AS counts it
    return Status::OK();
  });
}

}  // namespace

void RegisterHostileTestOps() {
  auto& registry = KernelRegistry::MutableGlobal();
  if (registry.Find("OpenSocket", "test.privedge")) return;
  registry.Add("OpenSocket", OpenSocket, "test.privedge");
  registry.Add("OpenFile", OpenFile, "test.privedge");
  registry.Add("Crash", Crash, "test.privedge");
  registry.Add("Spin", Spin, "test.privedge");
  registry.Add("EatMemory", EatMemory, "test.privedge");
}

}  // namespace privedge::testing
