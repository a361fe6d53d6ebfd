// privedge run: run a model on tensors from files and summarize (and save) its outputs.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "model/tensor_io.h"
#include "privedge/isolated_session.h"
#include "privedge/session.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp = R"(usage: privedge run MODEL [INPUT_FILE] [--input NAME=FILE]... [--output-dir DIR]
                    [--threads N] [--reference] [--isolated]

Loads MODEL (.onnx or .pmc container) and runs it once on the CPU. Inputs are NumPy .npy files or ONNX
TensorProto .pb files; a model with a single input may take its file positionally. Each output
is summarized (name, type, shape, min, max, mean, first values) and, with --output-dir, written
to DIR/NAME.npy (characters other than letters, digits, '-', '_' and '.' become '_').
--reference runs only the reference kernels (the oracle), never the fast ones.
Containers: --require-signed PUBKEY (file or 64 hex) rejects unsigned, otherwise signed or
altered models; --keystore-dir DIR / --keystore BACKEND name the keystore of an encrypted one
(passphrase from $PRIVEDGE_KEYSTORE_PASSPHRASE); --allow-unlocked-memory loads an encrypted
model even when mlock is refused (RLIMIT_MEMLOCK).
--isolated loads and runs the model in a sandboxed worker process (seccomp filter: no
network, no file opened after loading, memory and CPU-time limits (4 GiB, 300 s); see
docs/isolation.md).
)";

std::string SanitizeName(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (s.empty() || s == "." || s == "..") s = "output";
  return s;
}

std::string Num(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

std::vector<std::string> Summarize(const std::string& name, const Tensor& t) {
  std::string mn = "-", mx = "-", mean = "-", first;
  const int64_t n = t.numel();
  if (t.dtype() == DType::kString) {
    for (int64_t i = 0; i < std::min<int64_t>(n, 3); ++i)
      first += (i ? ", " : "") + std::string("\"") + t.data<std::string>()[i] + "\"";
  } else if (n > 0) {
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      double v = t.GetAsDouble(i);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum += v;
    }
    mn = Num(lo);
    mx = Num(hi);
    mean = Num(sum / static_cast<double>(n));
    for (int64_t i = 0; i < std::min<int64_t>(n, 5); ++i) first += (i ? ", " : "") + Num(t.GetAsDouble(i));
    if (n > 5) first += ", ...";
  }
  return {name, DTypeName(t.dtype()), ShapeToString(t.shape()), mn, mx, mean, first};
}

}  // namespace

int RunCommand(int argc, char** argv) {
  const std::string cmd = "run";
  Args args;
  if (!ParseArgs(argc, argv, WithModelOptions({"input", "output-dir", "threads"}, false),
                 WithModelOptions({"help", "reference", "isolated"}, true), cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.empty()) return Fail(cmd, "expected a MODEL path (see --help)");
  if (args.positional.size() > 2) return Fail(cmd, "too many positional arguments (expected MODEL [INPUT_FILE])");
  int64_t threads = 0;
  if (!ParseIntOption(args, "threads", 0, 1024, threads, cmd)) return 1;
  SessionOptions options;
  options.threads = static_cast<int>(threads);
  options.fast_kernels = !args.has("reference");
  if (Status s = ApplyModelOptions(args, args.positional[0], options); !s.ok())
    return Fail(cmd, s.message());

  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Session> session;
  std::unique_ptr<IsolatedSession> isolated;
  if (args.has("isolated")) {
    IsolatedSessionOptions isolated_options;
    isolated_options.session = options;
    isolated_options.timeout_ms = 0;  // one run: bounded by the worker's CPU-time limit
    auto loaded = IsolatedSession::Load(args.positional[0], isolated_options);
    if (!loaded.ok()) return Fail(cmd, loaded.status().message());
    isolated = std::move(*loaded);
  } else {
    auto loaded = Session::Load(args.positional[0], options);
    if (!loaded.ok()) return Fail(cmd, loaded.status().message());
    session = std::move(*loaded);
  }
  const auto t1 = std::chrono::steady_clock::now();

  auto files = ReadInputFiles(args, isolated ? isolated->inputs() : session->inputs());
  if (!files.ok()) return Fail(cmd, files.status().message());
  NamedTensors inputs;
  for (InputFile& f : *files) inputs.emplace_back(f.name, std::move(f.tensor));
  auto outputs = isolated ? isolated->Run(inputs) : session->Run(inputs);
  if (!outputs.ok()) return Fail(cmd, outputs.status().message());
  const auto t2 = std::chrono::steady_clock::now();

  const std::string out_dir = args.get("output-dir");
  if (!out_dir.empty()) {
    mkdir(out_dir.c_str(), 0755);
    struct stat st;
    if (stat(out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Fail(cmd, "cannot create output folder '" + out_dir + "'");
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, t] : *outputs) {
    rows.push_back(Summarize(name, t));
    if (!out_dir.empty() && t.dtype() == DType::kString) {
      std::cerr << "note: output '" << name << "' holds strings, which .npy cannot store; not written\n";
    } else if (!out_dir.empty()) {
      Status s = WriteNpy(out_dir + "/" + SanitizeName(name) + ".npy", t);
      if (!s.ok()) return Fail(cmd, s.message());
    }
  }
  PrintTable({"output", "type", "shape", "min", "max", "mean", "first values"}, rows);
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::cout << "\nload " << Num(ms(t0, t1)) << " ms, run " << Num(ms(t1, t2)) << " ms";
  if (!out_dir.empty()) std::cout << ", outputs written to " << out_dir << "/";
  std::cout << "\n";
  return 0;
}

}  // namespace privedge::cli
