// Test-only hostile operators (see hostile_ops_util.cc).
#pragma once

namespace privedge::testing {

// Adds test.privedge OpenSocket, OpenFile, Crash, Spin and EatMemory to the global kernel
// registry (once). Only test programs call this.
void RegisterHostileTestOps();

}  // namespace privedge::testing
