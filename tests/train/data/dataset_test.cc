// Datasets: conversions, normalization, label checks, loading from files, subsets.
#include "privedge/dataset.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model/tensor_io.h"
#include "train/data/data_test_util.h"

namespace privedge {
namespace {

using testing::Gzip;
using testing::IdxUint8;

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

std::string MakeError(const Tensor& f, const Tensor& l, const DatasetOptions& o = {}) {
  auto r = MakeDataset(f, l, o);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST(DatasetTest, Uint8ImagesScaleToUnitRangeAndReshape) {
  Tensor images = Tensor::FromVector<uint8_t>({0, 51, 255, 102, 0, 0, 0, 255}, {2, 2, 2});
  Tensor labels = Tensor::FromVector<uint8_t>({3, 7}, {2});
  DatasetOptions o;
  o.example_shape = {1, 2, 2};
  auto d = MakeDataset(images, labels, o);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->size(), 2);
  EXPECT_EQ(d->features.dtype(), DType::kFloat32);
  EXPECT_EQ(d->features.shape(), (Shape{2, 1, 2, 2}));
  EXPECT_FLOAT_EQ(d->features.data<float>()[1], 0.2f);
  EXPECT_FLOAT_EQ(d->features.data<float>()[2], 1.0f);
  EXPECT_EQ(d->labels.dtype(), DType::kInt64);
  EXPECT_EQ(d->labels.data<int64_t>()[1], 7);
  // The inputs are untouched and not shared.
  EXPECT_EQ(images.data<uint8_t>()[2], 255);

  o.example_shape = {5};
  EXPECT_CONTAINS(MakeError(images, labels, o),
                  "features: cannot reshape examples of shape [2,2] to example_shape [5]");
  DatasetOptions raw;
  raw.scale_integers = false;
  auto unscaled = MakeDataset(images, labels, raw);
  ASSERT_TRUE(unscaled.ok());
  EXPECT_EQ(unscaled->features.data<float>()[2], 255.0f);
}

TEST(DatasetTest, MeanAndStddevPerChannelOrGlobal) {
  // [N=1, C=2, 2]: channel 0 = {1, 3}, channel 1 = {10, 30}.
  Tensor f = Tensor::FromVector<float>({1, 3, 10, 30}, {1, 2, 2});
  Tensor l = Tensor::FromVector<int64_t>({0}, {1});
  DatasetOptions o;
  o.mean = {2, 20};
  o.stddev = {1, 10};
  auto d = MakeDataset(f, l, o);
  ASSERT_TRUE(d.ok()) << d.status().message();
  const float* x = d->features.data<float>();
  EXPECT_EQ(std::vector<float>(x, x + 4), (std::vector<float>{-1, 1, -1, 1}));

  o.mean = {1};
  o.stddev = {2};
  d = MakeDataset(f, l, o);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->features.data<float>()[3], 14.5f);

  o.mean = {0, 0, 0};
  o.stddev = {1, 1, 1};
  EXPECT_CONTAINS(MakeError(f, l, o),
                  "3 mean/stddev values need features [N, 3, ...], got [1,2,2]");
  o.mean = {0};
  o.stddev = {0};
  EXPECT_CONTAINS(MakeError(f, l, o), "every stddev must be finite and > 0, got 0");
  o.stddev = {1, 2};
  EXPECT_CONTAINS(MakeError(f, l, o), "1 mean values but 2 stddev values");

  auto stats = ComputeFeatureStats(f, true);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->mean, (std::vector<float>{2, 20}));
  EXPECT_EQ(stats->stddev, (std::vector<float>{1, 10}));
  auto global = ComputeFeatureStats(f, false);
  ASSERT_TRUE(global.ok());
  EXPECT_FLOAT_EQ(global->mean[0], 11.0f);
  EXPECT_FALSE(ComputeFeatureStats(Tensor::FromVector<uint8_t>({1}, {1, 1}), false).ok());
}

TEST(DatasetTest, LabelChecks) {
  Tensor f = Tensor::FromVector<float>({1, 2, 3}, {3, 1});
  EXPECT_CONTAINS(MakeError(f, Tensor::FromVector<int64_t>({0, 1}, {2})),
                  "features 'features' have 3 examples but labels 'labels' have 2");
  EXPECT_CONTAINS(MakeError(f, Tensor::FromVector<int32_t>({0, -1, 2}, {3})),
                  "labels: label 1 is -1, expected a class index >= 0");
  DatasetOptions ten;
  ten.num_classes = 10;
  EXPECT_CONTAINS(MakeError(f, Tensor::FromVector<uint8_t>({0, 10, 2}, {3}), ten),
                  "label 1 is 10, expected a class index in [0, 9]");
  EXPECT_CONTAINS(MakeError(f, Tensor::FromVector<double>({0, 1.5, 2}, {3})),
                  "label 1 is 1.5, expected a class index (a whole number >= 0)");
  EXPECT_CONTAINS(MakeError(f, Tensor::FromVector<int64_t>({0, 1, 2}, {3, 1})),
                  "labels must have shape [N], got [3,1]");
  auto whole = MakeDataset(f, Tensor::FromVector<double>({0, 4, 2}, {3}));
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->labels.data<int64_t>()[1], 4);

  DatasetOptions regression;
  regression.label_kind = LabelKind::kFloat;
  auto r = MakeDataset(f, Tensor::FromVector<double>({0.25, -1, 2}, {3}), regression);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->labels.dtype(), DType::kFloat32);
  EXPECT_EQ(r->labels.data<float>()[0], 0.25f);
  EXPECT_CONTAINS(MakeError(f, Tensor::FromVector<double>({0, NAN, 2}, {3}), regression),
                  "label 1 is nan, expected a finite float32");
  EXPECT_CONTAINS(MakeError(Tensor::FromVector<double>({1, INFINITY, 3}, {3, 1}),
                            Tensor::FromVector<int64_t>({0, 1, 2}, {3})),
                  "features: feature element 1 (example 1) is inf");
}

TEST(DatasetTest, LoadsIdxNpyAndCsvFiles) {
  testing::TempDir dir;
  const std::string images =
      dir.Write("img.gz", Gzip(IdxUint8({3, 2, 2}, {0, 255, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8})));
  const std::string labels = dir.Write("lab", IdxUint8({3}, {2, 0, 1}));
  DatasetOptions o;
  o.num_classes = 3;
  auto idx = LoadDataset(images, labels, o);
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  EXPECT_EQ(idx->features.shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(idx->features.data<float>()[1], 1.0f);
  EXPECT_EQ(idx->labels.data<int64_t>()[0], 2);

  // .npy features and labels (gzip-compressed features), through the model module's reader.
  const std::string npy = dir.path() + "/f.npy";
  ASSERT_TRUE(WriteNpy(npy, Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {3, 2})).ok());
  auto npy_bytes = ReadDataFile(npy);
  ASSERT_TRUE(npy_bytes.ok());
  const std::string npy_gz = dir.Write("f.npy.gz", Gzip(*npy_bytes));
  const std::string npy_labels = dir.path() + "/l.npy";
  ASSERT_TRUE(WriteNpy(npy_labels, Tensor::FromVector<int64_t>({1, 1, 0}, {3})).ok());
  auto from_npy = LoadDataset(npy_gz, npy_labels);
  ASSERT_TRUE(from_npy.ok()) << from_npy.status().message();
  EXPECT_EQ(from_npy->features.data<float>()[5], 6.0f);
  EXPECT_EQ(from_npy->labels.data<int64_t>()[0], 1);

  // CSV features with a label column, and IDX features with a one-column CSV labels file.
  DatasetOptions csv;
  csv.csv.label_name = "y";
  auto from_csv = LoadDataset(dir.Write("t.csv", "a,y,b\n1,0,2\n3,1,4\n"), "", csv);
  ASSERT_TRUE(from_csv.ok()) << from_csv.status().message();
  EXPECT_EQ(from_csv->features.shape(), (Shape{2, 2}));
  EXPECT_EQ(from_csv->labels.data<int64_t>()[1], 1);
  auto csv_labels = LoadDataset(images, dir.Write("labels.csv", "label\n1\n2\n0\n"));
  ASSERT_TRUE(csv_labels.ok()) << csv_labels.status().message();
  EXPECT_EQ(csv_labels->labels.data<int64_t>()[1], 2);
}

TEST(DatasetTest, LoadErrorsNameTheFiles) {
  testing::TempDir dir;
  const std::string images = dir.Write("img", IdxUint8({3, 1}, {1, 2, 3}));
  const std::string four = dir.Write("four", IdxUint8({4}, {0, 1, 2, 3}));
  auto mismatch = LoadDataset(images, four);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().message(),
            "features '" + images + "' have 3 examples but labels '" + four + "' have 4");
  auto no_labels = LoadDataset(images, "");
  ASSERT_FALSE(no_labels.ok());
  EXPECT_CONTAINS(no_labels.status().message(), images + ": no labels: give a labels file");
  DatasetOptions csv;
  csv.csv.label_name = "y";
  const std::string table = dir.Write("t.csv", "x,y\n1,0\n");
  auto twice = LoadDataset(table, four, csv);
  ASSERT_FALSE(twice.ok());
  EXPECT_CONTAINS(twice.status().message(), "the CSV has a label column, so no labels file");
  auto wide = LoadDataset(images, dir.Write("wide.csv", "1,2\n3,4\n5,6\n"));
  ASSERT_FALSE(wide.ok());
  EXPECT_CONTAINS(wide.status().message(),
                  "wide.csv: a CSV labels file must have one column, got 2");
  auto truncated = LoadDataset(images, dir.Write("short", IdxUint8({3}, {0, 1})));
  ASSERT_FALSE(truncated.ok());
  EXPECT_CONTAINS(truncated.status().message(), "short: truncated IDX file");
  auto csv_tensor = ReadTensorData(table);
  ASSERT_FALSE(csv_tensor.ok());
  EXPECT_CONTAINS(csv_tensor.status().message(), "neither IDX nor .npy");
}

TEST(DatasetTest, Subset) {
  Tensor f = Tensor::FromVector<float>({0, 0, 1, 1, 2, 2}, {3, 2});
  Tensor l = Tensor::FromVector<int64_t>({10, 11, 12}, {3});
  auto d = MakeDataset(f, l);
  ASSERT_TRUE(d.ok());
  const std::vector<int64_t> pick = {2, 0, 2};
  auto s = SubsetDataset(*d, pick);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->features.shape(), (Shape{3, 2}));
  EXPECT_EQ(s->features.data<float>()[1], 2.0f);
  EXPECT_EQ(s->features.data<float>()[2], 0.0f);
  EXPECT_EQ(s->labels.data<int64_t>()[2], 12);
  const std::vector<int64_t> bad = {1, 3};
  auto out = SubsetDataset(*d, bad);
  ASSERT_FALSE(out.ok());
  EXPECT_CONTAINS(out.status().message(), "subset: index 3 at position 1 is outside [0, 3)");
}

}  // namespace
}  // namespace privedge
