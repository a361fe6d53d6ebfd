// privedge train / privedge eval: train a model on .npy data on this device, or evaluate it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <numeric>
#include <random>

#include "cli/cli.h"
#include "model/tensor_io.h"
#include "privedge/training.h"

namespace privedge::cli {
namespace {

constexpr const char* kTrainUsage =
    R"(usage: privedge train MODEL --data FILE --labels FILE [options]

Trains MODEL (ONNX) on this device. FILE is .npy (or .pb): data [N, ...] float32 for the model's
input, labels [N] int64 class ids (cross-entropy) or float32 shaped like the output.

options:
  --loss cross-entropy|bce|bce-logits|mse   loss on the first output (default cross-entropy)
  --epochs E          passes over the data (default 1)
  --batch B           examples per step (default 32)
  --lr LR             learning rate (default 0.01)
  --optimizer sgd|adam|adamw   (default sgd)
  --momentum M        SGD momentum (default 0.9 for sgd)
  --weight-decay WD   (default 0)
  --freeze PREFIX     do not train initializers whose names start with PREFIX (repeatable)
  --fedprox-mu MU     proximal term towards the initial weights (default 0)
  --clip-norm C       clip the gradient to global L2 norm C (default off)
  --seed S            shuffling and dropout seed (default 0)
  --threads N         intra-op threads (default 1)
  --out FILE          write the trained model (.onnx)
  --delta FILE        write trained - initial weights as a float32 .npy vector
  --json              print the per-epoch results as JSON lines
)";

constexpr const char* kEvalUsage =
    R"(usage: privedge eval MODEL --data FILE --labels FILE [--loss L] [--batch B] [--threads N]
                     [--json]

Prints the mean loss and the accuracy of MODEL on the data (no training).
)";

Result<LossKind> ParseLoss(const std::string& s) {
  if (s == "cross-entropy") return LossKind::kSoftmaxCrossEntropy;
  if (s == "bce") return LossKind::kBinaryCrossEntropy;
  if (s == "bce-logits") return LossKind::kBinaryCrossEntropyWithLogits;
  if (s == "mse") return LossKind::kMeanSquaredError;
  return InvalidArgument("--loss must be cross-entropy, bce, bce-logits or mse, got '", s, "'");
}

Result<float> ParseFloat(const Args& args, const std::string& name, float def) {
  const std::string v = args.get(name, "");
  if (v.empty()) return def;
  char* end = nullptr;
  const float f = std::strtof(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !std::isfinite(f) || f < 0)
    return InvalidArgument("--", name, " must be a non-negative number, got '", v, "'");
  return f;
}

// Rows [begin, end) of `t` along axis 0, in the order given by `order`.
Tensor Rows(const Tensor& t, const std::vector<int64_t>& order, int64_t begin, int64_t end) {
  Shape shape = t.shape();
  shape[0] = end - begin;
  Tensor out(t.dtype(), shape);
  const size_t row = t.nbytes() / static_cast<size_t>(t.dim(0));
  for (int64_t i = begin; i < end; ++i)
    std::memcpy(static_cast<char*>(out.raw_data()) + (i - begin) * row,
                static_cast<const char*>(t.raw_data()) + order[i] * row, row);
  return out;
}

struct Data {
  Tensor x, y;
};

Result<Data> ReadData(const Args& args) {
  if (!args.has("data") || !args.has("labels"))
    return InvalidArgument("--data and --labels are required");
  Data d;
  PE_ASSIGN_OR_RETURN(d.x, ReadTensorFile(args.get("data")));
  PE_ASSIGN_OR_RETURN(d.y, ReadTensorFile(args.get("labels")));
  if (d.x.rank() < 1 || d.y.rank() < 1 || d.x.dim(0) != d.y.dim(0) || d.x.dim(0) == 0)
    return InvalidArgument("data ", ShapeToString(d.x.shape()), " and labels ",
                           ShapeToString(d.y.shape()), " must have the same number (> 0) of rows");
  if (d.x.dtype() != DType::kFloat32)
    return InvalidArgument("data must be float32, got ", DTypeName(d.x.dtype()));
  return d;
}

Result<std::unique_ptr<TrainingSession>> Open(const Args& args, TrainingOptions& options,
                                              int64_t& batch) {
  PE_ASSIGN_OR_RETURN(options.loss, ParseLoss(args.get("loss", "cross-entropy")));
  int64_t threads = 1;
  if (!ParseIntOption(args, "threads", 1, 256, threads, "train"))
    return InvalidArgument("bad --threads");
  if (!ParseIntOption(args, "batch", 1, 1 << 20, batch, "train"))
    return InvalidArgument("bad --batch");
  options.threads = static_cast<int>(threads);
  return TrainingSession::Create(args.positional[0], options);
}

std::string ResultLine(bool json, int epoch, const StepResult& r, double examples_per_s,
                       double median_ms) {
  char buf[256];
  const double acc = r.count ? static_cast<double>(r.correct) / r.count : 0;
  if (json) {
    std::snprintf(buf, sizeof(buf),
                  "{\"epoch\": %d, \"loss\": %.6f, \"accuracy\": %.6f, \"examples_per_s\": %.1f, "
                  "\"median_step_ms\": %.3f}",
                  epoch, r.loss, acc, examples_per_s, median_ms);
  } else {
    std::snprintf(buf, sizeof(buf),
                  "epoch %d: loss %.4f  accuracy %.4f  %.0f examples/s  median step %.2f ms", epoch,
                  r.loss, acc, examples_per_s, median_ms);
  }
  return buf;
}

}  // namespace

int TrainCommand(int argc, char** argv) {
  Args args;
  if (!ParseArgs(
          argc, argv,
          {"data", "labels", "loss", "epochs", "batch", "lr", "optimizer", "momentum",
           "weight-decay", "freeze", "fedprox-mu", "clip-norm", "seed", "threads", "out", "delta"},
          {"json", "help"}, "train", args))
    return 1;
  if (args.has("help")) {
    std::cout << kTrainUsage;
    return 0;
  }
  if (args.positional.size() != 1)
    return Fail("train", "expected one MODEL (see privedge train --help)");
  TrainingOptions options;
  const std::string opt = args.get("optimizer", "sgd");
  if (opt == "sgd") {
    options.optimizer.kind = OptimizerKind::kSgd;
  } else if (opt == "adam") {
    options.optimizer.kind = OptimizerKind::kAdam;
  } else if (opt == "adamw") {
    options.optimizer.kind = OptimizerKind::kAdamW;
  } else {
    return Fail("train", "--optimizer must be sgd, adam or adamw, got '" + opt + "'");
  }
  auto lr = ParseFloat(args, "lr", 0.01f);
  auto momentum = ParseFloat(args, "momentum", opt == "sgd" ? 0.9f : 0.0f);
  auto wd = ParseFloat(args, "weight-decay", 0.0f);
  auto mu = ParseFloat(args, "fedprox-mu", 0.0f);
  auto clip = ParseFloat(args, "clip-norm", 0.0f);
  for (const auto* r : {&lr, &momentum, &wd, &mu, &clip})
    if (!r->ok()) return Fail("train", r->status().message());
  options.optimizer.learning_rate = *lr;
  options.optimizer.momentum = *momentum;
  options.optimizer.weight_decay = *wd;
  options.fedprox_mu = *mu;
  options.clip_global_norm = *clip;
  options.freeze_prefixes = args.get_all("freeze");
  int64_t epochs = 1, seed = 0, batch = 32;
  if (!ParseIntOption(args, "epochs", 1, 1000000, epochs, "train")) return 1;
  if (!ParseIntOption(args, "seed", 0, INT64_MAX, seed, "train")) return 1;
  options.seed = static_cast<uint64_t>(seed);
  auto data = ReadData(args);
  if (!data.ok()) return Fail("train", data.status().message());
  auto session = Open(args, options, batch);
  if (!session.ok()) return Fail("train", session.status().message());
  const std::vector<std::string> inputs = (*session)->InputNames();
  if (inputs.size() != 1)
    return Fail("train",
                "the model must have exactly one input, it has " + std::to_string(inputs.size()));
  const int64_t n = data->x.dim(0);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  const bool json = args.has("json");
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs), n);
    StepResult total;
    double loss_sum = 0;
    std::vector<double> step_ms;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t e = std::min(n, b + batch);
      const auto t0 = std::chrono::steady_clock::now();
      auto r = (*session)->TrainStep({{inputs[0], Rows(data->x, order, b, e)}},
                                     Rows(data->y, order, b, e));
      step_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!r.ok()) {
        bar.Finish();
        return Fail("train", "examples " + std::to_string(b) + "-" + std::to_string(e) + ": " +
                                 r.status().message());
      }
      loss_sum += r->loss * (e - b);
      total.correct += r->correct;
      total.count += r->count;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      char note[96];
      std::snprintf(note, sizeof(note), "loss %.4f acc %.3f %.0f ex/s", loss_sum / e,
                    total.count ? static_cast<double>(total.correct) / total.count : 0.0, e / secs);
      bar.Update(e, note);
    }
    bar.Finish();
    total.loss = loss_sum / n;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::sort(step_ms.begin(), step_ms.end());
    std::cout << ResultLine(json, static_cast<int>(epoch), total, n / secs,
                            step_ms[step_ms.size() / 2])
              << "\n";
  }
  if (args.has("out")) {
    Status s = (*session)->ExportOnnx(args.get("out"));
    if (!s.ok()) return Fail("train", s.message());
  }
  if (args.has("delta")) {
    const std::vector<float> delta = (*session)->Delta();
    Status s = WriteNpy(args.get("delta"),
                        Tensor::FromVector<float>(delta, {static_cast<int64_t>(delta.size())}));
    if (!s.ok()) return Fail("train", s.message());
  }
  return 0;
}

int EvalCommand(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, {"data", "labels", "loss", "batch", "threads"}, {"json", "help"},
                 "eval", args))
    return 1;
  if (args.has("help")) {
    std::cout << kEvalUsage;
    return 0;
  }
  if (args.positional.size() != 1)
    return Fail("eval", "expected one MODEL (see privedge eval --help)");
  auto data = ReadData(args);
  if (!data.ok()) return Fail("eval", data.status().message());
  TrainingOptions options;
  int64_t batch = 256;
  auto session = Open(args, options, batch);
  if (!session.ok()) return Fail("eval", session.status().message());
  const std::vector<std::string> inputs = (*session)->InputNames();
  if (inputs.size() != 1) return Fail("eval", "the model must have exactly one input");
  const int64_t n = data->x.dim(0);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  double loss_sum = 0;
  StepResult total;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min(n, b + batch);
    auto r =
        (*session)->Evaluate({{inputs[0], Rows(data->x, order, b, e)}}, Rows(data->y, order, b, e));
    if (!r.ok()) return Fail("eval", r.status().message());
    loss_sum += r->loss * (e - b);
    total.correct += r->correct;
    total.count += r->count;
  }
  const double acc = total.count ? static_cast<double>(total.correct) / total.count : 0;
  if (args.has("json")) {
    std::printf("{\"loss\": %.6f, \"accuracy\": %.6f, \"examples\": %lld}\n", loss_sum / n, acc,
                static_cast<long long>(n));
  } else {
    std::printf("loss %.4f  accuracy %.4f  (%lld examples)\n", loss_sum / n, acc,
                static_cast<long long>(n));
  }
  return 0;
}

}  // namespace privedge::cli
