// privedge train / privedge eval: train a model on this device from IDX, CSV or .npy data, or
// evaluate it.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <set>

#include "cli/cli.h"
#include "model/tensor_io.h"
#include "privedge/dataset.h"
#include "privedge/secure_store.h"
#include "privedge/training.h"

namespace privedge::cli {
namespace {

constexpr const char* kDataHelp =
    R"(Data. --data and --labels are IDX (MNIST/Fashion-MNIST), .npy or CSV files, gzip-compressed
or not, recognized by content. Features become float32; 8- and 16-bit integers are divided by
their type's maximum (uint8 pixels land in [0, 1]) unless --no-scale; then --mean/--stddev, when
given, normalize x = (x - mean) / stddev (one value, or one per channel/column). Each example is
reshaped to the model input's declared shape without the batch dimension when the model declares
it ([N, 28, 28] images feed a [batch, 1, 28, 28] input). Labels: class ids (integers, or whole
floats) for cross-entropy; float targets otherwise, [N] or shaped like the output. A CSV --data
may hold the labels in one column: --label-column NAME|INDEX instead of --labels.
Or --store DIR --silo NAME: the examples `privedge dataset import` put in a silo of the
encrypted secure store (the keystore options select the device key that opens it).

data options:
  --no-scale          keep integer features as they are
  --mean V[,V...]     subtract (after scaling)
  --stddev V[,V...]   divide (after --mean)
  --label-column C    the label column of a CSV --data (header name or 0-based index; -1 last)
)";

constexpr const char* kTrainUsage =
    R"(usage: privedge train MODEL --data FILE --labels FILE [options]

Trains MODEL on this device, printing one line per epoch (learning rate, loss, accuracy,
examples/s, median step time) and a progress bar on a terminal. MODEL is ONNX or a model
container (.pmc, plain or encrypted; --keystore, --keystore-dir, --require-signed,
--allow-unlocked-memory as for privedge run).

options:
  --loss cross-entropy|bce|bce-logits|mse   loss on the first output (default cross-entropy)
  --epochs E          passes over the data (default 1)
  --batch B           examples per step (default 32)
  --lr LR             learning rate (default 0.01)
  --lr-schedule L1,L2,...  learning rate of epoch 1, 2, ...; the last one holds afterwards
  --optimizer sgd|adam|adamw   (default sgd)
  --momentum M        SGD momentum (default 0.9 for sgd)
  --nesterov          Nesterov momentum (SGD)
  --weight-decay WD   (default 0)
  --freeze PREFIX     do not train initializers whose names start with PREFIX (repeatable)
  --fedprox-mu MU     proximal term towards the initial weights (default 0)
  --clip-norm C       clip the gradient to global L2 norm C (default off)
  --seed S            shuffling and dropout seed (default 0); the order of epoch e depends only
                      on S and e
  --threads N         intra-op threads (default 1)
  --test-data FILE --test-labels FILE   evaluate on these after every epoch
  --test-silo NAME    evaluate on this silo of --store after every epoch
  --max-steps N       stop after N steps (for timing: --json reports the median step time)
  --checkpoint FILE   write a checkpoint after every epoch
  --resume            continue from --checkpoint when it exists (at the epoch it ended)
  --encrypt-checkpoint  seal the checkpoint with a key wrapped by the device keystore
                      (--keystore, --keystore-dir, --passphrase-file select it)
  --out FILE          write the trained model: .onnx, or a container when FILE ends in .pmc
                      (encrypted for this device with --encrypt-out, and always when MODEL is
                      an encrypted container)
  --delta FILE        write trained - initial weights as a float32 .npy vector
  --json              print the per-epoch results as JSON lines

)";

constexpr const char* kEvalUsage =
    R"(usage: privedge eval MODEL --data FILE --labels FILE [--loss L] [--batch B] [--threads N]
                     [--json] [data options]

Prints the mean loss and the accuracy of MODEL on the data (no training).

)";

Result<LossKind> ParseLoss(const std::string& s) {
  if (s == "cross-entropy") return LossKind::kSoftmaxCrossEntropy;
  if (s == "bce") return LossKind::kBinaryCrossEntropy;
  if (s == "bce-logits") return LossKind::kBinaryCrossEntropyWithLogits;
  if (s == "mse") return LossKind::kMeanSquaredError;
  return InvalidArgument("--loss must be cross-entropy, bce, bce-logits or mse, got '", s, "'");
}

Result<float> ParseNumber(const std::string& name, const std::string& v, bool non_negative) {
  char* end = nullptr;
  const float f = std::strtof(v.c_str(), &end);
  if (v.empty() || end == v.c_str() || *end != '\0' || !std::isfinite(f) || (non_negative && f < 0))
    return InvalidArgument("--", name, " must be a ", non_negative ? "non-negative " : "",
                           "number, got '", v, "'");
  return f;
}

Result<float> ParseFloat(const Args& args, const std::string& name, float def) {
  if (!args.has(name)) return def;
  return ParseNumber(name, args.get(name), true);
}

// "0.05,0.02" -> {0.05, 0.02}.
Result<std::vector<float>> ParseList(const Args& args, const std::string& name, bool non_negative) {
  std::vector<float> out;
  if (!args.has(name)) return out;
  const std::string v = args.get(name);
  size_t begin = 0;
  while (true) {
    const size_t comma = v.find(',', begin);
    PE_ASSIGN_OR_RETURN(float f, ParseNumber(name, v.substr(begin, comma - begin), non_negative));
    out.push_back(f);
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return out;
}

// Rows `order[begin..end)` of `t` along axis 0.
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

// The dataset options the data flags describe, for a model whose input has `input_shape`.
Result<DatasetOptions> DataOptions(const Args& args, LossKind loss, const Shape& input_shape) {
  DatasetOptions o;
  o.scale_integers = !args.has("no-scale");
  PE_ASSIGN_OR_RETURN(o.mean, ParseList(args, "mean", false));
  PE_ASSIGN_OR_RETURN(o.stddev, ParseList(args, "stddev", true));
  if (o.mean.empty() != o.stddev.empty()) return InvalidArgument("--mean and --stddev go together");
  if (args.has("label-column")) {
    const std::string c = args.get("label-column");
    char* end = nullptr;
    const long long i = std::strtoll(c.c_str(), &end, 10);
    if (!c.empty() && *end == '\0') {
      o.csv.has_label_index = true;
      o.csv.label_index = i;
    } else {
      o.csv.label_name = c;
    }
  }
  o.label_kind =
      loss == LossKind::kSoftmaxCrossEntropy ? LabelKind::kClassIndex : LabelKind::kFloat;
  if (input_shape.size() >= 2 &&
      std::all_of(input_shape.begin() + 1, input_shape.end(), [](int64_t d) { return d > 0; }))
    o.example_shape.assign(input_shape.begin() + 1, input_shape.end());
  return o;
}

// The examples of silo --<silo_key> of the secure store --store.
Result<Dataset> LoadSilo(const Args& args, const std::string& silo_key,
                         const DatasetOptions& options) {
  if (!args.has("store")) return InvalidArgument("--", silo_key, " needs --store DIR");
  PE_ASSIGN_OR_RETURN(std::shared_ptr<Keystore> keystore,
                      OpenKeystoreFromArgs(args, /*create_if_missing=*/false));
  PE_ASSIGN_OR_RETURN(std::unique_ptr<SecureStore> store,
                      SecureStore::Open(args.get("store"), std::move(keystore)));
  return LoadDatasetFromStore(*store, args.get(silo_key), options);
}

// Loads --<data_key> and --<labels_key>, or the silo --<silo_key> of --store.
Result<Dataset> LoadData(const Args& args, const std::string& data_key,
                         const std::string& labels_key, const std::string& silo_key,
                         const DatasetOptions& options, LossKind loss) {
  if (args.has(silo_key)) {
    if (args.has(data_key) || args.has(labels_key))
      return InvalidArgument("--", silo_key, " replaces --", data_key, " and --", labels_key,
                             ": give one or the other");
    return LoadSilo(args, silo_key, options);
  }
  const std::string data = args.get(data_key), labels = args.get(labels_key);
  if (data.empty() || (labels.empty() && !args.has("label-column")))
    return InvalidArgument("--", data_key, " and --", labels_key,
                           " are required (or --label-column with CSV data, or --store DIR --",
                           silo_key, " NAME)");
  if (!labels.empty() && loss != LossKind::kSoftmaxCrossEntropy) {
    // Float targets shaped like the output ([N, K]): the dataset loader takes [N] labels only.
    auto y = ReadTensorData(labels, options.limits);
    if (y.ok() && y->rank() >= 2) {
      if (y->dtype() != DType::kFloat32)
        return InvalidArgument(labels, ": targets of rank ", y->rank(), " must be float32, got ",
                               DTypeName(y->dtype()));
      PE_ASSIGN_OR_RETURN(Tensor x, ReadTensorData(data, options.limits));
      if (x.rank() < 1 || x.dim(0) != y->dim(0))
        return InvalidArgument("features '", data, "' ", ShapeToString(x.shape()), " and labels '",
                               labels, "' ", ShapeToString(y->shape()),
                               " must have the same number of examples");
      DatasetOptions o = options;
      o.label_kind = LabelKind::kClassIndex;
      Tensor ids(DType::kInt64, {x.dim(0)});
      std::fill_n(ids.data<int64_t>(), x.dim(0), 0);
      PE_ASSIGN_OR_RETURN(Dataset d, MakeDataset(x, ids, o));
      d.labels = *y;
      return d;
    }
  }
  return LoadDataset(data, labels, options);
}

struct Trainer {
  std::unique_ptr<TrainingSession> session;
  std::string input;
  DatasetOptions data_options;
  int64_t batch = 32;
  bool encrypted_container = false;  // MODEL is an encrypted .pmc
};

Result<Trainer> Open(const Args& args, TrainingOptions& options, int64_t default_batch,
                     const std::string& cmd) {
  PE_ASSIGN_OR_RETURN(options.loss, ParseLoss(args.get("loss", "cross-entropy")));
  Trainer m;
  m.batch = default_batch;
  int64_t threads = 1;
  if (!ParseIntOption(args, "threads", 1, 256, threads, cmd))
    return InvalidArgument("bad --threads");
  if (!ParseIntOption(args, "batch", 1, 1 << 20, m.batch, cmd))
    return InvalidArgument("bad --batch");
  options.threads = static_cast<int>(threads);
  SessionOptions so;
  PE_RETURN_IF_ERROR(ApplyModelOptions(args, args.positional[0], so));
  options.keystore = so.keystore;
  options.require_signed_by = so.require_signed_by;
  options.allow_unlocked_model_memory = so.allow_unlocked_model_memory;
  m.encrypted_container = so.keystore != nullptr;
  PE_ASSIGN_OR_RETURN(m.session, TrainingSession::Create(args.positional[0], options));
  const std::vector<std::string> inputs = m.session->InputNames();
  if (inputs.size() != 1)
    return InvalidArgument("the model must have exactly one input, it has ", inputs.size());
  m.input = inputs[0];
  PE_ASSIGN_OR_RETURN(m.data_options, DataOptions(args, options.loss, m.session->InputShapes()[0]));
  return m;
}

// Loss and accuracy over a whole dataset.
Result<StepResult> EvaluateAll(Trainer& m, const Dataset& d) {
  const int64_t n = d.size();
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  StepResult total;
  double loss_sum = 0;
  for (int64_t b = 0; b < n; b += m.batch) {
    const int64_t e = std::min(n, b + m.batch);
    PE_ASSIGN_OR_RETURN(StepResult r,
                        m.session->Evaluate({{m.input, Rows(d.features, order, b, e)}},
                                            Rows(d.labels, order, b, e)));
    loss_sum += r.loss * (e - b);
    total.correct += r.correct;
    total.count += r.count;
  }
  total.loss = n ? loss_sum / n : 0;
  return total;
}

double Accuracy(const StepResult& r) {
  return r.count ? static_cast<double>(r.correct) / r.count : 0;
}

struct EpochReport {
  int64_t epoch = 0, steps = 0, examples = 0;
  StepResult train;
  bool has_test = false;
  StepResult test;
  double seconds = 0, median_ms = 0;
  float lr = 0;
};

std::string ReportLine(bool json, const EpochReport& r) {
  char buf[512];
  const double eps = r.seconds > 0 ? r.examples / r.seconds : 0;
  if (json) {
    int k = std::snprintf(buf, sizeof(buf),
                          "{\"epoch\": %lld, \"steps\": %lld, \"lr\": %g, \"loss\": %.6f, "
                          "\"accuracy\": %.6f, \"examples_per_s\": %.1f, \"median_step_ms\": %.3f",
                          static_cast<long long>(r.epoch), static_cast<long long>(r.steps), r.lr,
                          r.train.loss, Accuracy(r.train), eps, r.median_ms);
    if (r.has_test)
      k += std::snprintf(buf + k, sizeof(buf) - k, ", \"test_loss\": %.6f, \"test_accuracy\": %.6f",
                         r.test.loss, Accuracy(r.test));
    std::snprintf(buf + k, sizeof(buf) - k, "}");
  } else {
    int k = std::snprintf(buf, sizeof(buf),
                          "epoch %lld: lr %g  loss %.4f  accuracy %.4f  %.0f examples/s  "
                          "median step %.2f ms",
                          static_cast<long long>(r.epoch), r.lr, r.train.loss, Accuracy(r.train),
                          eps, r.median_ms);
    if (r.has_test)
      std::snprintf(buf + k, sizeof(buf) - k, "  test loss %.4f  test accuracy %.4f", r.test.loss,
                    Accuracy(r.test));
  }
  return buf;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

int Train(const Args& args) {
  const char* cmd = "train";
  TrainingOptions options;
  const std::string opt = args.get("optimizer", "sgd");
  if (opt == "sgd") {
    options.optimizer.kind = OptimizerKind::kSgd;
  } else if (opt == "adam") {
    options.optimizer.kind = OptimizerKind::kAdam;
  } else if (opt == "adamw") {
    options.optimizer.kind = OptimizerKind::kAdamW;
  } else {
    return Fail(cmd, "--optimizer must be sgd, adam or adamw, got '" + opt + "'");
  }
  auto lr = ParseFloat(args, "lr", 0.01f);
  auto momentum = ParseFloat(args, "momentum", opt == "sgd" ? 0.9f : 0.0f);
  auto wd = ParseFloat(args, "weight-decay", 0.0f);
  auto mu = ParseFloat(args, "fedprox-mu", 0.0f);
  auto clip = ParseFloat(args, "clip-norm", 0.0f);
  for (const auto* r : {&lr, &momentum, &wd, &mu, &clip})
    if (!r->ok()) return Fail(cmd, r->status().message());
  auto schedule = ParseList(args, "lr-schedule", true);
  if (!schedule.ok()) return Fail(cmd, schedule.status().message());
  if (!schedule->empty() && args.has("lr"))
    return Fail(cmd, "give --lr or --lr-schedule, not both");
  if (schedule->empty()) schedule->push_back(*lr);
  options.optimizer.learning_rate = (*schedule)[0];
  options.optimizer.momentum = *momentum;
  options.optimizer.nesterov = args.has("nesterov");
  if (options.optimizer.nesterov && (opt != "sgd" || *momentum <= 0))
    return Fail(cmd, "--nesterov needs --optimizer sgd with --momentum > 0");
  options.optimizer.weight_decay = *wd;
  options.fedprox_mu = *mu;
  options.clip_global_norm = *clip;
  options.freeze_prefixes = args.get_all("freeze");
  int64_t epochs = 1, seed = 0, max_steps = 0;
  if (!ParseIntOption(args, "epochs", 1, 1000000, epochs, cmd)) return 1;
  if (!ParseIntOption(args, "seed", 0, INT64_MAX, seed, cmd)) return 1;
  if (args.has("max-steps") && !ParseIntOption(args, "max-steps", 1, INT64_MAX, max_steps, cmd))
    return 1;
  options.seed = static_cast<uint64_t>(seed);
  const std::string checkpoint = args.get("checkpoint");
  if ((args.has("resume") || args.has("encrypt-checkpoint")) && checkpoint.empty())
    return Fail(cmd, "--resume and --encrypt-checkpoint need --checkpoint FILE");
  if (args.has("test-data") != args.has("test-labels") && !args.has("label-column"))
    return Fail(cmd, "--test-data and --test-labels go together");

  auto model = Open(args, options, 32, cmd);
  if (!model.ok()) return Fail(cmd, model.status().message());
  Trainer& m = *model;
  auto train = LoadData(args, "data", "labels", "silo", m.data_options, options.loss);
  if (!train.ok()) return Fail(cmd, train.status().message());
  std::optional<Dataset> test;
  if (args.has("test-data") || args.has("test-silo")) {
    auto t = LoadData(args, "test-data", "test-labels", "test-silo", m.data_options, options.loss);
    if (!t.ok()) return Fail(cmd, t.status().message());
    test = std::move(*t);
  }
  const std::string out = args.get("out");
  const bool out_container = out.size() > 4 && out.compare(out.size() - 4, 4, ".pmc") == 0;
  if (args.has("encrypt-out") && !out_container)
    return Fail(cmd, "--encrypt-out needs --out FILE.pmc (a model container)");
  const bool encrypt_out = out_container && (args.has("encrypt-out") || m.encrypted_container);
  std::shared_ptr<Keystore> keystore;
  if (args.has("encrypt-checkpoint") || encrypt_out) {
    auto ks = OpenKeystoreFromArgs(args, /*create_if_missing=*/true);
    if (!ks.ok()) return Fail(cmd, "keystore: " + ks.status().message());
    keystore = *ks;
  }
  Keystore* checkpoint_keystore = args.has("encrypt-checkpoint") ? keystore.get() : nullptr;

  const int64_t n = train->size();
  const int64_t steps_per_epoch = (n + m.batch - 1) / m.batch;
  int64_t first_epoch = 1;
  if (args.has("resume")) {
    if (FileExists(checkpoint)) {
      Status s = m.session->LoadCheckpointFile(checkpoint, checkpoint_keystore);
      if (!s.ok()) return Fail(cmd, s.message());
      const int64_t step = m.session->step();
      if (step % steps_per_epoch != 0)
        return Fail(cmd, "checkpoint '" + checkpoint + "' is at step " + std::to_string(step) +
                             ", not at the end of an epoch of " + std::to_string(steps_per_epoch) +
                             " steps (other --data or --batch?)");
      first_epoch = step / steps_per_epoch + 1;
      std::cerr << "resuming from '" << checkpoint << "' after epoch " << first_epoch - 1 << "\n";
    } else {
      std::cerr << "no checkpoint '" << checkpoint << "' yet: starting from the beginning\n";
    }
  }

  const bool json = args.has("json");
  int64_t steps_done = 0;
  for (int64_t epoch = first_epoch; epoch <= epochs && (!max_steps || steps_done < max_steps);
       ++epoch) {
    EpochReport report;
    report.epoch = epoch;
    report.lr = (*schedule)[std::min<size_t>(epoch - 1, schedule->size() - 1)];
    m.session->set_learning_rate(report.lr);
    const std::vector<int64_t> order = ShuffledIndices(n, static_cast<uint64_t>(seed), epoch - 1);
    ProgressBar bar("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs), n);
    double loss_sum = 0;
    std::vector<double> step_ms;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < n && (!max_steps || steps_done < max_steps); b += m.batch) {
      const int64_t e = std::min(n, b + m.batch);
      const Tensor x = Rows(train->features, order, b, e), y = Rows(train->labels, order, b, e);
      const auto t0 = std::chrono::steady_clock::now();
      auto r = m.session->TrainStep({{m.input, x}}, y);
      step_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!r.ok()) {
        bar.Finish();
        return Fail(cmd, "epoch " + std::to_string(epoch) + ", examples " + std::to_string(b) +
                             "-" + std::to_string(e) + ": " + r.status().message());
      }
      ++steps_done;
      loss_sum += r->loss * (e - b);
      report.train.correct += r->correct;
      report.train.count += r->count;
      report.examples = e;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      char note[96];
      std::snprintf(note, sizeof(note), "loss %.4f acc %.3f %.0f ex/s", loss_sum / e,
                    Accuracy(report.train), e / secs);
      bar.Update(e, note);
    }
    bar.Finish();
    report.steps = static_cast<int64_t>(step_ms.size());
    report.train.loss = loss_sum / report.examples;
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::sort(step_ms.begin(), step_ms.end());
    report.median_ms = step_ms[step_ms.size() / 2];
    if (test) {
      auto t = EvaluateAll(m, *test);
      if (!t.ok()) return Fail(cmd, "test data: " + t.status().message());
      report.has_test = true;
      report.test = *t;
    }
    std::cout << ReportLine(json, report) << std::endl;
    if (!checkpoint.empty() && report.examples == n) {
      Status s = m.session->SaveCheckpointFile(checkpoint, checkpoint_keystore);
      if (!s.ok()) return Fail(cmd, s.message());
    }
  }
  if (!out.empty()) {
    Status s = out_container
                   ? m.session->ExportContainer(out, encrypt_out ? keystore.get() : nullptr)
                   : m.session->ExportOnnx(out);
    if (!s.ok()) return Fail(cmd, s.message());
  }
  if (args.has("delta")) {
    const std::vector<float> delta = m.session->Delta();
    Status s = WriteNpy(args.get("delta"),
                        Tensor::FromVector<float>(delta, {static_cast<int64_t>(delta.size())}));
    if (!s.ok()) return Fail(cmd, s.message());
  }
  return 0;
}

const std::set<std::string> kDataValueOptions = {"data",   "labels",       "loss",  "batch",
                                                 "threads", "mean",        "stddev", "label-column",
                                                 "store",  "silo"};

}  // namespace

int TrainCommand(int argc, char** argv) {
  std::set<std::string> values = WithModelOptions(KeystoreArgNames(), false);
  values.insert(kDataValueOptions.begin(), kDataValueOptions.end());
  values.insert({"test-data", "test-labels", "test-silo", "epochs", "lr", "lr-schedule",
                 "optimizer", "momentum",
                 "weight-decay", "freeze", "fedprox-mu", "clip-norm", "seed", "out", "delta",
                 "max-steps", "checkpoint"});
  Args args;
  if (!ParseArgs(argc, argv, values,
                 WithModelOptions({"json", "help", "nesterov", "no-scale", "resume",
                                   "encrypt-checkpoint", "encrypt-out"},
                                  true),
                 "train", args))
    return 1;
  if (args.has("help")) {
    std::cout << kTrainUsage << kDataHelp;
    return 0;
  }
  if (args.positional.size() != 1)
    return Fail("train", "expected one MODEL (see privedge train --help)");
  return Train(args);
}

int EvalCommand(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, WithModelOptions(kDataValueOptions, false),
                 WithModelOptions({"json", "help", "no-scale"}, true), "eval", args))
    return 1;
  if (args.has("help")) {
    std::cout << kEvalUsage << kDataHelp;
    return 0;
  }
  if (args.positional.size() != 1)
    return Fail("eval", "expected one MODEL (see privedge eval --help)");
  TrainingOptions options;
  auto model = Open(args, options, 256, "eval");
  if (!model.ok()) return Fail("eval", model.status().message());
  auto data = LoadData(args, "data", "labels", "silo", model->data_options, options.loss);
  if (!data.ok()) return Fail("eval", data.status().message());
  auto r = EvaluateAll(*model, *data);
  if (!r.ok()) return Fail("eval", r.status().message());
  if (args.has("json")) {
    std::printf("{\"loss\": %.6f, \"accuracy\": %.6f, \"examples\": %lld}\n", r->loss, Accuracy(*r),
                static_cast<long long>(data->size()));
  } else {
    std::printf("loss %.4f  accuracy %.4f  (%lld examples)\n", r->loss, Accuracy(*r),
                static_cast<long long>(data->size()));
  }
  return 0;
}

}  // namespace privedge::cli
