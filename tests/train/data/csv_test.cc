// The CSV reader: headers, label columns, quoting, and errors that point at the cell.
#include <gtest/gtest.h>

#include "privedge/dataset.h"
#include "train/data/data_test_util.h"

namespace privedge {
namespace {

using testing::Bytes;

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

Result<CsvTable> Parse(const std::string& text, const CsvOptions& options = {},
                       const DataLimits& limits = {}) {
  return ParseCsv(Bytes(text), "t.csv", options, limits);
}

std::string ParseError(const std::string& text, const CsvOptions& options = {},
                       const DataLimits& limits = {}) {
  auto r = Parse(text, options, limits);
  EXPECT_FALSE(r.ok()) << "parsed " << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().message().rfind("t.csv: ", 0), 0u) << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
  return r.status().message();
}

CsvOptions LabelNamed(const std::string& name) {
  CsvOptions o;
  o.label_name = name;
  return o;
}

CsvOptions LabelAt(int64_t index) {
  CsvOptions o;
  o.has_label_index = true;
  o.label_index = index;
  return o;
}

std::vector<float> Floats(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

std::vector<double> Doubles(const Tensor& t) {
  return std::vector<double>(t.data<double>(), t.data<double>() + t.numel());
}

TEST(CsvTest, HeaderAndLabelByName) {
  auto t = Parse("sepal,species,petal\n5.1,0,1.4\n-4.9,2,1e-1\n", LabelNamed("species"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->features.dtype(), DType::kFloat32);
  EXPECT_EQ(t->features.shape(), (Shape{2, 2}));
  EXPECT_EQ(Floats(t->features), (std::vector<float>{5.1f, 1.4f, -4.9f, 0.1f}));
  EXPECT_EQ(t->labels.dtype(), DType::kFloat64);
  EXPECT_EQ(Doubles(t->labels), (std::vector<double>{0, 2}));
  EXPECT_EQ(t->feature_names, (std::vector<std::string>{"sepal", "petal"}));
  EXPECT_EQ(t->label_name, "species");
}

TEST(CsvTest, LabelByIndexAndNoHeader) {
  auto first = Parse("1,2,3\n4,5,6\n", LabelAt(0));
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(Doubles(first->labels), (std::vector<double>{1, 4}));
  EXPECT_EQ(Floats(first->features), (std::vector<float>{2, 3, 5, 6}));
  EXPECT_TRUE(first->feature_names.empty());

  auto last = Parse("1,2,3\n4,5,6\n", LabelAt(-1));
  ASSERT_TRUE(last.ok()) << last.status().message();
  EXPECT_EQ(Doubles(last->labels), (std::vector<double>{3, 6}));

  auto none = Parse("1,2,3\n4,5,6\n");
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_EQ(none->features.shape(), (Shape{2, 3}));
  EXPECT_FALSE(none->labels.defined());
}

TEST(CsvTest, HeaderModes) {
  // A numeric first row is data under kAuto, a header under kPresent.
  CsvOptions present;
  present.header = CsvOptions::Header::kPresent;
  auto t = Parse("10,20\n1,2\n", present);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->features.shape(), (Shape{1, 2}));
  EXPECT_EQ(t->feature_names, (std::vector<std::string>{"10", "20"}));
  CsvOptions absent;
  absent.header = CsvOptions::Header::kAbsent;
  EXPECT_CONTAINS(ParseError("a,b\n1,2\n", absent),
                  "t.csv: line 1, column 1: expected a number, got 'a'");
}

TEST(CsvTest, FormattingVariants) {
  // BOM, CRLF, blank lines, spaces, quotes (with an escaped quote in the header), '+' signs,
  // exponents, and a tab delimiter.
  auto t = Parse("\xEF\xBB\xBF\"x \"\"1\"\"\", \"y,2\"\r\n\r\n  +1.5 , \"2\" \r\n   \n3e2,-.5\n\n");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->feature_names, (std::vector<std::string>{"x \"1\"", "y,2"}));
  EXPECT_EQ(Floats(t->features), (std::vector<float>{1.5f, 2, 300, -0.5f}));

  CsvOptions tab;
  tab.delimiter = '\t';
  auto tsv = Parse("a\tb\n1\t2\n", tab);
  ASSERT_TRUE(tsv.ok()) << tsv.status().message();
  EXPECT_EQ(Floats(tsv->features), (std::vector<float>{1, 2}));

  auto no_final_newline = Parse("1,2\n3,4");
  ASSERT_TRUE(no_final_newline.ok()) << no_final_newline.status().message();
  EXPECT_EQ(no_final_newline->features.shape(), (Shape{2, 2}));
}

TEST(CsvTest, BadCellsNameLineAndColumn) {
  const std::string head = "a,b,c\n1,2,3\n";
  EXPECT_CONTAINS(ParseError(head + "4,abc,6\n"),
                  "t.csv: line 3, column 2 ('b'): expected a number, got 'abc'");
  EXPECT_CONTAINS(ParseError(head + "4,,6\n"), "line 3, column 2 ('b'): expected a number, got ''");
  EXPECT_CONTAINS(ParseError(head + "4,5,nan\n"),
                  "line 3, column 3 ('c'): expected a finite number, got 'nan'");
  EXPECT_CONTAINS(ParseError(head + "-inf,5,6\n"), "expected a finite number, got '-inf'");
  EXPECT_CONTAINS(ParseError(head + "4,5,1e39\n"), "value '1e39' is outside the float32 range");
  EXPECT_CONTAINS(ParseError(head + "4,5,1e999\n"), "number out of range: '1e999'");
  EXPECT_CONTAINS(ParseError(head + "4,5,6x\n"), "got '6x'");
  EXPECT_CONTAINS(ParseError(head + "4,5,0x10\n"), "got '0x10'");
  EXPECT_CONTAINS(ParseError(head + "4,5\n"), "t.csv: line 3: 2 cells, expected 3 (as in line 1)");
  EXPECT_CONTAINS(ParseError(head + "\n\n4,5,6,7\n"),
                  "t.csv: line 5: more than 3 cells (expected 3, as in line 1)");
  EXPECT_CONTAINS(ParseError(head + "4,\"5,6\n"), "line 3, column 2: unterminated quoted cell");
  EXPECT_CONTAINS(ParseError(head + "4,\"5\"x,6\n"), "text after the closing quote");
  // Hostile bytes are shown escaped and cut short, keeping the message one line.
  const std::string long_cell = "\x01\x1b[2J" + std::string(100, 'z');
  const std::string msg = ParseError(head + "4,5," + long_cell + "\n");
  EXPECT_CONTAINS(msg, "got '\\x01\\x1b[2Jzzz");
  EXPECT_CONTAINS(msg, "zzz...'");
  EXPECT_EQ(msg.find('\x1b'), std::string::npos);
}

TEST(CsvTest, BadStructureAndOptions) {
  EXPECT_CONTAINS(ParseError(""), "t.csv: empty CSV file (no rows)");
  EXPECT_CONTAINS(ParseError(" \n\r\n"), "empty CSV file");
  EXPECT_CONTAINS(ParseError("a,b\n"), "t.csv: CSV file has a header but no data rows");
  EXPECT_CONTAINS(ParseError("a,b\n1,2\n", LabelNamed("c")),
                  "t.csv: no column named 'c' in the header (2 columns, first 'a')");
  EXPECT_CONTAINS(ParseError("1,2\n", LabelNamed("a")),
                  "label column 'a' is given by name but the file has no header row");
  EXPECT_CONTAINS(ParseError("1,2\n", LabelAt(2)),
                  "label column index 2 is outside [-2, 1] for 2 columns");
  EXPECT_CONTAINS(ParseError("1,2\n", LabelAt(-3)), "label column index -3 is outside");
  EXPECT_CONTAINS(ParseError("y\n1\n", LabelNamed("y")), "t.csv: no feature columns");
  CsvOptions both = LabelNamed("a");
  both.has_label_index = true;
  EXPECT_CONTAINS(ParseError("a,b\n1,2\n", both), "given both by name ('a') and by index (0)");
  CsvOptions dot;
  dot.delimiter = '.';
  EXPECT_CONTAINS(ParseError("1.2\n", dot), "CSV delimiter '.' is not allowed");
}

TEST(CsvTest, SizeLimit) {
  DataLimits limits;
  limits.max_bytes = 64;  // 4 rows of two float32 features and a float64 label (16 bytes each)
  std::string text = "a,b,y\n";
  for (int i = 0; i < 4; ++i) text += "1,2,0\n";
  EXPECT_TRUE(Parse(text, LabelNamed("y"), limits).ok());
  for (int i = 0; i < 5; ++i) text += "1,2,0\n";
  auto r = Parse(text, LabelNamed("y"), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_CONTAINS(r.status().message(), "t.csv: line 6: 5 rows of 3 columns exceed");
  EXPECT_CONTAINS(r.status().message(), "limit of 64 bytes");
  limits.max_bytes = 8;
  EXPECT_CONTAINS(ParseError("1,2,3\n4,5,6\n", {}, limits),
                  "t.csv: 12 bytes, above the limit of 8 bytes");
}

TEST(CsvTest, GzipAndFiles) {
  const std::string text = "f1,f2,label\n0.5,1,3\n2,4,1\n";
  auto gz = ParseCsv(Bytes(testing::Gzip(text)), "t.csv.gz", LabelNamed("label"));
  ASSERT_TRUE(gz.ok()) << gz.status().message();
  EXPECT_EQ(Floats(gz->features), (std::vector<float>{0.5f, 1, 2, 4}));
  testing::TempDir dir;
  auto file = ReadCsvFile(dir.Write("d.bin", testing::Gzip(text)), LabelAt(2));
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(Doubles(file->labels), (std::vector<double>{3, 1}));
  auto bad = ReadCsvFile(dir.Write("bad.csv", "a\nq\n"));
  ASSERT_FALSE(bad.ok());
  EXPECT_CONTAINS(bad.status().message(), "/bad.csv: line 2, column 1 ('a')");
}

TEST(CsvTest, RandomMutationsNeverCrash) {
  const std::string seed = "a,\"b\",label\n1.5,-2e3,0\n3,4,1\r\n\n5,+6,2\n";
  int failed = 0;
  for (const std::string& bytes : testing::Mutations(seed, 3000, 3)) {
    auto r = ParseCsv(Bytes(bytes), "m.csv", LabelNamed("label"));
    if (!r.ok()) {
      ++failed;
      EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
    } else {
      EXPECT_EQ(r->features.dim(0), r->labels.dim(0));
    }
  }
  EXPECT_GT(failed, 0);
}

}  // namespace
}  // namespace privedge
