// Cost of IsolatedSession per inference: the same model and inputs run in-process and in the
// sandboxed worker, interleaved run by run so that machine noise hits both alike.
// usage: privedge_isolation_bench [RUNS]   (from the build folder; needs the test data)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model/tensor_io.h"
#include "privedge/isolated_session.h"
#include "privedge/session.h"

namespace {

using namespace privedge;

double Microseconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

int Bench(const std::string& label, const std::string& model, const NamedTensors& inputs,
          int runs) {
  SessionOptions options;
  options.threads = 1;
  auto local = Session::Load(model, options);
  IsolatedSessionOptions iso_options;
  iso_options.session = options;
  auto isolated = IsolatedSession::Load(model, iso_options);
  if (!local.ok() || !isolated.ok()) {
    std::fprintf(stderr, "%s: %s\n", model.c_str(),
                 (local.ok() ? isolated.status() : local.status()).message().c_str());
    return 1;
  }
  size_t in_bytes = 0, out_bytes = 0;
  for (const auto& [n, t] : inputs) in_bytes += t.nbytes();
  std::vector<double> a, b;
  for (int i = 0; i < runs + 10; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r1 = (*local)->Run(inputs);
    auto t1 = std::chrono::steady_clock::now();
    auto r2 = (*isolated)->Run(inputs);
    auto t2 = std::chrono::steady_clock::now();
    if (!r1.ok() || !r2.ok()) {
      std::fprintf(stderr, "run failed: %s\n",
                   (r1.ok() ? r2.status() : r1.status()).message().c_str());
      return 1;
    }
    if (i == 0)
      for (const auto& [n, t] : *r2) out_bytes += t.nbytes();
    if (i < 10) continue;  // warm-up
    a.push_back(Microseconds(t1 - t0));
    b.push_back(Microseconds(t2 - t1));
  }
  std::vector<double> diff(a.size());
  for (size_t i = 0; i < a.size(); ++i) diff[i] = b[i] - a[i];
  std::printf("| %s | %zu / %zu | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", label.c_str(),
              in_bytes, out_bytes, runs, Percentile(a, 0.5), Percentile(b, 0.5),
              Percentile(diff, 0.5), Percentile(a, 0.9), Percentile(b, 0.9));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  RunIsolatedWorkerIfRequested(argc, argv);
  const int runs = argc > 1 ? std::atoi(argv[1]) : 2000;
  const std::string src = PRIVEDGE_SOURCE_DIR;
  const std::string node = "/usr/share/libonnx-testdata/data/node/";
  std::printf(
      "| model | input / output bytes | runs | in-process median us | isolated median us | "
      "median of (isolated - in-process) us | in-process p90 us | isolated p90 us |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  int rc = 0;
  auto relu = ReadTensorFile(node + "test_relu/test_data_set_0/input_0.pb");
  if (relu.ok()) rc |= Bench("relu [3,4,5]", node + "test_relu/model.onnx", {{"x", *relu}}, runs);
  for (const char* m : {"lstm", "mobilenet_v2_w035"}) {
    const std::string base = src + "/tests/data/models/" + m;
    auto session = Session::Load(base + ".onnx");
    auto input = ReadNpy(base + ".input.npy");
    if (!session.ok() || !input.ok()) return 1;
    rc |= Bench(m, base + ".onnx", {{(*session)->inputs()[0].name, *input}}, runs / 10);
  }
  return rc;
}
