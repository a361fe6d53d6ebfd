// privedge conformance: runs ONNX backend test folders (model.onnx + test_data_set_*) and
// compares privedge's outputs with the expected ones.
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cli/cli.h"
#include "kernels/kernel.h"
#include "model/onnx_import.h"
#include "model/tensor_io.h"
#include "privedge/session.h"
#include "runtime/session_impl.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp = R"(usage: privedge conformance DIR... [--json FILE] [--rtol R] [--atol A]
                            [--timeout SECONDS] [--quiet] [--no-fork]

Runs every ONNX backend test folder under each DIR (a folder holding model.onnx and
test_data_set_*/input_*.pb, output_*.pb, or a folder of such folders). Floating outputs are
compared with |got - expected| <= atol + rtol * |expected| (defaults 1e-3 / 1e-5); integers,
booleans and strings must match exactly. Prints one line per failing test and, last,
"N passed, N failed" (plus ", N skipped" for tests needing operators outside the default ONNX
domain that privedge does not provide). Each test runs in a child process so that a crash or a
hang (--timeout, default 120 s) fails that test only.
)";

struct Options {
  double rtol = 1e-3;
  double atol = 1e-5;
  int timeout = 120;
  bool fork = true;
};

enum class Outcome { kPass, kFail, kSkip };

struct TestResult {
  std::string name;
  Outcome outcome = Outcome::kFail;
  std::string reason;
  std::set<std::string> ops;
};

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool IsFile(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string BaseName(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

void CollectOps(const Graph& g, std::set<std::string>& ops) {
  for (const Node& n : g.nodes) {
    ops.insert(n.domain.empty() ? n.op_type : n.domain + "." + n.op_type);
    for (const auto& [k, a] : n.attributes) {
      if (a.g) CollectOps(*a.g, ops);
      for (const auto& sg : a.graphs) CollectOps(*sg, ops);
    }
  }
}

// True when some node needs an operator outside the default domain that has no kernel.
bool NeedsForeignDomain(const Graph& g) {
  for (const Node& n : g.nodes) {
    if (!n.domain.empty() && !KernelRegistry::Global().Find(n.op_type, n.domain)) return true;
    for (const auto& [k, a] : n.attributes) {
      if (a.g && NeedsForeignDomain(*a.g)) return true;
      for (const auto& sg : a.graphs)
        if (NeedsForeignDomain(*sg)) return true;
    }
  }
  return false;
}

// The same bytes seen as another element type of equal size.
Tensor RetypeBits(const Tensor& t, DType dtype) {
  Tensor out(dtype, t.shape());
  if (t.nbytes()) std::memcpy(out.raw_data(), t.raw_data(), t.nbytes());
  return out;
}

std::string FormatValue(double v) {
  std::ostringstream os;
  os.precision(7);
  os << v;
  return os.str();
}

// Empty string when equal; otherwise why not.
std::string CompareTensors(const Tensor& got, const Tensor& want, const Options& opt) {
  if (got.dtype() != want.dtype())
    return "type " + DTypeName(got.dtype()) + ", expected " + DTypeName(want.dtype());
  if (got.shape() != want.shape())
    return "shape " + ShapeToString(got.shape()) + ", expected " + ShapeToString(want.shape());
  if (got.dtype() == DType::kString) {
    for (int64_t i = 0; i < got.numel(); ++i) {
      if (got.data<std::string>()[i] != want.data<std::string>()[i])
        return "element " + std::to_string(i) + " is '" + got.data<std::string>()[i] +
               "', expected '" + want.data<std::string>()[i] + "'";
    }
    return "";
  }
  const bool is_float = IsFloatingDType(got.dtype());
  int64_t mismatches = 0, first = -1;
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    bool ok;
    if (is_float) {
      double g = got.GetAsDouble(i), w = want.GetAsDouble(i);
      if (std::isnan(w)) ok = std::isnan(g);
      else if (std::isinf(w)) ok = g == w;
      else ok = std::fabs(g - w) <= opt.atol + opt.rtol * std::fabs(w);
      if (!ok) worst = std::max(worst, std::isnan(g) ? INFINITY : std::fabs(g - w));
    } else {
      ok = got.GetAsInt64(i) == want.GetAsInt64(i);
    }
    if (!ok) {
      if (first < 0) first = i;
      ++mismatches;
    }
  }
  if (mismatches == 0) return "";
  std::string s = std::to_string(mismatches) + " of " + std::to_string(got.numel()) +
                  " elements differ; first at " + std::to_string(first) + ": got " +
                  FormatValue(got.GetAsDouble(first)) + ", expected " +
                  FormatValue(want.GetAsDouble(first));
  if (is_float) s += " (max abs diff " + FormatValue(worst) + ")";
  return s;
}

std::string CompareValues(const Value& got, const Value& want, const Options& opt) {
  if (want.is_none()) return got.is_none() ? "" : "expected an empty optional";
  if (want.is_sequence()) {
    if (!got.is_sequence()) return "expected a sequence";
    if (got.sequence.size() != want.sequence.size())
      return "sequence of " + std::to_string(got.sequence.size()) + " tensors, expected " +
             std::to_string(want.sequence.size());
    for (size_t i = 0; i < got.sequence.size(); ++i) {
      std::string r = CompareTensors(got.sequence[i], want.sequence[i], opt);
      if (!r.empty()) return "sequence element " + std::to_string(i) + ": " + r;
    }
    return "";
  }
  if (!got.is_tensor()) return got.is_none() ? "got an empty optional, expected a tensor" : "got a sequence, expected a tensor";
  return CompareTensors(got.tensor, want.tensor, opt);
}

TestResult RunOneTest(const std::string& dir, const Options& opt) {
  TestResult r;
  r.name = BaseName(dir);
  const std::string model_path = dir + "/model.onnx";
  auto model = ImportOnnxFile(model_path);
  if (model.ok()) {
    CollectOps(model->graph, r.ops);
    if (NeedsForeignDomain(model->graph)) {
      r.outcome = Outcome::kSkip;
      r.reason = "needs an operator outside the default ONNX domain";
      return r;
    }
  }
  auto session = Session::Load(model_path);
  if (!session.ok()) {
    r.reason = session.status().message();
    return r;
  }
  const Session::Impl& impl = (*session)->impl();
  int sets = 0;
  for (const std::string& entry : ListDir(dir)) {
    if (entry.rfind("test_data_set_", 0) != 0 || !IsDir(dir + "/" + entry)) continue;
    ++sets;
    const std::string set_dir = dir + "/" + entry;
    std::vector<std::pair<std::string, Value>> inputs;
    for (size_t i = 0; i < impl.model.graph.inputs.size(); ++i) {
      const std::string path = set_dir + "/input_" + std::to_string(i) + ".pb";
      if (!IsFile(path)) continue;  // omitted optional input
      const TensorInfo& info = impl.inputs[i];
      std::string kind = info.kind;
      auto v = ReadValueProtoFile(path, kind);
      if (!v.ok()) {
        r.reason = entry + ": " + v.status().message();
        return r;
      }
      Value value = std::move(v).value();
      // The ONNX 1.12 test data stores bfloat16 tensors as UINT16 (the same 16-bit patterns).
      if (info.dtype == DType::kBFloat16 && value.is_tensor() &&
          value.tensor.dtype() == DType::kUInt16)
        value.tensor = RetypeBits(value.tensor, DType::kBFloat16);
      inputs.emplace_back(info.name, std::move(value));
    }
    auto outs = impl.RunValues(inputs);
    if (!outs.ok()) {
      r.reason = entry + ": " + outs.status().message();
      return r;
    }
    for (size_t i = 0; i < impl.outputs.size(); ++i) {
      const std::string path = set_dir + "/output_" + std::to_string(i) + ".pb";
      if (!IsFile(path)) continue;
      auto want = ReadValueProtoFile(path, impl.outputs[i].kind);
      if (!want.ok()) {
        r.reason = entry + ": " + want.status().message();
        return r;
      }
      if (want->is_tensor() && want->tensor.dtype() == DType::kUInt16 &&
          (*outs)[i].is_tensor() && (*outs)[i].tensor.dtype() == DType::kBFloat16)
        want->tensor = RetypeBits(want->tensor, DType::kBFloat16);  // same quirk as inputs
      std::string diff = CompareValues((*outs)[i], *want, opt);
      if (!diff.empty()) {
        r.reason = entry + ": output '" + impl.outputs[i].name + "': " + diff;
        return r;
      }
    }
  }
  if (sets == 0) {
    r.reason = "no test_data_set_* folders";
    return r;
  }
  r.outcome = Outcome::kPass;
  return r;
}

// Serialization of a result through the child's pipe: outcome, ops, then reason.
std::string EncodeResult(const TestResult& r) {
  std::string s = std::to_string(static_cast<int>(r.outcome)) + "\n";
  for (const auto& op : r.ops) s += op + " ";
  s += "\n" + r.reason;
  return s;
}

TestResult DecodeResult(const std::string& name, const std::string& s) {
  TestResult r;
  r.name = name;
  size_t a = s.find('\n');
  size_t b = a == std::string::npos ? a : s.find('\n', a + 1);
  if (a == std::string::npos || b == std::string::npos) {
    r.reason = "test process returned no result";
    return r;
  }
  r.outcome = static_cast<Outcome>(std::atoi(s.substr(0, a).c_str()));
  std::istringstream ops(s.substr(a + 1, b - a - 1));
  for (std::string op; ops >> op;) r.ops.insert(op);
  r.reason = s.substr(b + 1);
  return r;
}

TestResult RunIsolated(const std::string& dir, const Options& opt) {
  int fds[2];
  if (pipe(fds) != 0) return RunOneTest(dir, opt);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return RunOneTest(dir, opt);
  }
  if (pid == 0) {
    close(fds[0]);
    std::string out = EncodeResult(RunOneTest(dir, opt));
    size_t off = 0;
    while (off < out.size()) {
      ssize_t n = write(fds[1], out.data() + off, out.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string data;
  char buf[4096];
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opt.timeout);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int pr = poll(&p, 1, static_cast<int>(left));
    if (pr <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  TestResult r;
  if (timed_out) {
    r.name = BaseName(dir);
    r.reason = "timed out after " + std::to_string(opt.timeout) + " s";
    return r;
  }
  if (WIFSIGNALED(status)) {
    r.name = BaseName(dir);
    r.reason = "CRASHED with signal " + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    return r;
  }
  return DecodeResult(BaseName(dir), data);
}

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
    else o += c;
  }
  return o;
}

bool WriteJson(const std::string& path, const std::vector<TestResult>& results) {
  std::map<std::string, std::pair<int, int>> per_op;  // passed, total
  for (const auto& r : results) {
    if (r.outcome == Outcome::kSkip) continue;
    for (const auto& op : r.ops) {
      per_op[op].second++;
      if (r.outcome == Outcome::kPass) per_op[op].first++;
    }
  }
  std::ofstream out(path);
  if (!out) return false;
  static const char* kNames[] = {"passed", "failed", "skipped"};
  int counts[3] = {0, 0, 0};
  for (const auto& r : results) counts[static_cast<int>(r.outcome)]++;
  out << "{\n  \"passed\": " << counts[0] << ", \"failed\": " << counts[1]
      << ", \"skipped\": " << counts[2] << ",\n  \"tests\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    out << "    {\"name\": \"" << JsonEscape(r.name) << "\", \"result\": \""
        << kNames[static_cast<int>(r.outcome)] << "\", \"reason\": \"" << JsonEscape(r.reason)
        << "\", \"ops\": [";
    size_t k = 0;
    for (const auto& op : r.ops) out << (k++ ? ", " : "") << "\"" << op << "\"";
    out << "]}" << (i + 1 < results.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"operators\": {\n";
  size_t k = 0;
  for (const auto& [op, pt] : per_op)
    out << "    \"" << op << "\": {\"passed\": " << pt.first << ", \"total\": " << pt.second
        << "}" << (++k < per_op.size() ? "," : "") << "\n";
  out << "  }\n}\n";
  return static_cast<bool>(out);
}

}  // namespace

int ConformanceCommand(int argc, char** argv) {
  const std::string cmd = "conformance";
  Args args;
  if (!ParseArgs(argc, argv, {"json", "rtol", "atol", "timeout"}, {"help", "quiet", "no-fork"},
                 cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.empty()) return Fail(cmd, "expected at least one test folder (see --help)");
  Options opt;
  opt.fork = !args.has("no-fork");
  try {
    if (args.options.count("rtol")) opt.rtol = std::stod(args.get("rtol"));
    if (args.options.count("atol")) opt.atol = std::stod(args.get("atol"));
  } catch (...) {
    return Fail(cmd, "--rtol and --atol expect numbers");
  }
  int64_t timeout = opt.timeout;
  if (!ParseIntOption(args, "timeout", 1, 86400, timeout, cmd)) return 1;
  opt.timeout = static_cast<int>(timeout);

  std::vector<std::string> tests;
  for (const std::string& p : args.positional) {
    if (!IsDir(p)) return Fail(cmd, "'" + p + "' is not a folder");
    if (IsFile(p + "/model.onnx")) {
      tests.push_back(p);
      continue;
    }
    size_t before = tests.size();
    for (const std::string& e : ListDir(p))
      if (IsFile(p + "/" + e + "/model.onnx")) tests.push_back(p + "/" + e);
    if (tests.size() == before)
      return Fail(cmd, "'" + p + "' holds no model.onnx and no test folders with one");
  }

  std::vector<TestResult> results;
  ProgressBar bar("conformance", static_cast<int64_t>(tests.size()));
  int passed = 0, failed = 0, skipped = 0;
  for (size_t i = 0; i < tests.size(); ++i) {
    TestResult r = opt.fork ? RunIsolated(tests[i], opt) : RunOneTest(tests[i], opt);
    if (r.outcome == Outcome::kPass) ++passed;
    if (r.outcome == Outcome::kFail) {
      ++failed;
      bar.Finish();
      if (!args.has("quiet")) std::cout << "FAIL " << r.name << ": " << r.reason << "\n";
    }
    if (r.outcome == Outcome::kSkip) ++skipped;
    results.push_back(std::move(r));
    bar.Update(static_cast<int64_t>(i + 1), BaseName(tests[i]));
  }
  bar.Finish();
  if (args.options.count("json") && !WriteJson(args.get("json"), results))
    return Fail(cmd, "cannot write '" + args.get("json") + "'");
  std::cout << passed << " passed, " << failed << " failed";
  if (skipped) std::cout << ", " << skipped << " skipped";
  std::cout << "\n";
  return failed ? 1 : 0;
}

}  // namespace privedge::cli
