// The worker program of the sandbox tests: privedge's isolated worker plus the test-only
// hostile operators of hostile_ops_util.cc.
#include "privedge/isolated_session.h"
#include "sandbox/hostile_ops_util.h"

int main(int argc, char** argv) {
  privedge::testing::RegisterHostileTestOps();
  privedge::RunIsolatedWorkerIfRequested(argc, argv);
  return 2;  // started without the worker flag
}
