// privedge simulate: a federated run with N virtual devices in this process.
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "fl/secure_round.h"
#include "fl/sim/linear_model.h"
#include "fl/sim/simulation.h"
#include "fl/strategy.h"
#include "privedge/privacy.h"

namespace privedge::cli {
namespace {

constexpr const char* kUsage = R"(usage: privedge simulate [options]

Federated learning with N virtual devices in one process (in-process transport), on the
simulator's built-in linear model (softmax regression) or, with --model, on-device training of
an ONNX classifier with TrainingSession. Prints a table per round and writes a PNG plot of test
accuracy per round.

  --dataset fashion-mnist   the only dataset for now
  --data-dir DIR            where its *-idx?-ubyte.gz files are
                            (default /usr/share/datasets/fashion-mnist)
  --clients N               virtual devices (default 100)
  --rounds R                rounds (default 10)
  --fraction C              fraction of devices per round (default 0.1)
  --local-epochs E          local epochs (default 1)
  --batch B                 local batch size (default 10)
  --lr LR                   local learning rate (default 0.05)
  --model FILE.onnx         train this ONNX classifier on the devices (input float32
                            [N, 1, 28, 28], [N, 28, 28] or [N, 784]; logits [N, 10]),
                            starting from its weights (default: the built-in linear model)
  --momentum M              local SGD momentum with --model, reset each round (default 0)
  --threads T               intra-op threads with --model (default 1)
  --partition P             iid | dirichlet:ALPHA | shards:K (default iid)
  --strategy NAME           fedavg fedprox fedadam fedyogi fedadagrad fedmedian trimmedmean
                            krum multikrum (default fedavg)
  --mu MU                   FedProx proximal term (default 0.01 with fedprox, else 0)
  --server-lr ETA           server step (default 1; 0.01 for fedadam/fedyogi/fedadagrad)
  --trim-beta B             trimmedmean: fraction cut from each side (default 0.1)
  --byzantine-f F           krum/multikrum: assumed attackers per round (default: expected
                            attackers per round, rounded up)
  --over-selection S        devices assigned per needed update (default 1.3)
  --min-clients M           fewest updates a round may aggregate (default half per round)
  --max-update-norm X       reject deltas with a larger L2 norm (default off)
  --dropout P               probability an assigned device drops out (default 0)
  --async-buffer K          FedBuff: asynchronous, aggregate every K updates (a "round" is
                            an aggregation); devices take 10-1000 virtual ms each
  --max-staleness S         FedBuff: refuse updates more than S versions old (default 10)
  --byzantine FRACTION      fraction of attacking devices (default 0)
  --attack scale|signflip   what attackers send: S * delta or -S * delta (default scale)
  --attack-scale S          (default 10)
  --dp MODE                 differential privacy with dpfedavg (docs/privacy.md):
                            central: the server clips each delta, sums, adds Gaussian noise
                              Z * C and divides by the expected cohort (fixed denominator);
                            local: each device clips and adds Gaussian noise Z * C itself;
                            distributed: each device clips, quantizes and adds its share of
                              discrete Gaussian noise; the server sums the integers (secure
                              aggregation in deployment) and dequantizes
  --noise-multiplier Z      noise stddev / clip norm (default 1; alias --dp-noise); with
                            --target-epsilon and no Z, the Z that just spends the budget
                            in --rounds rounds
  --clip C                  L2 clip norm of a delta (default 1; alias --dp-clip)
  --delta D                 the delta of (epsilon, delta) (default 1e-5; alias --dp-delta)
  --target-epsilon E        privacy budget: stop before a round that would exceed it
  --adaptive-clip QUANTILE  central: move C toward this quantile of the update norms (Andrew
                            et al. 2021; Z is then the total, shared with the noised count)
  --dp-quantization-scale S distributed: integers per unit (default 64 sqrt(params) / C)
  --secure-aggregation MODE off | secagg (complete graph, Bonawitz et al. 2017) | secaggplus
                            (sparse graph, Bell et al. 2020): each round runs the real SecAgg
                            stages among its devices, the server gets only the sum
                            (docs/secure-aggregation.md; default off)
  --secagg-clip X           per-coordinate range [-X, X] of a quantized delta (default 1)
  --secagg-drop-stage S     with --dropout: dropped devices fall silent at SecAgg stage S
                            (0 advertise, 1 share keys, 2 masked input, 3 unmask; default:
                            a random stage per device)
  --train-limit N           use only the first N training examples (default all)
  --test-limit N            evaluate on the first N test examples (default all)
  --seed S                  everything random follows from it (default 1)
  --json FILE               write config, rounds and counters as JSON
  --plot FILE               accuracy plot (default simulate-accuracy.png; "none" to skip)
)";

bool ParseDouble(const Args& args, const std::string& name, double lo, double hi, double& out) {
  if (!args.options.count(name)) return true;
  const std::string text = args.get(name);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v >= lo && v <= hi)) {
    Fail("simulate", "--" + name + " expects a number in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "], got '" + text + "'");
    return false;
  }
  out = v;
  return true;
}

// ---- A tiny PNG writer (RGB, one IDAT) and a line plot with a 3x5 digit font. ----

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), rgb_(static_cast<size_t>(w) * h * 3, 255) {}
  void Set(int x, int y, uint32_t c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    uint8_t* p = &rgb_[(static_cast<size_t>(y) * w_ + x) * 3];
    p[0] = c >> 16, p[1] = (c >> 8) & 255, p[2] = c & 255;
  }
  void Line(double x0, double y0, double x1, double y1, uint32_t c, int thick) {
    const int steps = static_cast<int>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      const double t = static_cast<double>(i) / steps;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0)));
      const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
      for (int dx = 0; dx < thick; ++dx)
        for (int dy = 0; dy < thick; ++dy) Set(x + dx - thick / 2, y + dy - thick / 2, c);
    }
  }
  // Digits and '%' at scale 2 (each glyph 3x5 cells).
  void Text(int x, int y, const std::string& s, uint32_t c) {
    static const uint16_t kGlyphs[11] = {0x7B6F, 0x2C97, 0x73E7, 0x73CF, 0x5BC9, 0x79CF,
                                         0x79EF, 0x7249, 0x7BEF, 0x7BCF, 0x52A5};
    for (char ch : s) {
      const int g = ch == '%' ? 10 : ch - '0';
      if (g < 0 || g > 10) continue;
      for (int r = 0; r < 5; ++r)
        for (int col = 0; col < 3; ++col)
          if (kGlyphs[g] >> (14 - (r * 3 + col)) & 1)
            for (int k = 0; k < 4; ++k) Set(x + col * 2 + k % 2, y + r * 2 + k / 2, c);
      x += 8;
    }
  }
  Status WritePng(const std::string& path) const {
    std::vector<uint8_t> raw;
    raw.reserve(rgb_.size() + h_);
    for (int y = 0; y < h_; ++y) {
      raw.push_back(0);  // filter: none
      raw.insert(raw.end(), rgb_.begin() + static_cast<size_t>(y) * w_ * 3,
                 rgb_.begin() + static_cast<size_t>(y + 1) * w_ * 3);
    }
    uLongf zsize = compressBound(raw.size());
    std::vector<uint8_t> z(zsize);
    if (compress2(z.data(), &zsize, raw.data(), raw.size(), 9) != Z_OK)
      return Internal("zlib compress failed");
    z.resize(zsize);
    std::string png("\x89PNG\r\n\x1a\n", 8);
    auto be32 = [](std::string& s, uint32_t v) {
      for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
    };
    auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
      be32(png, static_cast<uint32_t>(data.size()));
      std::string body(type, 4);
      body.append(data.begin(), data.end());
      png += body;
      be32(png, static_cast<uint32_t>(
                    crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
    };
    std::string ihdr;
    be32(ihdr, w_);
    be32(ihdr, h_);
    ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB
    chunk("IHDR", std::vector<uint8_t>(ihdr.begin(), ihdr.end()));
    chunk("IDAT", z);
    chunk("IEND", {});
    std::ofstream out(path, std::ios::binary);
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
    if (!out) return IoError("cannot write '", path, "'");
    return Status::OK();
  }

 private:
  int w_, h_;
  std::vector<uint8_t> rgb_;
};

// Test accuracy (0-100% on the y axis, grid every 10%) against the round (x axis).
Status PlotAccuracy(const std::vector<fl::sim::SimulationRound>& rounds, const std::string& path) {
  const int w = 640, h = 400, left = 50, right = 20, top = 20, bottom = 40;
  Canvas c(w, h);
  const double pw = w - left - right, ph = h - top - bottom;
  const int64_t n = static_cast<int64_t>(rounds.size());
  auto px = [&](double round) { return left + (n > 1 ? (round - 1) / (n - 1) : 0.5) * pw; };
  auto py = [&](double acc) { return top + (1 - acc) * ph; };
  for (int p = 0; p <= 10; ++p) {
    c.Line(left, py(p / 10.0), left + pw, py(p / 10.0), p == 0 ? 0x000000 : 0xDDDDDD, 1);
    if (p % 2 == 0)
      c.Text(4, static_cast<int>(py(p / 10.0)) - 5, std::to_string(p * 10) + "%", 0x000000);
  }
  c.Line(left, top, left, top + ph, 0x000000, 1);
  const int64_t tick = n <= 20 ? 1 : (n <= 100 ? 10 : 50);
  for (int64_t r = 1; r <= n; ++r)
    if (r == 1 || r == n || r % tick == 0) {
      c.Line(px(r), top + ph, px(r), top + ph + 5, 0x000000, 1);
      const std::string label = std::to_string(r);
      c.Text(static_cast<int>(px(r)) - 4 * static_cast<int>(label.size()), top + ph + 10, label,
             0x000000);
    }
  for (int64_t i = 0; i + 1 < n; ++i)
    c.Line(px(i + 1), py(rounds[i].test_accuracy), px(i + 2), py(rounds[i + 1].test_accuracy),
           0x1F5FBF, 2);
  for (int64_t i = 0; i < n; ++i)
    c.Line(px(i + 1), py(rounds[i].test_accuracy), px(i + 1), py(rounds[i].test_accuracy), 0xC03020,
           5);
  return c.WritePng(path);
}

// The DP options, each under its name and its older --dp-* alias.
bool ParseDpOptions(const Args& args, fl::StrategyConfig& st) {
  auto either = [&](const char* name, const char* alias, double lo, double hi, double& out) {
    return ParseDouble(args, alias, lo, hi, out) && ParseDouble(args, name, lo, hi, out);
  };
  return either("clip", "dp-clip", 1e-9, 1e9, st.dp_clip_norm) &&
         either("noise-multiplier", "dp-noise", 0, 1e6, st.dp_noise_multiplier) &&
         either("delta", "dp-delta", 1e-300, 0.999, st.dp_delta) &&
         ParseDouble(args, "target-epsilon", 0, 1e6, st.dp_target_epsilon) &&
         ParseDouble(args, "adaptive-clip", 0, 0.999, st.dp_adaptive_quantile) &&
         ParseDouble(args, "dp-quantization-scale", 0, 1e12, st.dp_quantization_scale);
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// A number for JSON: null when infinite (epsilon without noise).
std::string JsonNumber(double v, int digits) {
  return std::isfinite(v) ? Fixed(v, digits) : "null";
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

}  // namespace

int SimulateCommand(int argc, char** argv) {
  const std::string cmd = "simulate";
  Args args;
  if (!ParseArgs(argc, argv,
                 {"dataset",
                  "data-dir",
                  "clients",
                  "rounds",
                  "fraction",
                  "local-epochs",
                  "batch",
                  "lr",
                  "partition",
                  "strategy",
                  "mu",
                  "server-lr",
                  "trim-beta",
                  "byzantine-f",
                  "over-selection",
                  "min-clients",
                  "max-update-norm",
                  "dropout",
                  "byzantine",
                  "attack",
                  "attack-scale",
                  "train-limit",
                  "test-limit",
                  "seed",
                  "json",
                  "plot",
                  "async-buffer",
                  "max-staleness",
                  "dp",
                  "dp-clip",
                  "dp-noise",
                  "dp-delta",
                  "clip",
                  "noise-multiplier",
                  "delta",
                  "target-epsilon",
                  "adaptive-clip",
                  "dp-quantization-scale",
                  "model",
                  "momentum",
                  "threads",
                  "secure-aggregation",
                  "secagg-clip",
                  "secagg-drop-stage"},
                 {"help"}, cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.positional.empty())
    return Fail(cmd, "unexpected argument '" + args.positional[0] + "'");
  if (args.get("dataset", "fashion-mnist") != "fashion-mnist")
    return Fail(cmd, "--dataset supports fashion-mnist only, got '" + args.get("dataset") + "'");

  fl::sim::SimulationConfig config;
  config.training.learning_rate = 0.05;
  int64_t seed = 1, train_limit = 0, test_limit = 0, byz_f = -1, threads = 1, drop_stage = -1;
  double mu = -1, server_lr = -1;
  if (!ParseIntOption(args, "clients", 1, 100000, config.clients, cmd) ||
      !ParseIntOption(args, "rounds", 1, 100000, config.rounds, cmd) ||
      !ParseIntOption(args, "local-epochs", 1, 1000, config.training.local_epochs, cmd) ||
      !ParseIntOption(args, "batch", 1, 1000000, config.training.batch_size, cmd) ||
      !ParseIntOption(args, "min-clients", 1, 100000, config.min_clients, cmd) ||
      !ParseIntOption(args, "byzantine-f", 0, 100000, byz_f, cmd) ||
      !ParseIntOption(args, "async-buffer", 1, 100000, config.async_buffer_size, cmd) ||
      !ParseIntOption(args, "max-staleness", 0, 100000, config.max_staleness, cmd) ||
      !ParseIntOption(args, "train-limit", 1, 100000000, train_limit, cmd) ||
      !ParseIntOption(args, "test-limit", 1, 100000000, test_limit, cmd) ||
      !ParseIntOption(args, "seed", 0, INT64_MAX, seed, cmd) ||
      !ParseIntOption(args, "threads", 1, 256, threads, cmd) ||
      !ParseIntOption(args, "secagg-drop-stage", 0, 3, drop_stage, cmd) ||
      !ParseDouble(args, "secagg-clip", 1e-9, 1e9, config.secure_aggregation.clip) ||
      !ParseDouble(args, "momentum", 0, 0.999, config.momentum) ||
      !ParseDouble(args, "fraction", 1e-9, 1, config.fraction) ||
      !ParseDouble(args, "lr", 1e-9, 100, config.training.learning_rate) ||
      !ParseDouble(args, "mu", 0, 1e6, mu) ||
      !ParseDouble(args, "server-lr", 1e-9, 100, server_lr) ||
      !ParseDouble(args, "trim-beta", 0, 0.499, config.strategy.trim_beta) ||
      !ParseDouble(args, "over-selection", 1, 100, config.over_selection) ||
      !ParseDouble(args, "max-update-norm", 0, 1e30, config.max_update_norm) ||
      !ParseDouble(args, "dropout", 0, 0.99, config.dropout) ||
      !ParseDouble(args, "byzantine", 0, 0.49, config.byzantine_fraction) ||
      !ParseDouble(args, "attack-scale", 1e-9, 1e9, config.attack_scale) ||
      !ParseDpOptions(args, config.strategy))
    return 1;
  const bool dp = args.has("dp");
  if (dp) config.strategy.dp_mode = args.get("dp");
  if (dp && config.strategy.dp_mode != "central" && config.strategy.dp_mode != "local" &&
      config.strategy.dp_mode != "distributed")
    return Fail(cmd, "--dp expects central, local or distributed, got '" + args.get("dp") + "'");
  if (dp && args.has("strategy") && args.get("strategy") != "dpfedavg")
    return Fail(cmd, "--dp " + args.get("dp") + " aggregates with dpfedavg, not '" +
                         args.get("strategy") + "'");
  config.secure_aggregation.mode = args.get("secure-aggregation", "off");
  config.secagg_drop_stage = static_cast<int>(drop_stage);
  config.seed = static_cast<uint64_t>(seed);
  config.model_path = args.get("model", "");
  config.threads = static_cast<int>(threads);
  if (args.has("model") && config.model_path.empty()) return Fail(cmd, "--model expects a file");
  config.partition = args.get("partition", "iid");
  config.attack = args.get("attack", "scale");
  config.strategy.name = args.get("strategy", dp ? "dpfedavg" : "fedavg");
  const bool dp_run = config.strategy.name == "dpfedavg";
  config.strategy.dp_noise_seed = config.seed + 1;  // simulated noise is reproducible
  const bool fedopt = config.strategy.name == "fedadam" || config.strategy.name == "fedyogi" ||
                      config.strategy.name == "fedadagrad";
  config.strategy.server_learning_rate = server_lr > 0 ? server_lr : (fedopt ? 0.01 : 1.0);
  config.training.proximal_mu = mu >= 0 ? mu : (config.strategy.name == "fedprox" ? 0.01 : 0.0);
  const double per_round = std::max(1.0, std::round(config.fraction * config.clients));
  config.strategy.byzantine_f =
      byz_f >= 0 ? byz_f : static_cast<int64_t>(std::ceil(config.byzantine_fraction * per_round));
  if (dp_run && config.strategy.dp_target_epsilon > 0 && !args.has("noise-multiplier") &&
      !args.has("dp-noise")) {
    // The Z whose accounting (q, Z) over --rounds rounds just reaches the budget.
    const bool local = config.strategy.dp_mode == "local";
    auto z = privacy::NoiseMultiplierForEpsilon(config.strategy.dp_target_epsilon,
                                                local ? 1.0 : per_round / config.clients,
                                                config.rounds, config.strategy.dp_delta);
    if (!z.ok()) return Fail(cmd, z.status().message());
    config.strategy.dp_noise_multiplier = (local ? 2 : 1) * *z;
  }
  if (Status s = fl::ValidateStrategyConfig(config.strategy); !s.ok())
    return Fail(cmd, s.message());
  if (config.secure_aggregation.mode != "off") {
    fl::TaskConfig probe;  // the secure aggregation checks that depend on the task's options
    probe.num_params = 1;
    probe.strategy = config.strategy;
    probe.secure_aggregation = config.secure_aggregation;
    probe.clients_per_round = static_cast<int64_t>(per_round);
    probe.over_selection = config.over_selection;
    probe.async_buffer_size = config.async_buffer_size;
    if (Status s = fl::ValidateSecureAggregation(probe); !s.ok()) return Fail(cmd, s.message());
  }

  const std::string dir = args.get("data-dir", "/usr/share/datasets/fashion-mnist");
  auto train = fl::sim::ReadFashionMnist(dir, true, train_limit);
  if (!train.ok()) return Fail(cmd, train.status().message());
  auto test = fl::sim::ReadFashionMnist(dir, false, test_limit);
  if (!test.ok()) return Fail(cmd, test.status().message());

  std::unique_ptr<ProgressBar> bar;
  fl::sim::SimulationCallbacks callbacks;
  int64_t bar_round = -1;
  bool started = false;
  callbacks.progress = [&](int64_t round, int64_t done, int64_t total) {
    if (!started) {  // printed once the run is under way, so a bad option gives one line
      started = true;
      std::cerr << "simulate: " << config.clients << " devices, " << train->count << " training / "
                << test->count << " test examples, " << config.strategy.name << ", partition "
                << config.partition << ", "
                << (config.model_path.empty()
                        ? "linear model (" + std::to_string(fl::sim::LinearModelParams(*train)) +
                              " parameters)"
                        : "model " + config.model_path)
                << "\n";
    }
    if (round != bar_round) {
      if (bar) bar->Finish();
      bar = std::make_unique<ProgressBar>("round " + std::to_string(round), total);
      bar_round = round;
    }
    bar->Update(done, "training");
  };
  callbacks.round_done = [&](const fl::sim::SimulationRound& r) {
    if (bar) bar->Finish();
    bar.reset();
    bar_round = -1;
    std::cerr << "round " << r.round << ": " << r.participants << " updates, test accuracy "
              << Fixed(100 * r.test_accuracy, 2) << "%\n";
  };
  auto result = fl::sim::RunSimulation(config, *train, *test, callbacks);
  if (bar) bar->Finish();
  if (!result.ok()) return Fail(cmd, result.status().message());

  std::vector<std::vector<std::string>> rows;
  for (const auto& r : result->rounds) {
    rows.push_back({std::to_string(r.round), std::to_string(r.attempts),
                    std::to_string(r.participants), std::to_string(r.dropped),
                    std::to_string(r.rejected), std::to_string(r.late), Fixed(r.train_loss, 4),
                    Fixed(100 * r.test_accuracy, 2)});
    if (dp_run) {
      rows.back().push_back(Fixed(r.epsilon, 4));
      rows.back().push_back(Fixed(r.clip_norm, 4));
    }
  }
  std::vector<std::string> header = {"round",    "attempts", "participants", "dropped",
                                     "rejected", "late",     "train_loss",   "test_acc%"};
  if (dp_run) header.insert(header.end(), {"epsilon", "clip"});
  PrintTable(header, rows);
  std::string counters;
  for (const auto& [name, value] : result->counters)
    counters += " " + name + "=" + std::to_string(value);
  std::cout << "counters:" << counters << "\nfinal model " << result->final_digest << "\n";

  if (dp_run) {
    const auto& st = config.strategy;
    const double eps = result->rounds.empty() ? 0 : result->rounds.back().epsilon;
    std::cout << "differential privacy (" << st.dp_mode << ", "
              << (st.dp_mode == "local" ? "per device, each round" : "device level")
              << "): epsilon " << Fixed(eps, 4) << " at delta " << st.dp_delta << " after "
              << result->rounds.size() << " rounds (q = " << Fixed(result->sampling_rate, 4)
              << ", z = " << Fixed(st.dp_noise_multiplier, 4) << ", clip " << st.dp_clip_norm
              << (st.dp_adaptive_quantile > 0 ? " adaptive" : "") << ")\n";
    if (result->budget_exhausted) std::cout << "stopped: " << result->stop_reason << "\n";
  }
  const std::string plot = args.get("plot", "simulate-accuracy.png");
  if (plot != "none" && !result->rounds.empty()) {
    if (Status s = PlotAccuracy(result->rounds, plot); !s.ok()) return Fail(cmd, s.message());
    std::cerr << "plot: " << plot << "\n";
  }
  if (args.has("json")) {
    std::ostringstream js;
    js << "{\"config\": {\"clients\": " << config.clients << ", \"rounds\": " << config.rounds
       << ", \"fraction\": " << config.fraction
       << ", \"local_epochs\": " << config.training.local_epochs
       << ", \"batch\": " << config.training.batch_size
       << ", \"lr\": " << config.training.learning_rate
       << ", \"model\": " << JsonString(config.model_path.empty() ? "linear" : config.model_path)
       << ", \"momentum\": " << config.momentum
       << ", \"partition\": " << JsonString(config.partition)
       << ", \"strategy\": " << JsonString(config.strategy.name)
       << ", \"dropout\": " << config.dropout << ", \"byzantine\": " << config.byzantine_fraction
       << ", \"secure_aggregation\": " << JsonString(config.secure_aggregation.mode)
       << ", \"attack\": " << JsonString(config.attack) << ", \"seed\": " << config.seed << "},\n";
    if (dp_run) {
      const auto& st = config.strategy;
      js << " \"dp\": {\"mode\": " << JsonString(st.dp_mode)
         << ", \"noise_multiplier\": " << st.dp_noise_multiplier
         << ", \"clip\": " << st.dp_clip_norm
         << ", \"adaptive_quantile\": " << st.dp_adaptive_quantile << ", \"delta\": " << st.dp_delta
         << ", \"target_epsilon\": " << st.dp_target_epsilon
         << ", \"sampling_rate\": " << result->sampling_rate
         << ", \"accounting_noise_multiplier\": " << result->accounting_noise_multiplier
         << ", \"epsilon\": "
         << JsonNumber(result->rounds.empty() ? 0.0 : result->rounds.back().epsilon, 6)
         << ", \"budget_exhausted\": " << (result->budget_exhausted ? "true" : "false")
         << ", \"stop_reason\": " << JsonString(result->stop_reason) << "},\n";
    }
    js << " \"rounds\": [";
    for (size_t i = 0; i < result->rounds.size(); ++i) {
      const auto& r = result->rounds[i];
      js << (i ? ",\n  " : "\n  ") << "{\"round\": " << r.round << ", \"attempts\": " << r.attempts
         << ", \"assigned\": " << r.assigned << ", \"participants\": " << r.participants
         << ", \"dropped\": " << r.dropped << ", \"rejected\": " << r.rejected
         << ", \"late\": " << r.late << ", \"train_loss\": " << Fixed(r.train_loss, 6)
         << ", \"test_accuracy\": " << Fixed(r.test_accuracy, 6)
         << ", \"test_loss\": " << Fixed(r.test_loss, 6);
      if (dp_run)
        js << ", \"epsilon\": " << JsonNumber(r.epsilon, 6)
           << ", \"clip\": " << Fixed(r.clip_norm, 6);
      js << "}";
    }
    js << "],\n \"counters\": {";
    bool first = true;
    for (const auto& [name, value] : result->counters) {
      js << (first ? "" : ", ") << JsonString(name) << ": " << value;
      first = false;
    }
    js << "},\n \"task_failed\": " << (result->task_failed ? "true" : "false")
       << ",\n \"final_digest\": " << JsonString(result->final_digest) << "}\n";
    std::ofstream out(args.get("json"));
    out << js.str();
    if (!out) return Fail(cmd, "cannot write '" + args.get("json") + "'");
  }
  if (result->task_failed) return Fail(cmd, "the task failed: a round was abandoned too often");
  return 0;
}

}  // namespace privedge::cli
