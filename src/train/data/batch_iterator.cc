// Seeded shuffling (SplitMix64 + Fisher-Yates, specified in dataset.h) and mini-batches.
#include <cstring>
#include <numeric>

#include "privedge/dataset.h"

namespace privedge {
namespace {

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t Next() { return Mix(state_ += 0x9E3779B97F4A7C15ull); }
  // Uniform in [0, k), k >= 1, by rejection: no modulo bias.
  uint64_t Below(uint64_t k) {
    const uint64_t accept_max = UINT64_MAX - (UINT64_MAX % k + 1) % k;  // 2^64 - (2^64 mod k) - 1
    for (;;) {
      const uint64_t r = Next();
      if (r <= accept_max) return r % k;
    }
  }

 private:
  uint64_t state_;
};

// Writes the permutation of epoch `epoch` into `order` (its size is n).
void Shuffle(std::vector<int64_t>& order, uint64_t seed, int64_t epoch) {
  std::iota(order.begin(), order.end(), int64_t{0});
  SplitMix64 rng(seed ^ Mix(static_cast<uint64_t>(epoch) + 1));
  for (size_t i = order.size(); i-- > 1;) std::swap(order[i], order[rng.Below(i + 1)]);
}

}  // namespace

std::vector<int64_t> ShuffledIndices(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(0, n)));
  Shuffle(order, seed, epoch);
  return order;
}

BatchIterator::BatchIterator(Dataset dataset, BatchOptions options)
    : dataset_(std::move(dataset)), options_(options) {}

Result<BatchIterator> BatchIterator::Create(const Dataset& dataset, const BatchOptions& options) {
  if (options.batch_size < 1)
    return InvalidArgument("batch_size must be >= 1, got ", options.batch_size);
  if (options.epochs < 1) return InvalidArgument("epochs must be >= 1, got ", options.epochs);
  const Tensor& f = dataset.features;
  const Tensor& l = dataset.labels;
  if (!f.defined() || !l.defined() || f.rank() < 1 || l.rank() != 1 || f.dim(0) != l.dim(0) ||
      DTypeSize(f.dtype()) == 0 || DTypeSize(l.dtype()) == 0)
    return InvalidArgument("a dataset needs features [N, ...] and labels [N] of numeric types, ",
                           "got ", f.defined() ? ShapeToString(f.shape()) : "none", " and ",
                           l.defined() ? ShapeToString(l.shape()) : "none");
  const int64_t n = dataset.size();
  if (n == 0) return InvalidArgument("the dataset is empty");
  const int64_t full = n / options.batch_size;
  const int64_t tail = options.drop_last ? 0 : n % options.batch_size;
  BatchIterator it(dataset, options);
  it.batches_per_epoch_ = full + (tail > 0 ? 1 : 0);
  if (it.batches_per_epoch_ == 0)
    return OutOfRange("drop_last with batch_size ", options.batch_size, " leaves no batch of the ",
                      n, " examples");
  int64_t total = 0;
  if (__builtin_mul_overflow(it.batches_per_epoch_, options.epochs, &total))
    return OutOfRange("epochs ", options.epochs, " times ", it.batches_per_epoch_,
                      " batches overflows int64");
  auto allocate = [&](int64_t rows, Tensor& features, Tensor& labels) {
    Shape shape = f.shape();
    shape[0] = rows;
    features = Tensor(f.dtype(), shape);
    labels = Tensor(l.dtype(), {rows});
  };
  if (full > 0) allocate(options.batch_size, it.full_features_, it.full_labels_);
  if (tail > 0) allocate(tail, it.tail_features_, it.tail_labels_);
  it.order_.resize(static_cast<size_t>(n));
  return it;
}

void BatchIterator::Reset() {
  epoch_ = 0;
  batch_in_epoch_ = 0;
}

void BatchIterator::FillBatch(int64_t first, int64_t count, Tensor& features,
                              Tensor& labels) const {
  const size_t fbytes = dataset_.features.nbytes() / static_cast<size_t>(dataset_.size());
  const size_t lbytes = DTypeSize(dataset_.labels.dtype());
  const auto* fsrc = static_cast<const uint8_t*>(dataset_.features.raw_data());
  const auto* lsrc = static_cast<const uint8_t*>(dataset_.labels.raw_data());
  auto* fdst = static_cast<uint8_t*>(features.raw_data());
  auto* ldst = static_cast<uint8_t*>(labels.raw_data());
  for (int64_t k = 0; k < count; ++k) {
    const size_t i = static_cast<size_t>(order_[first + k]);
    std::memcpy(fdst + k * fbytes, fsrc + i * fbytes, fbytes);
    std::memcpy(ldst + k * lbytes, lsrc + i * lbytes, lbytes);
  }
}

bool BatchIterator::Next(Batch* batch) {
  if (epoch_ >= options_.epochs) return false;
  if (batch_in_epoch_ == 0) {
    if (options_.shuffle) {
      Shuffle(order_, options_.seed, epoch_);
    } else {
      std::iota(order_.begin(), order_.end(), int64_t{0});
    }
  }
  const int64_t first = batch_in_epoch_ * options_.batch_size;
  const bool is_tail = dataset_.size() - first < options_.batch_size;
  Tensor& features = is_tail ? tail_features_ : full_features_;
  Tensor& labels = is_tail ? tail_labels_ : full_labels_;
  FillBatch(first, features.dim(0), features, labels);
  batch->features = features;
  batch->labels = labels;
  batch->epoch = epoch_;
  batch->index = batch_in_epoch_;
  if (++batch_in_epoch_ == batches_per_epoch_) {
    batch_in_epoch_ = 0;
    ++epoch_;
  }
  return true;
}

}  // namespace privedge
