// privedge bench: load time, first-run time, steady-state latency and peak memory of a model.
#include <sodium.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cli/cli.h"
#include "core/dispatch.h"
#include "model/tensor_io.h"
#include "privedge/session.h"
#include "runtime/session_impl.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp =
    R"(usage: privedge bench MODEL [INPUT_FILE] [--input NAME=FILE]... [--threads N]
                      [--runs N] [--warmup N] [--json] [--profile]

Measures MODEL (.onnx or .pmc container) on the CPU: the time Session::Load takes, the time of the first run,
then --warmup untimed runs (default 3) and --runs timed runs (default 20), reported as median,
p90 (nearest rank), min, mean and max latency in milliseconds. Memory is the process's peak
resident set (getrusage ru_maxrss) at the end, and the peak before the model was loaded, so
the model's own footprint is their difference.

Inputs are NumPy .npy or ONNX TensorProto .pb files, as for 'privedge run'. Inputs not given
are generated, deterministically (the same values on every run of the command), from their
declared types: symbolic or unknown dimensions become 1, floating-point values are uniform in
[-1, 1), integers uniform in {0, 1, 2, 3} (small, so most index inputs stay in range),
booleans random, strings empty. Initializers a model lets callers override keep their stored
values and optional inputs are left out. Inputs without a declared shape must be given as
files; models with sequence inputs cannot be benchmarked yet.

Container options as for 'privedge run': --require-signed, --keystore-dir, --keystore,
--allow-unlocked-memory (an encrypted container's keystore is opened before the load clock
starts).

--threads N   intra-op threads (0, the default, uses every online CPU)
--json        print one JSON object instead of the table: model, threads, runs, warmup,
              inputs [{name, dtype, shape, source}], load_ms, first_run_ms, median_ms, p90_ms,
              min_ms, mean_ms, max_ms, rss_before_load_kb, peak_rss_kb, model_rss_kb
--profile     also time every node of the (optimized) main graph during the timed runs and
              print each node's median milliseconds, summed by operator and kernel, then the
              slowest nodes (with --json: a "profile" array of {node, op_type, kernel,
              median_ms, mean_ms})
)";

// ---------------------------------------------------------------------------------------------
// Deterministic inputs

// splitmix64: a tiny, well-mixed generator whose stream is the same on every platform.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  double Signed() { return static_cast<double>(Next() >> 11) * 0x1.0p-52 - 1.0; }

 private:
  uint64_t state_;
};

template <class T>
void Fill(Tensor& t, Random& rng) {
  T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      p[i] = rng.Next() & 1;
    } else if constexpr (std::is_integral_v<T>) {
      p[i] = static_cast<T>(rng.Next() % 4);
    } else {
      p[i] = T(static_cast<float>(rng.Signed()));
    }
  }
}

Result<Tensor> RandomInput(const TensorInfo& info, uint64_t seed) {
  if (info.kind != "tensor")
    return InvalidArgument("input '", info.name, "' is a ", info.kind,
                           "; privedge bench feeds tensors only");
  if (!info.has_shape)
    return InvalidArgument("input '", info.name, "' has no declared shape to generate it from; ",
                           "pass it with --input NAME=FILE");
  Shape shape;
  for (const DimInfo& d : info.shape) shape.push_back(d.value >= 0 ? d.value : 1);
  PE_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(info.dtype, shape));
  if (info.dtype == DType::kString) return t;  // empty strings
  Random rng(seed);
  PE_RETURN_IF_ERROR(DispatchPod(info.dtype, [&](auto tag) -> Status {
    Fill<decltype(tag)>(t, rng);
    return Status::OK();
  }));
  return t;
}

struct BenchInput {
  std::string name;
  Tensor tensor;
  std::string source;  // the file, or "random"
};

// Reads the files named on the command line, then generates every other required input.
Result<std::vector<BenchInput>> GatherInputs(const Args& args, const Session& session) {
  std::vector<BenchInput> inputs;
  const auto& declared = session.inputs();
  PE_ASSIGN_OR_RETURN(std::vector<InputFile> files, ReadInputFiles(args, session));
  for (InputFile& f : files) inputs.push_back({f.name, std::move(f.tensor), f.path});
  const auto& overridable = session.impl().model.graph.overridable_initializers;
  for (size_t i = 0; i < declared.size(); ++i) {
    const TensorInfo& info = declared[i];
    auto given = [&](const BenchInput& b) { return b.name == info.name; };
    if (std::any_of(inputs.begin(), inputs.end(), given) || info.kind == "optional" ||
        std::count(overridable.begin(), overridable.end(), info.name))
      continue;
    PE_ASSIGN_OR_RETURN(Tensor t, RandomInput(info, 0x5eed0000 + i));
    inputs.push_back({info.name, std::move(t), "random"});
  }
  return inputs;
}

// ---------------------------------------------------------------------------------------------
// Measurement

// Peak resident set of this process so far, in KiB (Linux reports ru_maxrss in KiB).
int64_t PeakRssKb() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

double Now() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Latency {
  double median = 0, p90 = 0, min = 0, mean = 0, max = 0;
};

Latency Summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  Latency s;
  s.median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  s.p90 = ms[static_cast<size_t>(std::ceil(0.9 * static_cast<double>(n))) - 1];
  s.min = ms.front();
  s.max = ms.back();
  for (double v : ms) s.mean += v / static_cast<double>(n);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Printing

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Median time of libsodium decrypting `bytes` bytes as one XChaCha20-Poly1305 message into
// memory already faulted in: the floor an encrypted container's load is compared with.
double DecryptFloorMs(size_t bytes) {
  if (sodium_init() < 0) return -1;
  std::vector<uint8_t> plain(bytes), sealed(bytes + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  randombytes_buf(key, sizeof key);
  randombytes_buf(nonce, sizeof nonce);
  randombytes_buf(plain.data(), plain.size());
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.data(), nullptr, plain.data(), plain.size(),
                                             nullptr, 0, nullptr, nonce, key);
  std::vector<double> times;
  for (int i = 0; i < 5; ++i) {
    const double start = Now();
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), nullptr, nullptr, sealed.data(),
                                                   sealed.size(), nullptr, 0, nonce, key) != 0)
      return -1;
    times.push_back(Now() - start);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Report {
  std::string model;
  int64_t threads = 0, runs = 0, warmup = 0;
  std::vector<BenchInput> inputs;
  double load_ms = 0, first_run_ms = 0;
  double decrypt_floor_ms = -1;  // encrypted containers only
  Latency latency;
  int64_t rss_before_load_kb = 0, peak_rss_kb = 0;
  std::vector<GraphExecutor::NodeProfile> profile;  // --profile only
};

void PrintJson(const Report& r) {
  std::ostringstream os;
  os << "{\"model\": " << JsonString(r.model) << ", \"threads\": " << r.threads
     << ", \"runs\": " << r.runs << ", \"warmup\": " << r.warmup << ", \"inputs\": [";
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const BenchInput& in = r.inputs[i];
    os << (i ? ", " : "") << "{\"name\": " << JsonString(in.name)
       << ", \"dtype\": " << JsonString(DTypeName(in.tensor.dtype()))
       << ", \"shape\": " << JsonString(ShapeToString(in.tensor.shape()))
       << ", \"source\": " << JsonString(in.source) << "}";
  }
  os << "], \"load_ms\": " << Fixed(r.load_ms, 4)
     << ", \"first_run_ms\": " << Fixed(r.first_run_ms, 4)
     << ", \"median_ms\": " << Fixed(r.latency.median, 4)
     << ", \"p90_ms\": " << Fixed(r.latency.p90, 4) << ", \"min_ms\": " << Fixed(r.latency.min, 4)
     << ", \"mean_ms\": " << Fixed(r.latency.mean, 4) << ", \"max_ms\": " << Fixed(r.latency.max, 4)
     << ", \"rss_before_load_kb\": " << r.rss_before_load_kb
     << ", \"peak_rss_kb\": " << r.peak_rss_kb
     << ", \"model_rss_kb\": " << r.peak_rss_kb - r.rss_before_load_kb;
  if (r.decrypt_floor_ms >= 0)
    os << ", \"decrypt_floor_ms\": " << Fixed(r.decrypt_floor_ms, 4)
       << ", \"load_vs_decrypt_floor\": " << Fixed(r.load_ms / r.decrypt_floor_ms, 3);
  if (!r.profile.empty()) {
    os << ", \"profile\": [";
    for (size_t i = 0; i < r.profile.size(); ++i) {
      const auto& p = r.profile[i];
      os << (i ? ", " : "") << "{\"node\": " << JsonString(p.node)
         << ", \"op_type\": " << JsonString(p.op_type) << ", \"kernel\": " << JsonString(p.kernel)
         << ", \"median_ms\": " << Fixed(p.median_ms, 4)
         << ", \"mean_ms\": " << Fixed(p.total_ms / static_cast<double>(std::max<int64_t>(1, p.calls)), 4)
         << "}";
    }
    os << "]";
  }
  os << "}\n";
  std::cout << os.str();
}

void PrintText(const Report& r) {
  std::cout << "model " << r.model << ", threads " << r.threads << (r.threads ? "" : " (all CPUs)")
            << ", " << r.warmup << " warm-up and " << r.runs << " timed runs\ninputs:";
  for (const BenchInput& in : r.inputs)
    std::cout << " " << in.name << " " << DTypeName(in.tensor.dtype())
              << ShapeToString(in.tensor.shape()) << " (" << in.source << ")";
  std::cout << "\n\n";
  auto mib = [](int64_t kb) { return Fixed(static_cast<double>(kb) / 1024.0, 1) + " MiB"; };
  auto ms = [](double v) { return Fixed(v, 3) + " ms"; };
  std::vector<std::vector<std::string>> rows = {{"load", ms(r.load_ms)},
              {"first run", ms(r.first_run_ms)},
              {"median", ms(r.latency.median)},
              {"p90", ms(r.latency.p90)},
              {"min", ms(r.latency.min)},
              {"mean", ms(r.latency.mean)},
              {"max", ms(r.latency.max)},
              {"peak RSS", mib(r.peak_rss_kb)},
              {"peak RSS before load", mib(r.rss_before_load_kb)},
              {"model's share of peak RSS", mib(r.peak_rss_kb - r.rss_before_load_kb)}};
  if (r.decrypt_floor_ms >= 0) {
    rows.push_back({"libsodium decrypt floor", ms(r.decrypt_floor_ms)});
    rows.push_back({"load / decrypt floor", Fixed(r.load_ms / r.decrypt_floor_ms, 2)});
  }
  PrintTable({"measure", "value"}, rows);
  if (r.profile.empty()) return;
  double total = 0;
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, double>> by_op;
  for (const auto& p : r.profile) {
    auto& [nodes, ms] = by_op[{p.op_type, p.kernel}];
    ++nodes;
    ms += p.median_ms;
    total += p.median_ms;
  }
  std::vector<std::vector<std::string>> op_rows;
  for (const auto& [key, v] : by_op)
    op_rows.push_back({key.first, key.second, std::to_string(v.first), Fixed(v.second, 3),
                       Fixed(100.0 * v.second / std::max(total, 1e-12), 1)});
  auto by_ms = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
    return std::stod(a[3]) > std::stod(b[3]);
  };
  std::stable_sort(op_rows.begin(), op_rows.end(), by_ms);
  std::cout << "\nper operator (sums of node medians; all nodes: " << Fixed(total, 3) << " ms):\n";
  PrintTable({"operator", "kernel", "nodes", "ms", "%"}, op_rows);
  std::vector<std::vector<std::string>> node_rows;
  for (const auto& p : r.profile)
    node_rows.push_back({p.node, p.op_type, p.kernel, Fixed(p.median_ms, 3),
                         Fixed(100.0 * p.median_ms / std::max(total, 1e-12), 1)});
  std::stable_sort(node_rows.begin(), node_rows.end(), by_ms);
  if (node_rows.size() > 15) node_rows.resize(15);
  std::cout << "\nslowest nodes:\n";
  PrintTable({"node", "operator", "kernel", "ms", "%"}, node_rows);
}

}  // namespace

int BenchCommand(int argc, char** argv) {
  const std::string cmd = "bench";
  Args args;
  if (!ParseArgs(argc, argv, WithModelOptions({"input", "threads", "runs", "warmup"}, false),
                 WithModelOptions({"help", "json", "profile"}, true), cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.empty()) return Fail(cmd, "expected a MODEL path (see --help)");
  if (args.positional.size() > 2)
    return Fail(cmd, "too many positional arguments (expected MODEL [INPUT_FILE])");
  Report r;
  r.model = args.positional[0];
  r.runs = 20;
  r.warmup = 3;
  if (!ParseIntOption(args, "threads", 0, 1024, r.threads, cmd) ||
      !ParseIntOption(args, "runs", 1, 1'000'000, r.runs, cmd) ||
      !ParseIntOption(args, "warmup", 0, 1'000'000, r.warmup, cmd))
    return 1;
  SessionOptions options;
  options.threads = static_cast<int>(r.threads);
  if (Status s = ApplyModelOptions(args, r.model, options); !s.ok()) return Fail(cmd, s.message());

  r.rss_before_load_kb = PeakRssKb();
  const double t0 = Now();
  auto session = Session::Load(r.model, options);
  if (!session.ok()) return Fail(cmd, session.status().message());
  r.load_ms = Now() - t0;
  if (IsContainerFile(r.model)) {
    auto header = ReadContainerHeader(r.model);
    if (header.ok() && header->encrypted) r.decrypt_floor_ms = DecryptFloorMs(header->plain_size);
  }

  auto inputs = GatherInputs(args, **session);
  if (!inputs.ok()) return Fail(cmd, inputs.status().message());
  r.inputs = std::move(inputs).value();
  NamedTensors feed;
  for (const BenchInput& in : r.inputs) feed.emplace_back(in.name, in.tensor);

  ProgressBar progress("bench", 1 + r.warmup + r.runs);
  std::vector<double> timed;
  GraphExecutor& executor = *(*session)->impl().executor;
  for (int64_t i = 0; i < 1 + r.warmup + r.runs; ++i) {
    if (i == 1 + r.warmup && args.has("profile")) executor.SetProfiling(true);
    const double start = Now();
    auto outputs = (*session)->Run(feed);
    const double elapsed = Now() - start;
    if (!outputs.ok()) {
      progress.Finish();
      return Fail(cmd, outputs.status().message());
    }
    if (i == 0) r.first_run_ms = elapsed;
    if (i > r.warmup) timed.push_back(elapsed);
    progress.Update(i + 1, i == 0 ? "first run" : i <= r.warmup ? "warm-up" : "timed");
  }
  progress.Finish();
  r.latency = Summarize(timed);
  r.peak_rss_kb = PeakRssKb();
  r.profile = executor.Profile();

  if (args.has("json")) {
    PrintJson(r);
  } else {
    PrintText(r);
  }
  return 0;
}

}  // namespace privedge::cli
