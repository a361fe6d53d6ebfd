// Seeded shuffling and mini-batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "privedge/dataset.h"

namespace privedge {
namespace {

// A dataset whose example i has features {i, -i} and label i.
Dataset Indexed(int64_t n) {
  std::vector<float> f;
  std::vector<int64_t> l;
  for (int64_t i = 0; i < n; ++i) {
    f.push_back(static_cast<float>(i));
    f.push_back(static_cast<float>(-i));
    l.push_back(i);
  }
  return Dataset{Tensor::FromVector(f, {n, 2}), Tensor::FromVector(l, {n})};
}

TEST(ShuffleTest, MatchesTheDocumentedAlgorithm) {
  // Computed from the specification in dataset.h by an independent implementation (Python
  // integers masked to 64 bits), so any platform must give exactly these.
  EXPECT_EQ(ShuffledIndices(10, 42, 0), (std::vector<int64_t>{6, 9, 1, 5, 0, 8, 4, 2, 3, 7}));
  EXPECT_EQ(ShuffledIndices(10, 42, 1), (std::vector<int64_t>{9, 4, 1, 3, 0, 8, 6, 2, 7, 5}));
  EXPECT_EQ(ShuffledIndices(10, 0, 0), (std::vector<int64_t>{2, 1, 8, 4, 9, 6, 5, 7, 3, 0}));
  EXPECT_EQ(ShuffledIndices(7, UINT64_MAX, 3), (std::vector<int64_t>{3, 1, 2, 5, 4, 0, 6}));
  EXPECT_TRUE(ShuffledIndices(0, 1, 0).empty());
  EXPECT_EQ(ShuffledIndices(1, 1, 0), (std::vector<int64_t>{0}));
}

TEST(ShuffleTest, IsAPermutationAndDependsOnSeedAndEpoch) {
  const auto a = ShuffledIndices(1000, 7, 0);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(a, identity);
  EXPECT_EQ(a, ShuffledIndices(1000, 7, 0));
  EXPECT_NE(a, ShuffledIndices(1000, 8, 0));
  EXPECT_NE(a, ShuffledIndices(1000, 7, 1));
  // Roughly uniform: over many seeds, element 0 lands in each tenth about equally often.
  std::vector<int> tenth(10, 0);
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    const auto p = ShuffledIndices(100, seed, 0);
    tenth[(std::find(p.begin(), p.end(), 0) - p.begin()) / 10]++;
  }
  for (int c : tenth) EXPECT_NEAR(c, 200, 60);
}

TEST(BatchIteratorTest, EveryExampleOncePerEpochWithTail) {
  const Dataset d = Indexed(10);
  BatchOptions o;
  o.batch_size = 4;
  o.seed = 42;
  o.epochs = 2;
  auto it = BatchIterator::Create(d, o);
  ASSERT_TRUE(it.ok()) << it.status().message();
  EXPECT_EQ(it->batches_per_epoch(), 3);
  EXPECT_EQ(it->total_batches(), 6);
  Batch b;
  std::vector<std::vector<int64_t>> seen(2);
  std::vector<int64_t> sizes;
  while (it->Next(&b)) {
    sizes.push_back(b.features.dim(0));
    EXPECT_EQ(b.features.shape(), (Shape{b.features.dim(0), 2}));
    EXPECT_EQ(b.index, static_cast<int64_t>(seen[b.epoch].size() / 4));
    for (int64_t k = 0; k < b.labels.dim(0); ++k) {
      const int64_t label = b.labels.data<int64_t>()[k];
      // Features travel with their label.
      EXPECT_EQ(b.features.data<float>()[2 * k], static_cast<float>(label));
      EXPECT_EQ(b.features.data<float>()[2 * k + 1], static_cast<float>(-label));
      seen[b.epoch].push_back(label);
    }
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2, 4, 4, 2}));
  EXPECT_EQ(seen[0], ShuffledIndices(10, 42, 0));
  EXPECT_EQ(seen[1], ShuffledIndices(10, 42, 1));
  EXPECT_FALSE(it->Next(&b));
  EXPECT_FALSE(it->Next(&b));

  // Reset replays the same sequence.
  it->Reset();
  ASSERT_TRUE(it->Next(&b));
  EXPECT_EQ(b.labels.data<int64_t>()[0], seen[0][0]);
}

TEST(BatchIteratorTest, DropLastAndNoShuffle) {
  const Dataset d = Indexed(10);
  BatchOptions o;
  o.batch_size = 4;
  o.drop_last = true;
  o.shuffle = false;
  auto it = BatchIterator::Create(d, o);
  ASSERT_TRUE(it.ok());
  EXPECT_EQ(it->batches_per_epoch(), 2);
  Batch b;
  std::vector<int64_t> labels;
  while (it->Next(&b)) {
    EXPECT_EQ(b.labels.dim(0), 4);
    for (int64_t k = 0; k < 4; ++k) labels.push_back(b.labels.data<int64_t>()[k]);
  }
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));

  // A batch larger than the dataset: one short batch, or none with drop_last.
  o.batch_size = 64;
  auto none = BatchIterator::Create(d, o);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kOutOfRange);
  o.drop_last = false;
  auto one = BatchIterator::Create(d, o);
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(one->Next(&b));
  EXPECT_EQ(b.features.shape(), (Shape{10, 2}));
  EXPECT_FALSE(one->Next(&b));
}

TEST(BatchIteratorTest, SameSeedSameBatchesOtherSeedOthers) {
  const Dataset d = Indexed(50);
  auto run = [&](uint64_t seed) {
    BatchOptions o;
    o.batch_size = 8;
    o.seed = seed;
    o.epochs = 3;
    auto it = BatchIterator::Create(d, o);
    std::vector<int64_t> labels;
    Batch b;
    while (it->Next(&b))
      for (int64_t k = 0; k < b.labels.dim(0); ++k) labels.push_back(b.labels.data<int64_t>()[k]);
    return labels;
  };
  const auto a = run(5);
  EXPECT_EQ(a.size(), 150u);
  EXPECT_EQ(a, run(5));
  EXPECT_NE(a, run(6));
  // Each epoch is a permutation of 0..49.
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> epoch(a.begin() + 50 * e, a.begin() + 50 * (e + 1));
    std::sort(epoch.begin(), epoch.end());
    for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(epoch[i], i);
  }
}

TEST(BatchIteratorTest, RejectsBadOptionsAndDatasets) {
  const Dataset d = Indexed(4);
  BatchOptions o;
  o.batch_size = 0;
  EXPECT_FALSE(BatchIterator::Create(d, o).ok());
  o.batch_size = 2;
  o.epochs = 0;
  EXPECT_FALSE(BatchIterator::Create(d, o).ok());
  o.epochs = 1;
  EXPECT_FALSE(BatchIterator::Create(Dataset{}, o).ok());
  EXPECT_FALSE(BatchIterator::Create(Indexed(0), o).ok());
  Dataset mismatched = d;
  mismatched.labels = Tensor::FromVector<int64_t>({0, 1, 2}, {3});
  EXPECT_FALSE(BatchIterator::Create(mismatched, o).ok());
  o.epochs = INT64_MAX;
  EXPECT_FALSE(BatchIterator::Create(d, o).ok());
}

}  // namespace
}  // namespace privedge
