#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "cli/cli.h"
#include "privedge/isolated_session.h"

namespace {

constexpr const char* kUsage = R"(privedge: privacy-first machine learning on the device

usage: privedge <command> [options]

commands:
  run MODEL [INPUT] [--input NAME=FILE]... [--output-dir DIR] [--threads N] [--isolated]
                     run a model on .npy / .pb inputs and summarize its outputs
  inspect MODEL      IR and opset versions, inputs/outputs, operators, parameters
  conformance DIR... run ONNX backend test folders and report pass/fail
  privacy epsilon|sigma --delta D ...
                     (epsilon, delta) spent by DP training, or the noise a target epsilon needs
  bench MODEL [INPUT] [--input NAME=FILE]... [--threads N] [--runs N] [--warmup N] [--json]
                     load time, first-run time, median/p90/min latency and peak RSS

Run 'privedge <command> --help' for the options of one command.
)";

// libgomp (under oneDNN's fast kernels) reads its wait policy once, when it loads; by default
// idle workers spin, which on a busy or small device burns CPU and slows 2-thread runs by 10x
// or more. The command re-executes itself once with a passive policy unless the user chose one.
void UsePassiveOpenMpWaiting(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the default policy
}

}  // namespace

int main(int argc, char** argv) {
  privedge::RunIsolatedWorkerIfRequested(argc, argv);  // `run --isolated` starts us as its worker
  UsePassiveOpenMpWaiting(argv);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::cout << kUsage;
    return argc < 2 ? 1 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "--version") {
    std::cout << "privedge 0.1.0\n";
    return 0;
  }
  if (cmd == "run") return privedge::cli::RunCommand(argc - 2, argv + 2);
  if (cmd == "inspect") return privedge::cli::InspectCommand(argc - 2, argv + 2);
  if (cmd == "conformance") return privedge::cli::ConformanceCommand(argc - 2, argv + 2);
  if (cmd == "privacy") return privedge::cli::PrivacyCommand(argc - 2, argv + 2);
  if (cmd == "bench") return privedge::cli::BenchCommand(argc - 2, argv + 2);
  std::cerr << "privedge: unknown command '" << cmd << "' (see privedge --help)\n";
  return 1;
}
