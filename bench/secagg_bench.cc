// secagg_bench: compute time and bytes per device of one SecAgg+ round, all in one process.
//
//   build/secagg_bench --n 1000 --d 100000 --dropout 0.1 --runs 3
//
// Every client and the server run for real (key agreement, Shamir, AES-CTR masks, the byte
// codec); the dropped fraction of clients drops after sharing keys, before sending its masked
// input: the costliest case for the server, which must recover their mask keys and regenerate
// their pairwise masks. Device time is the median over surviving devices of the time spent in
// that device's state machine and codec across the round; server time is the total time in
// the server's. Both are thread CPU time, so other load on a shared machine does not count.
// The sum is checked against the plain sum of the survivors' inputs.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "secagg/graph.h"
#include "secagg/simulation.h"

using namespace privedge;
using namespace privedge::secagg;

namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int Usage() {
  std::fprintf(stderr,
               "usage: secagg_bench --n N --d D [--dropout F] [--bits B] [--runs R] "
               "[--complete] [--corruption G]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t n = 0, d = 0, bits = 32, runs = 3;
  double dropout = 0, corruption = 0.05;
  bool complete = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--complete") {
      complete = true;
      continue;
    }
    if ((v = next()) == nullptr) return Usage();
    if (a == "--n")
      n = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--d")
      d = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--dropout")
      dropout = std::strtod(v, nullptr);
    else if (a == "--corruption")
      corruption = std::strtod(v, nullptr);
    else if (a == "--bits")
      bits = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    else if (a == "--runs")
      runs = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    else
      return Usage();
  }
  if (n == 0 || d == 0 || runs == 0) return Usage();
  // The graph is designed for at least 10% dropouts, so 0% and 10% runs share parameters.
  auto params = ChooseGraphParams({.num_clients = n,
                                   .dropout_rate = std::max(dropout, 0.1),
                                   .corruption_rate = corruption,
                                   .complete = complete});
  if (!params.ok()) {
    std::fprintf(stderr, "secagg_bench: %s\n", params.status().ToString().c_str());
    return 1;
  }
  std::vector<double> server_s, device_s, device_max_s;
  std::vector<double> sent, received;
  for (uint32_t run = 0; run < runs; ++run) {
    SimulationOptions o;
    o.config.round_id = run + 1;
    o.config.num_clients = n;
    o.config.degree = params->degree;
    o.config.threshold = params->threshold;
    o.config.bits = bits;
    o.config.length = d;
    o.config.graph_seed[0] = static_cast<uint8_t>(run);
    const uint64_t mask = ModulusMask(bits);
    o.input = [&](uint32_t u) {
      std::vector<uint64_t> x(d);
      for (uint32_t i = 0; i < d; ++i) x[i] = Mix((uint64_t{u} << 32) | i) & mask;
      return x;
    };
    o.drop_at.assign(n, kNeverDrops);
    const uint32_t dropped = static_cast<uint32_t>(dropout * n + 0.5);
    std::vector<uint32_t> order(n);
    for (uint32_t u = 0; u < n; ++u) order[u] = u;
    for (uint32_t j = 0; j < dropped; ++j) {
      std::swap(order[j], order[j + Mix(run * 7919 + j) % (n - j)]);
      o.drop_at[order[j]] = 2;
    }
    auto report = SimulateRound(o);
    if (!report.ok()) {
      std::fprintf(stderr, "secagg_bench: %s\n", report.status().ToString().c_str());
      return 1;
    }
    if (!report->completed) {
      std::fprintf(stderr, "secagg_bench: round aborted: %s\n", report->server_abort.c_str());
      return 1;
    }
    std::vector<uint64_t> want(d, 0);
    for (uint32_t u : report->contributors) {
      for (uint32_t i = 0; i < d; ++i) want[i] += Mix((uint64_t{u} << 32) | i) & mask;
    }
    for (auto& w : want) w &= mask;
    if (want != report->sum) {
      std::fprintf(stderr, "secagg_bench: WRONG SUM\n");
      return 1;
    }
    std::vector<double> dev, snt, rcv;
    for (uint32_t u : report->contributors) {
      dev.push_back(report->client_seconds[u]);
      snt.push_back(static_cast<double>(report->client_bytes_sent[u]));
      rcv.push_back(static_cast<double>(report->client_bytes_received[u]));
    }
    server_s.push_back(report->server_seconds);
    device_s.push_back(Median(dev));
    device_max_s.push_back(*std::max_element(dev.begin(), dev.end()));
    sent.push_back(Median(snt));
    received.push_back(Median(rcv));
    std::fprintf(stderr, "run %u: server %.3f s, device median %.4f s, %zu contributors\n", run + 1,
                 report->server_seconds, Median(dev), report->contributors.size());
  }
  std::printf("| %u | %u | %.0f%% | %u | %u | %u | %.3f | %.4f | %.4f | %.0f | %.0f | %u |\n", n, d,
              dropout * 100, params->degree, params->threshold, bits, Median(server_s),
              Median(device_s), Median(device_max_s), Median(sent) / 1024, Median(received) / 1024,
              runs);
  return 0;
}
