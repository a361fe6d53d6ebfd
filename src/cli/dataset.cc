// privedge dataset: what a data file holds (shape, type, value range, label histogram).
#include "privedge/dataset.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "cli/cli.h"
#include "core/dispatch.h"
#include "privedge/secure_store.h"
#include "train/data/data_internal.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp = R"(usage: privedge dataset inspect FILE [--labels FILE] [options]

Prints what a data file holds: its format, element type, shape, number of examples and value
range, and with labels (a labels file or a CSV label column) a histogram of the classes. FILE
and the labels file may be IDX (MNIST format), NumPy .npy or CSV, each possibly gzip-compressed;
the format is read from the file's first bytes. A labels file alone (rank 1) also gets a
histogram.

  --labels FILE        the labels of FILE's examples; their count must match
  --label-column COL   CSV only: the label column, by header name or 0-based index
                       (negative counts from the end: -1 is the last column)
  --header auto|yes|no CSV only: whether the first row names the columns (default auto: it does
                       when any of its cells is not a number)
  --delimiter C        CSV only: the cell separator (default ','; 'tab' for a tab)
  --max-bytes N        refuse files that decode to more than N bytes (default 1 GiB)

usage: privedge dataset import STORE SILO --data FILE [--labels FILE] [options]

Copies the examples of FILE (with their labels, from --labels or a CSV --label-column) into
SILO of the secure store in directory STORE, one encrypted record per example, keeping their
type and shape (see docs/datasets.md); creates the store, the silo and the device key when
missing. `privedge train --store STORE --silo SILO` then trains from them. The CSV options
and --max-bytes above apply, and the keystore options of `privedge keys`:
  --keystore auto|software|tpm2, --keystore-dir DIR, --passphrase-file FILE
)";

// Classes beyond this many distinct values are not a classification label: print the range.
constexpr size_t kMaxHistogramClasses = 1000;

struct Described {
  std::string path;
  std::string format;
  Tensor tensor;
};

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

struct Range {
  double min = 0, max = 0, mean = 0;
};

Range ValueRange(const Tensor& t) {
  Range r;
  if (t.numel() == 0) return r;
  (void)DispatchNumeric(t.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(t.raw_data());
    double lo = static_cast<double>(p[0]), hi = lo, sum = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double v = static_cast<double>(p[i]);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      sum += v;
    }
    r = {lo, hi, sum / static_cast<double>(t.numel())};
    return Status::OK();
  });
  return r;
}

std::vector<std::string> Row(const std::string& role, const Described& d) {
  const Range r = ValueRange(d.tensor);
  const std::string examples = d.tensor.rank() ? std::to_string(d.tensor.dim(0)) : "-";
  return {role,
          d.path,
          d.format,
          DTypeName(d.tensor.dtype()),
          ShapeToString(d.tensor.shape()),
          examples,
          FormatNumber(r.min),
          FormatNumber(r.max),
          FormatNumber(r.mean)};
}

// Prints a class histogram when every label is a whole number and there are few distinct ones.
void PrintHistogram(const Tensor& labels) {
  std::map<int64_t, int64_t> counts;
  for (int64_t i = 0; i < labels.numel(); ++i) {
    const double v = labels.GetAsDouble(i);
    if (v != std::floor(v) || std::fabs(v) > 9e15 || counts.size() > kMaxHistogramClasses) {
      std::cout << "\nlabels are not class indices (not whole numbers, or more than "
                << kMaxHistogramClasses << " distinct values): no histogram\n";
      return;
    }
    ++counts[static_cast<int64_t>(v)];
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [label, n] : counts) {
    char share[16];
    std::snprintf(share, sizeof(share), "%.2f%%", 100.0 * n / labels.numel());
    rows.push_back({std::to_string(label), std::to_string(n), share});
  }
  std::cout << "\n";
  PrintTable({"label", "count", "share"}, rows);
}

Result<CsvOptions> CsvOptionsFromArgs(const Args& args) {
  CsvOptions csv;
  const std::string header = args.get("header", "auto");
  if (header == "yes") {
    csv.header = CsvOptions::Header::kPresent;
  } else if (header == "no") {
    csv.header = CsvOptions::Header::kAbsent;
  } else if (header != "auto") {
    return InvalidArgument("--header expects auto, yes or no, got '", header, "'");
  }
  const std::string delimiter = args.get("delimiter", ",");
  if (delimiter == "tab") {
    csv.delimiter = '\t';
  } else if (delimiter.size() == 1) {
    csv.delimiter = delimiter[0];
  } else {
    return InvalidArgument("--delimiter expects one character or 'tab', got '", delimiter, "'");
  }
  if (args.options.count("label-column")) {
    const std::string col = args.get("label-column");
    char* end = nullptr;
    const long long index = std::strtoll(col.c_str(), &end, 10);
    if (!col.empty() && *end == '\0') {
      csv.has_label_index = true;
      csv.label_index = index;
    } else {
      csv.label_name = col;
    }
  }
  return csv;
}

// Reads FILE; a CSV may also yield labels (its label column).
Result<Described> ReadDescribed(const std::string& path, const CsvOptions& csv,
                                const DataLimits& limits, Described* csv_labels) {
  PE_ASSIGN_OR_RETURN(std::string raw, data::ReadRawFile(path, limits.max_bytes));
  const auto bytes = data::AsBytes(raw);
  PE_ASSIGN_OR_RETURN(DataFormat format, data::DetectRawFormat(bytes, path));
  Described d{path, std::string(DataFormatName(format)) + (IsGzip(bytes) ? "+gzip" : ""), {}};
  if (format != DataFormat::kCsv) {
    PE_ASSIGN_OR_RETURN(d.tensor, data::ParseTensorRaw(std::move(raw), format, path, limits));
  } else {
    PE_ASSIGN_OR_RETURN(CsvTable table, ParseCsv(bytes, path, csv, limits));
    d.tensor = table.features;
    if (table.labels.defined() && csv_labels) {
      *csv_labels = {path + (table.label_name.empty() ? "" : " (" + table.label_name + ")"),
                     d.format, table.labels};
    }
  }
  return d;
}

// FILE's features and, from --labels or a CSV label column, its labels (when there are any:
// then checked to be [N] or [N, 1] with the features' N).
struct Examples {
  Described features;
  Described labels;
};

Result<Examples> ReadExamples(const Args& args, const std::string& path,
                              const DataLimits& limits) {
  PE_ASSIGN_OR_RETURN(CsvOptions csv, CsvOptionsFromArgs(args));
  Examples e;
  PE_ASSIGN_OR_RETURN(e.features, ReadDescribed(path, csv, limits, &e.labels));
  if (args.options.count("labels")) {
    if (e.labels.tensor.defined())
      return InvalidArgument(path, ": the CSV has a label column, so --labels is not allowed");
    CsvOptions labels_csv = csv;  // the same header and delimiter, every column the label
    labels_csv.label_name.clear();
    labels_csv.has_label_index = false;
    PE_ASSIGN_OR_RETURN(e.labels, ReadDescribed(args.get("labels"), labels_csv, limits, nullptr));
  }
  const Tensor& f = e.features.tensor;
  if (e.labels.tensor.defined()) {
    const Tensor& l = e.labels.tensor;
    if (f.rank() == 0)
      return InvalidArgument(path, ": features must have shape [N, ...], got a scalar");
    const bool column = l.rank() == 1 || (l.rank() == 2 && l.dim(1) == 1);
    if (!column)
      return InvalidArgument(e.labels.path, ": labels must have shape [N], got ",
                             ShapeToString(l.shape()));
    if (l.dim(0) != f.dim(0))
      return InvalidArgument("features '", path, "' have ", f.dim(0), " examples but labels '",
                             e.labels.path, "' have ", l.dim(0));
    if (l.rank() == 2) e.labels.tensor = l.Reshaped({l.dim(0)});
  }
  return e;
}

bool ParseLimits(const Args& args, const std::string& cmd, DataLimits& limits) {
  int64_t max_bytes = int64_t{1} << 30;
  if (!ParseIntOption(args, "max-bytes", 1, INT64_MAX, max_bytes, cmd)) return false;
  limits.max_bytes = static_cast<uint64_t>(max_bytes);
  return true;
}

int Inspect(const Args& args) {
  const std::string cmd = "dataset inspect";
  if (args.positional.size() != 2) return Fail(cmd, "expected exactly one FILE (see --help)");
  DataLimits limits;
  if (!ParseLimits(args, cmd, limits)) return 1;
  auto examples = ReadExamples(args, args.positional[1], limits);
  if (!examples.ok()) return Fail(cmd, examples.status().message());
  const Described& features = examples->features;
  const Described& labels = examples->labels;
  std::vector<std::vector<std::string>> rows = {Row("features", features)};
  if (labels.tensor.defined()) rows.push_back(Row("labels", labels));
  PrintTable({"", "file", "format", "dtype", "shape", "examples", "min", "max", "mean"}, rows);
  if (labels.tensor.defined()) {
    PrintHistogram(labels.tensor);
  } else if (features.tensor.rank() == 1) {
    PrintHistogram(features.tensor);
  }
  return 0;
}

int Import(const Args& args) {
  const std::string cmd = "dataset import";
  if (args.positional.size() != 3 || !args.has("data"))
    return Fail(cmd, "expected STORE SILO --data FILE [--labels FILE] (see --help)");
  DataLimits limits;
  if (!ParseLimits(args, cmd, limits)) return 1;
  auto examples = ReadExamples(args, args.get("data"), limits);
  if (!examples.ok()) return Fail(cmd, examples.status().message());
  if (!examples->labels.tensor.defined())
    return Fail(cmd, args.get("data") + ": no labels: give --labels FILE or a CSV --label-column");
  auto keystore = OpenKeystoreFromArgs(args, /*create_if_missing=*/true);
  if (!keystore.ok()) return Fail(cmd, keystore.status().message());
  SecureStoreOptions options;
  options.create_if_missing = true;
  auto store = SecureStore::Open(args.positional[1], *keystore, options);
  if (!store.ok()) return Fail(cmd, store.status().message());
  const std::string& silo = args.positional[2];
  const Tensor& f = examples->features.tensor;
  Status st = AppendExamples(**store, silo, f, examples->labels.tensor);
  if (!st.ok()) return Fail(cmd, st.message());
  auto count = (*store)->Count(silo);
  if (!count.ok()) return Fail(cmd, count.status().message());
  Shape example(f.shape().begin() + 1, f.shape().end());
  std::cout << "imported " << f.dim(0) << " examples (" << DTypeName(f.dtype()) << " "
            << ShapeToString(example) << ", " << DTypeName(examples->labels.tensor.dtype())
            << " labels) into silo " << silo << " of " << args.positional[1] << ": " << *count
            << " examples in the silo\n";
  return 0;
}

}  // namespace

int DatasetCommand(int argc, char** argv) {
  Args args;
  std::set<std::string> values = {"data", "labels", "label-column", "header", "delimiter",
                                  "max-bytes"};
  values.insert(KeystoreArgNames().begin(), KeystoreArgNames().end());
  if (!ParseArgs(argc, argv, values, {"help"}, "dataset", args)) return 1;
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.empty())
    return Fail("dataset", "expected a subcommand: inspect or import (see --help)");
  if (args.positional[0] == "inspect") return Inspect(args);
  if (args.positional[0] == "import") return Import(args);
  return Fail("dataset",
              "unknown subcommand '" + args.positional[0] + "' (expected inspect or import)");
}

}  // namespace privedge::cli
