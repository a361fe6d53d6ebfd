#include <openssl/crypto.h>
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
  keys init|show|export-public|rotate|publisher
                     the device keystore that protects models and data at rest
  dataset inspect FILE [--labels FILE] [--label-column COL]
                     shape, type, value range and label histogram of IDX / .npy / CSV data
  dataset import STORE SILO --data FILE [--labels FILE]
                     keep training examples encrypted in a secure store silo
  store put|get|list|count|delete-silo DIR ...
                     encrypted per-silo records on the device (the secure store)
  simulate [--clients N] [--rounds R] [--fraction C] [--partition P] [--strategy NAME] ...
                     federated learning with N virtual devices in this process
  server --config FILE --state DIR --insecure [--listen ADDR] | server enroll-token --state DIR
                     run a federated task over gRPC (resumes from DIR); enrollment tokens
  client --server ADDR --data IMAGES --labels LABELS --insecure [--token T] [--device-id ID]
                     take part in a federated task as a device
  convert IN.onnx OUT.pmc [--encrypt] [--sign KEY]
                     write the optimized model as a container (mapped in place, or encrypted
                     for this device; optionally signed)
  sign FILE.pmc --key KEY | sign --new-key NAME
                     sign a container with a publisher key, or make a publisher key pair
  verify FILE.pmc [--pubkey PUB]
                     check a container's signature and content digest

MODEL may be an .onnx file or a container; with a container, --require-signed PUB rejects
unsigned or altered models, and --keystore-dir DIR names the keystore of encrypted ones.
  train MODEL --data FILE --labels FILE [--epochs E] [--batch B] [--lr LR] [--optimizer O]
        [--freeze PREFIX]... [--out FILE] [--delta FILE]
                     train a model (.onnx or .pmc) on this device (IDX, CSV, .npy, or
                     --store DIR --silo NAME: examples kept encrypted in the secure store)
  eval MODEL --data FILE --labels FILE
                     loss and accuracy of a model on labelled data

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
  // gRPC's threads may still be using OpenSSL (a reconnect to a server that went away) while
  // the process exits: OpenSSL's atexit cleanup would free it under them. Must be OpenSSL's
  // first initialization in the process.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
  privedge::RunIsolatedWorkerIfRequested(argc, argv);  // `run --isolated` starts us as its worker
  UsePassiveOpenMpWaiting(argv);
  // The TPM library logs expected failures (a missing TPM, a wrong context) to stderr; privedge
  // reports them itself, in one line.
  setenv("TSS2_LOG", "all+none", 0);
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
  if (cmd == "keys") return privedge::cli::KeysCommand(argc - 2, argv + 2);
  if (cmd == "dataset") return privedge::cli::DatasetCommand(argc - 2, argv + 2);
  if (cmd == "store") return privedge::cli::StoreCommand(argc - 2, argv + 2);
  if (cmd == "simulate") return privedge::cli::SimulateCommand(argc - 2, argv + 2);
  if (cmd == "server") return privedge::cli::ServerCommand(argc - 2, argv + 2);
  if (cmd == "client") return privedge::cli::ClientCommand(argc - 2, argv + 2);
  if (cmd == "convert") return privedge::cli::ConvertCommand(argc - 2, argv + 2);
  if (cmd == "sign") return privedge::cli::SignCommand(argc - 2, argv + 2);
  if (cmd == "verify") return privedge::cli::VerifyCommand(argc - 2, argv + 2);
  if (cmd == "train") return privedge::cli::TrainCommand(argc - 2, argv + 2);
  if (cmd == "eval") return privedge::cli::EvalCommand(argc - 2, argv + 2);
  std::cerr << "privedge: unknown command '" << cmd << "' (see privedge --help)\n";
  return 1;
}
