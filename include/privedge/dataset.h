// Datasets for on-device training: reading example files, normalizing them, and cutting them
// into shuffled mini-batches.
//
//   privedge::DatasetOptions opt;
//   opt.example_shape = {1, 28, 28};       // what the model's input wants per example
//   auto train = privedge::LoadDataset("train-images-idx3-ubyte.gz",
//                                      "train-labels-idx1-ubyte.gz", opt);
//   if (!train.ok()) { std::cerr << train.status().message() << "\n"; return 1; }
//   privedge::BatchOptions bo;
//   bo.batch_size = 64;
//   bo.seed = 7;
//   bo.epochs = 3;
//   auto it = privedge::BatchIterator::Create(*train, bo);
//   privedge::Batch batch;
//   while (it->Next(&batch)) {
//     // batch.features: float32 [64, 1, 28, 28] in [0, 1]; batch.labels: int64 [64]
//   }
//
// File formats (see docs/datasets.md). The format is found from the first bytes of the file,
// never from its name:
//   - IDX, the format of MNIST and Fashion-MNIST: bytes 0-1 zero, byte 2 the element type
//     (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), byte 3 the
//     rank, then one big-endian uint32 per dimension, then the elements, big-endian, row-major.
//   - NumPy .npy (versions 1-3, little-endian, C order), through the same reader as
//     `privedge run` uses.
//   - CSV: numeric cells, an optional header row, one row per example; one column may be the
//     label. Anything that is neither IDX nor .npy is read as CSV.
//   Any of them may be gzip-compressed (magic bytes 1f 8b); the file is inflated in memory.
//
// Untrusted input. Every file is treated as hostile. Sizes, ranks, the product of dimensions,
// and the inflated length are checked against DataLimits before anything is allocated; a
// truncated file, trailing garbage, a gzip bomb, a bad CSV cell or a features/labels count
// mismatch gives a Status with a one-line message naming the file (or the label given to a
// Parse* call), what was wrong, and what was expected versus found. Nothing throws or aborts.
//
// Thread-safety: the free functions are independent and may run concurrently. A Dataset is a
// pair of Tensor handles (see tensor.h): share it read-only between threads freely. A
// BatchIterator is not synchronized: use one per thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "privedge/status.h"
#include "privedge/tensor.h"

namespace privedge {

// ---------------------------------------------------------------------------------------------
// Limits and formats
// ---------------------------------------------------------------------------------------------

// Bounds on what one file may make privedge allocate.
struct DataLimits {
  // Largest decoded size of one file in bytes: the file itself, its inflated contents when
  // gzip-compressed (inflation stops as soon as this is passed: the guard against
  // decompression bombs), and the tensor built from it. Fashion-MNIST's training images are
  // 47 MB decoded. The default is 1 GiB.
  uint64_t max_bytes = uint64_t{1} << 30;
  // Largest rank an IDX or .npy tensor may have.
  int max_rank = 8;
};

enum class DataFormat { kIdx, kNpy, kCsv };

// "idx", "npy", "csv".
const char* DataFormatName(DataFormat format);

// True when `bytes` start with the gzip magic 1f 8b.
bool IsGzip(std::span<const uint8_t> bytes);

// The format of decoded (already inflated) file contents, from their first bytes: IDX when
// bytes 0-1 are zero and byte 2 is a known IDX element type, .npy for the \x93NUMPY magic,
// CSV otherwise.
DataFormat DetectDataFormat(std::span<const uint8_t> decoded);

// Reads a whole file, inflating it when it is gzip-compressed. Errors: NotFound (cannot
// open), IoError, ResourceExhausted (file or inflated size above limits.max_bytes),
// InvalidArgument (corrupt or truncated gzip stream).
Result<std::string> ReadDataFile(const std::string& path, const DataLimits& limits = {});

// Inflates `bytes` when they are gzip-compressed (several concatenated members are allowed),
// or returns a copy otherwise. `label` names the data in error messages.
Result<std::string> InflateIfGzip(std::span<const uint8_t> bytes, const std::string& label,
                                  const DataLimits& limits = {});

// ---------------------------------------------------------------------------------------------
// Readers: IDX, CSV, .npy
// ---------------------------------------------------------------------------------------------

// An IDX tensor with its stored element type (uint8, int8, int16, int32, float32, float64)
// and shape (rank 1-limits.max_rank, as declared in the header), elements in host byte order.
// The Parse* form takes the bytes of a file (gzip-compressed or not; safe to call on any bytes,
// which is what fuzz targets do); `label` names the data in error messages. The IDX payload
// must be exactly the size the header declares: missing or trailing bytes are errors.
Result<Tensor> ReadIdxFile(const std::string& path, const DataLimits& limits = {});
Result<Tensor> ParseIdx(std::span<const uint8_t> bytes, const std::string& label,
                        const DataLimits& limits = {});

struct CsvOptions {
  enum class Header {
    kAuto,     // the first row is a header when any of its cells is not a number
    kPresent,  // the first row is always a header
    kAbsent,   // every row is data
  };
  Header header = Header::kAuto;
  char delimiter = ',';
  // The label column, by header name or by 0-based index (negative counts from the end:
  // -1 is the last column). Set at most one; with neither, every column is a feature.
  std::string label_name;
  bool has_label_index = false;
  int64_t label_index = 0;
};

// A CSV file as tensors: features float32 [rows, feature columns] and, when a label column was
// chosen, labels float64 [rows] (exact for integers up to 2^53; LoadDataset converts them).
//
// Cells are numbers as written by printf/NumPy ("3", "-0.5", "1e-3"), optionally surrounded by
// spaces or double quotes (a quoted cell may contain the delimiter; "" is a literal quote).
// Lines end with \n or \r\n; blank lines are skipped. Every row must have as many cells as the
// first. Errors name the line and column (1-based) and the offending text, e.g.
//   "data.csv: line 7, column 3 ('petal_len'): expected a number, got 'abc'".
// Non-finite values (nan, inf) and values outside the float32 range are errors.
struct CsvTable {
  Tensor features;
  Tensor labels;                           // undefined when no label column was chosen
  std::vector<std::string> feature_names;  // from the header; empty without one
  std::string label_name;                  // the label column's header name, if any
};
Result<CsvTable> ReadCsvFile(const std::string& path, const CsvOptions& options = {},
                             const DataLimits& limits = {});
Result<CsvTable> ParseCsv(std::span<const uint8_t> bytes, const std::string& label,
                          const CsvOptions& options = {}, const DataLimits& limits = {});

// Reads one tensor from an IDX or .npy file (gzip-compressed or not), chosen by content.
// A CSV file is an InvalidArgument error here (it needs CsvOptions: use ReadCsvFile).
Result<Tensor> ReadTensorData(const std::string& path, const DataLimits& limits = {});

// ---------------------------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------------------------

// N examples: features [N, ...] float32 and labels [N], int64 class indices or float32 targets.
struct Dataset {
  Tensor features;
  Tensor labels;
  int64_t size() const { return features.defined() && features.rank() > 0 ? features.dim(0) : 0; }
};

enum class LabelKind {
  kClassIndex,  // int64 labels in [0, num_classes); stored floats must be whole numbers
  kFloat,       // float32 targets (regression)
};

struct DatasetOptions {
  DataLimits limits;
  CsvOptions csv;  // used when the features file is CSV

  // Features are converted to float32. With scale_integers, 8- and 16-bit integer features
  // are divided by the largest value of their type (255 for uint8, 127 for int8, 65535 for
  // uint16, 32767 for int16), which puts uint8 pixels in [0, 1]; wider integers and floats
  // are not scaled. Every converted value must be finite.
  bool scale_integers = true;
  // Then, when given, x = (x - mean) / stddev. One value applies to every element; otherwise
  // one value per index of axis 1 of the features after reshaping (per channel of an image
  // [N, C, H, W], per column of a table [N, F]). Every stddev must be > 0.
  std::vector<float> mean;
  std::vector<float> stddev;
  // When not empty, each example is reshaped to this shape (same element count): {1, 28, 28}
  // for a convolutional network, {784} for a perceptron.
  Shape example_shape;

  LabelKind label_kind = LabelKind::kClassIndex;
  // When > 0, every class label must be below it.
  int64_t num_classes = 0;
};

// Loads features and labels from files. The features file is IDX, .npy or CSV; the labels
// file IDX, .npy or a one-column CSV (read with options.csv's header and delimiter).
// `labels_path` must be empty when the features file is a CSV with a label column
// (options.csv), and given otherwise. Errors name the file; a count mismatch reads
// "features 'a' have 60000 examples but labels 'b' have 10000".
Result<Dataset> LoadDataset(const std::string& features_path, const std::string& labels_path,
                            const DatasetOptions& options = {});

// Builds a dataset from tensors already in memory: features [N, ...] of any numeric type,
// labels [N] of any numeric type. Applies the same conversions and checks as LoadDataset.
// The inputs are not modified.
Result<Dataset> MakeDataset(const Tensor& features, const Tensor& labels,
                            const DatasetOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Examples kept in a secure store (encrypted at rest with a device-bound key)
// ---------------------------------------------------------------------------------------------
//
// A device that collects training data as it goes (keyboard text, health readings) keeps it in
// a SecureStore silo, one encrypted record per example, and trains from the silo: the examples
// are never written to disk in plaintext. Each record holds one example's features (the type
// and shape they were collected with, e.g. uint8 [28, 28]) and its label (one number):
//
//   "PEX1" | feature type | label type | rank | 0 | rank x uint64 dims | features | label
//
// (types are ONNX TensorProto codes: float32, float64, uint8, int8, uint16, int16, int32 or
// int64; everything little-endian). LoadDatasetFromStore decrypts the records, checks that
// every one agrees with the first in types and shape, and applies MakeDataset's conversions
// (scaling, normalization, label checks), so a silo trains exactly like the files it came from.
// The decoded dataset lives in process memory only.
//
//   auto store = privedge::SecureStore::Open(dir, keystore, {.create_if_missing = true});
//   PE_RETURN_IF_ERROR(privedge::AppendExamples(**store, "fashion", x, y));  // x [N,28,28] u8
//   PE_ASSIGN_OR_RETURN(privedge::Dataset d, privedge::LoadDatasetFromStore(**store, "fashion"));

class SecureStore;

// Appends features [N, ...] and labels [N] as N records to `silo`, creating the silo when it
// does not exist. Errors: N mismatch, unsupported types, an example above 64 MiB
// (InvalidArgument); the store's own errors.
Status AppendExamples(SecureStore& store, std::string_view silo, const Tensor& features,
                      const Tensor& labels);

// The examples of `silo` as a Dataset. Errors (each naming the silo and the record's position):
// a record that is not an example, records disagreeing in types or shape, an empty silo
// (InvalidArgument); more than options.limits.max_bytes of features (ResourceExhausted).
Result<Dataset> LoadDatasetFromStore(SecureStore& store, std::string_view silo,
                                     const DatasetOptions& options = {});

// Per-index mean and (population) standard deviation of float32 features over axis 1 (or of
// all elements when per_axis1 is false: one value each), for DatasetOptions::mean/stddev.
// Compute them on the training set and apply them to the test set too.
struct FeatureStats {
  std::vector<float> mean;
  std::vector<float> stddev;
};
Result<FeatureStats> ComputeFeatureStats(const Tensor& features, bool per_axis1);

// The examples at `indices` (each in [0, size), repeats allowed), in that order, as a new
// dataset with its own storage: a train/validation split or a device's partition.
Result<Dataset> SubsetDataset(const Dataset& dataset, std::span<const int64_t> indices);

// ---------------------------------------------------------------------------------------------
// Shuffling and batches
// ---------------------------------------------------------------------------------------------

// The permutation of [0, n) used for epoch `epoch` with `seed`. Identical on every platform
// and compiler, so a run can be reproduced anywhere:
//   - generator: SplitMix64 (Steele, Lea, Flood 2014):
//       state += 0x9E3779B97F4A7C15; z = state;
//       z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
//       return z ^ (z >> 31);
//     with the initial state  seed ^ Mix(epoch + 1),  where Mix(x) is the same three-line
//     finalizer applied to x (so each epoch has its own stream, independent of the others);
//   - uniform integer below k: draw r until r < 2^64 - (2^64 mod k), return r mod k (no bias);
//   - Fisher-Yates: start from 0, 1, ..., n-1; for i = n-1 down to 1, swap elements i and
//     uniform(i + 1).
std::vector<int64_t> ShuffledIndices(int64_t n, uint64_t seed, int64_t epoch);

struct BatchOptions {
  int64_t batch_size = 32;  // >= 1
  bool shuffle = true;      // false: examples in file order every epoch
  uint64_t seed = 0;        // the shuffle seed (see ShuffledIndices)
  // Drop the last batch of an epoch when it is smaller than batch_size. With drop_last and
  // fewer examples than batch_size, there are no batches at all (Create reports it).
  bool drop_last = false;
  int64_t epochs = 1;  // >= 1
};

// One mini-batch: features [b, ...] float32, labels [b]; b == batch_size except possibly for
// the last batch of an epoch.
struct Batch {
  Tensor features;
  Tensor labels;
  int64_t epoch = 0;  // 0-based
  int64_t index = 0;  // batch number within the epoch, 0-based
};

// Walks a dataset in mini-batches, epoch after epoch. Every example appears exactly once per
// epoch (except those in a dropped last batch), in the order ShuffledIndices gives.
//
// The batch tensors are allocated once, by Create, and refilled by each Next: a Batch is valid
// until the next call to Next (Clone() what must outlive it). The iterator keeps the dataset's
// tensors alive.
class BatchIterator {
 public:
  // InvalidArgument for a bad option or an empty dataset; OutOfRange when drop_last leaves no
  // batch at all.
  static Result<BatchIterator> Create(const Dataset& dataset, const BatchOptions& options);

  // Fills `batch` with the next mini-batch and returns true; returns false after the last
  // batch of the last epoch (and on every later call).
  bool Next(Batch* batch);

  // Starts again from the first batch of epoch 0.
  void Reset();

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  int64_t total_batches() const { return batches_per_epoch_ * options_.epochs; }

 private:
  BatchIterator(Dataset dataset, BatchOptions options);
  void FillBatch(int64_t first, int64_t count, Tensor& features, Tensor& labels) const;

  Dataset dataset_;
  BatchOptions options_;
  int64_t batches_per_epoch_ = 0;
  int64_t epoch_ = 0;
  int64_t batch_in_epoch_ = 0;
  std::vector<int64_t> order_;          // the current epoch's permutation
  Tensor full_features_, full_labels_;  // batch_size examples
  Tensor tail_features_, tail_labels_;  // the smaller last batch, when there is one
};

}  // namespace privedge
