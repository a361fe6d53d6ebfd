#include <gtest/gtest.h>

#include "kernels/kernel_test_util.h"

namespace privedge {
namespace {

using testing::FloatAttr;
using testing::Floats;
using testing::FloatsAttr;
using testing::IntAttr;
using testing::IntsAttr;
using testing::RunOp;
using testing::StringAttr;

Attribute StringsAttr(const std::vector<std::string>& v) {
  Attribute a;
  a.kind = Attribute::Kind::kStrings;
  a.strings = v;
  return a;
}

TEST(MiscTest, StringNormalizerStopwordsAndCase) {
  Tensor x = Tensor::FromVector<std::string>({"Monday", "tuesday", "\xC3\x89t\xC3\xA9"}, {1, 3});
  auto r =
      RunOp("StringNormalizer", {x},
            {{"case_change_action", StringAttr("UPPER")}, {"stopwords", StringsAttr({"monday"})}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 2}));
  EXPECT_EQ(testing::Values<std::string>((*r)[0]),
            (std::vector<std::string>{"TUESDAY", "\xC3\x89T\xC3\x89"}));
  // Case-sensitive matching drops nothing here; everything dropped gives one empty string.
  auto cs = RunOp("StringNormalizer", {x},
                  {{"is_case_sensitive", IntAttr(1)}, {"stopwords", StringsAttr({"monday"})}});
  ASSERT_TRUE(cs.ok());
  EXPECT_EQ((*cs)[0].numel(), 3);
  Tensor all = Tensor::FromVector<std::string>({"a", "A"}, {2});
  auto empty = RunOp("StringNormalizer", {all}, {{"stopwords", StringsAttr({"a"})}});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)[0].shape(), (Shape{1}));
  EXPECT_EQ(testing::Values<std::string>((*empty)[0]), (std::vector<std::string>{""}));
  EXPECT_FALSE(
      RunOp("StringNormalizer", {Tensor::FromVector<std::string>({"a", "b"}, {2, 1})}).ok());
}

TEST(MiscTest, TfIdfVectorizerModes) {
  // The spec example: 2-grams of [94, 17, 36, 12, 28] with skips up to 2.
  Tensor x = Tensor::FromVector<int64_t>({94, 17, 36, 12, 28}, {5});
  std::map<std::string, Attribute> attrs = {{"mode", StringAttr("TF")},
                                            {"min_gram_length", IntAttr(2)},
                                            {"max_gram_length", IntAttr(2)},
                                            {"max_skip_count", IntAttr(2)},
                                            {"ngram_counts", IntsAttr({0, 0})},
                                            {"ngram_indexes", IntsAttr({1, 0})},
                                            {"pool_int64s", IntsAttr({94, 12, 17, 28})}};
  auto tf = RunOp("TfIdfVectorizer", {x}, attrs);
  ASSERT_TRUE(tf.ok()) << tf.status().ToString();
  EXPECT_EQ(Floats((*tf)[0]), (std::vector<float>{1, 1}));
  attrs["mode"] = StringAttr("TFIDF");
  attrs["weights"] = FloatsAttr({2, 3});
  auto tfidf = RunOp("TfIdfVectorizer", {x}, attrs);
  ASSERT_TRUE(tfidf.ok());
  EXPECT_EQ(Floats((*tfidf)[0]), (std::vector<float>{3, 2}));
  attrs["ngram_indexes"] = IntsAttr({0});
  EXPECT_FALSE(RunOp("TfIdfVectorizer", {x}, attrs).ok());
}

TEST(MiscTest, TfIdfVectorizerStringsBatch) {
  Tensor x = Tensor::FromVector<std::string>({"a", "b", "a", "c", "c", "c"}, {2, 3});
  auto r = RunOp("TfIdfVectorizer", {x},
                 {{"mode", StringAttr("IDF")},
                  {"min_gram_length", IntAttr(1)},
                  {"max_gram_length", IntAttr(1)},
                  {"max_skip_count", IntAttr(0)},
                  {"ngram_counts", IntsAttr({0})},
                  {"ngram_indexes", IntsAttr({0, 1})},
                  {"pool_strings", StringsAttr({"a", "c"})},
                  {"weights", FloatsAttr({0.5, 4})}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(Floats((*r)[0]), (std::vector<float>{0.5, 0, 0, 4}));
}

TEST(MiscTest, RandomShapesTypesAndSeeds) {
  std::map<std::string, Attribute> attrs = {{"shape", IntsAttr({2, 3})},
                                            {"seed", FloatAttr(7)},
                                            {"low", FloatAttr(2)},
                                            {"high", FloatAttr(3)}};
  auto u1 = RunOp("RandomUniform", {}, attrs);
  auto u2 = RunOp("RandomUniform", {}, attrs);
  ASSERT_TRUE(u1.ok()) << u1.status().ToString();
  EXPECT_EQ((*u1)[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(Floats((*u1)[0]), Floats((*u2)[0]));
  for (float v : Floats((*u1)[0])) EXPECT_TRUE(v >= 2 && v <= 3);
  auto n = RunOp("RandomNormalLike", {Tensor::FromVector<int32_t>({1, 2}, {2})},
                 {{"dtype", IntAttr(11)}});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ((*n)[0].dtype(), DType::kFloat64);
  auto b =
      RunOp("Bernoulli", {Tensor::FromVector<float>({0, 1, 1, 0}, {4})}, {{"dtype", IntAttr(9)}});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  const bool* bv = (*b)[0].data<bool>();
  EXPECT_EQ(std::vector<bool>(bv, bv + 4), (std::vector<bool>{false, true, true, false}));
  EXPECT_FALSE(RunOp("Bernoulli", {Tensor::FromVector<float>({1.5f}, {1})}).ok());
  auto m = RunOp("Multinomial", {Tensor::FromVector<float>({-100, 0, -100}, {1, 3})},
                 {{"sample_size", IntAttr(5)}, {"dtype", IntAttr(7)}});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)[0].shape(), (Shape{1, 5}));
  EXPECT_EQ(testing::Ints((*m)[0]), (std::vector<int64_t>(5, 1)));
}

}  // namespace
}  // namespace privedge
