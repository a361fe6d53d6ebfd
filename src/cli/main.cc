#include <cstring>
#include <iostream>
#include <string>

#include "cli/cli.h"

namespace {

constexpr const char* kUsage = R"(privedge: privacy-first machine learning on the device

usage: privedge <command> [options]

commands:
  run MODEL [INPUT] [--input NAME=FILE]... [--output-dir DIR] [--threads N]
                     run a model on .npy / .pb inputs and summarize its outputs
  inspect MODEL      IR and opset versions, inputs/outputs, operators, parameters
  conformance DIR... run ONNX backend test folders and report pass/fail
  bench MODEL [INPUT] [--input NAME=FILE]... [--threads N] [--runs N] [--warmup N] [--json]
                     load time, first-run time, median/p90/min latency and peak RSS

Run 'privedge <command> --help' for the options of one command.
)";

}  // namespace

int main(int argc, char** argv) {
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
  if (cmd == "bench") return privedge::cli::BenchCommand(argc - 2, argv + 2);
  std::cerr << "privedge: unknown command '" << cmd << "' (see privedge --help)\n";
  return 1;
}
