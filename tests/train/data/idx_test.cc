// The IDX reader: every element type, gzip, and hostile files.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include "privedge/dataset.h"
#include "train/data/data_test_util.h"

namespace privedge {
namespace {

using testing::Bytes;
using testing::Gzip;
using testing::IdxBytes;
using testing::IdxUint8;

// The error of parsing `bytes`, or a test failure when it parses.
std::string ParseError(const std::string& bytes, const DataLimits& limits = {}) {
  auto r = ParseIdx(Bytes(bytes), "x.idx", limits);
  EXPECT_FALSE(r.ok()) << "parsed: " << DTypeName(r->dtype()) << ShapeToString(r->shape());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().message().rfind("x.idx: ", 0), 0u) << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << r.status().message();
  return r.status().message();
}

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

TEST(IdxTest, ReadsEveryElementTypeBigEndian) {
  auto u8 = ParseIdx(Bytes(IdxUint8({2, 3}, {0, 1, 2, 253, 254, 255})), "u8");
  ASSERT_TRUE(u8.ok()) << u8.status().message();
  EXPECT_EQ(u8->dtype(), DType::kUInt8);
  EXPECT_EQ(u8->shape(), (Shape{2, 3}));
  EXPECT_EQ(u8->data<uint8_t>()[3], 253);

  auto i8 = ParseIdx(Bytes(IdxBytes(0x09, {2}, "\x80\x7f")), "i8");
  ASSERT_TRUE(i8.ok()) << i8.status().message();
  EXPECT_EQ(i8->dtype(), DType::kInt8);
  EXPECT_EQ(i8->data<int8_t>()[0], -128);
  EXPECT_EQ(i8->data<int8_t>()[1], 127);

  auto i16 = ParseIdx(Bytes(IdxBytes(0x0B, {2}, std::string("\x01\x02\xff\xfe", 4))), "i16");
  ASSERT_TRUE(i16.ok()) << i16.status().message();
  EXPECT_EQ(i16->dtype(), DType::kInt16);
  EXPECT_EQ(i16->data<int16_t>()[0], 0x0102);
  EXPECT_EQ(i16->data<int16_t>()[1], -2);

  auto i32 = ParseIdx(Bytes(IdxBytes(0x0C, {1, 1, 1}, std::string("\x01\x02\x03\x04", 4))), "i32");
  ASSERT_TRUE(i32.ok()) << i32.status().message();
  EXPECT_EQ(i32->dtype(), DType::kInt32);
  EXPECT_EQ(i32->shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(i32->data<int32_t>()[0], 0x01020304);

  // 1.5f = 0x3FC00000, -2.0 = 0xC000000000000000.
  auto f32 = ParseIdx(Bytes(IdxBytes(0x0D, {1}, std::string("\x3f\xc0\x00\x00", 4))), "f32");
  ASSERT_TRUE(f32.ok()) << f32.status().message();
  EXPECT_EQ(f32->dtype(), DType::kFloat32);
  EXPECT_EQ(f32->data<float>()[0], 1.5f);
  auto f64 = ParseIdx(Bytes(IdxBytes(0x0E, {1}, std::string("\xc0\0\0\0\0\0\0\0", 8))), "f64");
  ASSERT_TRUE(f64.ok()) << f64.status().message();
  EXPECT_EQ(f64->dtype(), DType::kFloat64);
  EXPECT_EQ(f64->data<double>()[0], -2.0);
}

TEST(IdxTest, ZeroSizedDimensionIsAnEmptyTensor) {
  auto t = ParseIdx(Bytes(IdxUint8({0, 28, 28}, {})), "empty");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->shape(), (Shape{0, 28, 28}));
}

TEST(IdxTest, GzipIsDetectedByContentAndInflated) {
  std::vector<uint8_t> values(3 * 5 * 7);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(i * 37);
  const std::string plain = IdxUint8({3, 5, 7}, values);
  testing::TempDir dir;
  // Names lie on purpose: the format comes from the bytes.
  const std::string gz_path = dir.Write("images.idx", Gzip(plain));
  const std::string plain_path = dir.Write("images.gz", plain);
  auto a = ReadIdxFile(gz_path);
  auto b = ReadIdxFile(plain_path);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(a->shape(), (Shape{3, 5, 7}));
  EXPECT_EQ(std::memcmp(a->raw_data(), values.data(), values.size()), 0);
  EXPECT_EQ(std::memcmp(b->raw_data(), values.data(), values.size()), 0);

  // Concatenated gzip members form one stream (as `cat a.gz b.gz` gives).
  const std::string two = Gzip(plain.substr(0, 10)) + Gzip(plain.substr(10));
  auto c = ParseIdx(Bytes(two), "two members");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(std::memcmp(c->raw_data(), values.data(), values.size()), 0);
}

TEST(IdxTest, RejectsMalformedHeaders) {
  EXPECT_CONTAINS(ParseError(""), "magic number needs 4 bytes at offset 0, file has 0");
  EXPECT_CONTAINS(ParseError(std::string("\0\0\x08", 3)), "needs 4 bytes");
  EXPECT_CONTAINS(ParseError(std::string("\x01\0\x08\x01\0\0\0\0", 8)),
                  "not an IDX file (magic starts 0x01 0x00, expected 0x00 0x00)");
  EXPECT_CONTAINS(ParseError(IdxBytes(0x0A, {1}, "x")), "unknown IDX element type 0x0A");
  EXPECT_CONTAINS(ParseError(IdxBytes(0x08, {}, "")), "IDX rank 0 is outside [1, 8]");
  EXPECT_CONTAINS(ParseError(IdxBytes(0x08, std::vector<uint32_t>(9, 1), "x")),
                  "IDX rank 9 is outside [1, 8]");
  EXPECT_CONTAINS(ParseError(IdxBytes(0x08, {2, 3}, "").substr(0, 5)),
                  "2 dimensions needs 8 bytes at offset 4, file has 1");
}

TEST(IdxTest, RejectsTruncatedAndTrailingData) {
  const std::string good = IdxBytes(0x0C, {2, 2}, std::string(16, '\x01'));
  EXPECT_CONTAINS(ParseError(good.substr(0, good.size() - 1)),
                  "header declares int32[2,2] (16 bytes) but the file has 15");
  EXPECT_CONTAINS(ParseError(good + "zz"),
                  "2 trailing bytes after the 28 bytes the IDX header declares");
  // The same through gzip: the inflated stream is what is short or long.
  EXPECT_CONTAINS(ParseError(Gzip(good.substr(0, good.size() - 1))), "inflated data has 15");
  EXPECT_CONTAINS(ParseError(Gzip(good + "z")), "trailing data after the 28 bytes");
}

TEST(IdxTest, RefusesHugeShapesBeforeAllocating) {
  // 4 x 2^32-1: overflows 64 bits.
  EXPECT_CONTAINS(ParseError(IdxBytes(0x0E, {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, "")),
                  "more than 2^64 bytes, above the limit");
  // 4 GB declared: above the default 1 GiB limit.
  EXPECT_CONTAINS(ParseError(IdxBytes(0x08, {65536, 65536}, "")),
                  "IDX header declares uint8[65536,65536], 4294967296 bytes, above the limit of "
                  "1073741824 bytes");
  // 100 MB declared in a 20-byte file: within the limit, but the file cannot hold it. Refused
  // at once, without allocating and zeroing 100 MB.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_CONTAINS(ParseError(IdxBytes(0x08, {100, 1000, 1000}, "abcd")),
                  "header declares uint8[100,1000,1000] (100000000 bytes) but the file has 4");
  // Through gzip, the bound is what deflate could possibly expand the input to.
  EXPECT_CONTAINS(ParseError(Gzip(IdxBytes(0x08, {100, 1000, 1000}, "abcd"))),
                  "but the compressed input can hold at most");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));

  DataLimits small;
  small.max_bytes = 1000;
  EXPECT_CONTAINS(ParseError(IdxUint8({1000}, std::vector<uint8_t>(1000)), small),
                  "1000 bytes, above the limit of 1000 bytes");
  EXPECT_TRUE(ParseIdx(Bytes(IdxUint8({988}, std::vector<uint8_t>(988))), "fits", small).ok());
  small.max_rank = 2;
  EXPECT_CONTAINS(ParseError(IdxUint8({1, 1, 1}, {7}), small), "IDX rank 3 is outside [1, 2]");
}

TEST(IdxTest, DecompressionBombIsStoppedAtTheLimit) {
  // 16 MiB of zeros compress to ~70 KiB (zlib level 1). Declared small: the trailing data is found
  // after inflating one byte past the payload, not the whole stream.
  const std::string bomb_payload(16 << 20, '\0');
  const std::string bomb = Gzip(IdxUint8({16}, {}) + bomb_payload);
  ASSERT_LT(bomb.size(), 100000u);
  EXPECT_CONTAINS(ParseError(bomb), "trailing data after the 24 bytes");
  // Declared big: refused by the limit before inflating.
  DataLimits limits;
  limits.max_bytes = 1 << 20;
  const std::string declared = Gzip(IdxUint8({16u << 20}, {}) + bomb_payload);
  EXPECT_CONTAINS(ParseError(declared, limits), "above the limit of 1048576 bytes");
  // Inflating a whole file stops one byte past the limit.
  auto inflated = InflateIfGzip(Bytes(Gzip(bomb_payload)), "bomb.gz", limits);
  ASSERT_FALSE(inflated.ok());
  EXPECT_EQ(inflated.status().code(), StatusCode::kResourceExhausted);
  EXPECT_CONTAINS(inflated.status().message(), "bomb.gz: inflates to more than 1048576 bytes");
}

TEST(IdxTest, RejectsCorruptGzip) {
  std::vector<uint8_t> values(4000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>((i * i) >> 3);
  const std::string gz = Gzip(IdxUint8({40, 100}, values));
  EXPECT_CONTAINS(ParseError(gz.substr(0, gz.size() / 2)), "truncated gzip stream");
  // Without its 8-byte trailer (CRC-32 and length) the data is complete but unverified.
  EXPECT_CONTAINS(ParseError(gz.substr(0, gz.size() - 4)), "truncated gzip stream");
  std::string flipped = gz;
  flipped[gz.size() - 6] ^= 0x01;  // in the CRC-32
  EXPECT_CONTAINS(ParseError(flipped), "corrupt gzip data");
  EXPECT_CONTAINS(ParseError(gz + "junk"), "4 bytes of trailing data after the gzip stream");
}

TEST(IdxTest, RandomMutationsNeverCrash) {
  std::vector<uint8_t> values(2 * 3 * 4);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(i);
  const std::string plain = IdxUint8({2, 3, 4}, values);
  const std::string f64 = IdxBytes(0x0E, {3}, std::string(24, '\x40'));
  int parsed = 0, failed = 0;
  for (const std::string* seed : {&plain, &f64}) {
    for (const std::string& bytes : testing::Mutations(*seed, 1500, 1)) {
      auto r = ParseIdx(Bytes(bytes), "m");
      r.ok() ? ++parsed : ++failed;
      if (!r.ok()) {
        EXPECT_EQ(r.status().message().rfind("m: ", 0), 0u) << r.status().message();
      }
    }
    for (const std::string& bytes : testing::Mutations(Gzip(*seed), 1500, 2)) {
      auto r = ParseIdx(Bytes(bytes), "m");
      r.ok() ? ++parsed : ++failed;
    }
  }
  EXPECT_GT(failed, 0);
  EXPECT_GT(parsed, 0);  // some flips only change element values
}

TEST(IdxTest, FileErrorsNameTheFile) {
  testing::TempDir dir;
  auto missing = ReadIdxFile(dir.path() + "/none.idx");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_CONTAINS(missing.status().message(), "none.idx");
  auto directory = ReadIdxFile(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_CONTAINS(directory.status().message(), "is not a regular file");
  DataLimits limits;
  limits.max_bytes = 10;
  auto big = ReadIdxFile(dir.Write("big.idx", std::string(11, '\0')), limits);
  ASSERT_FALSE(big.ok());
  EXPECT_CONTAINS(big.status().message(), "big.idx' is 11 bytes, above the limit of 10 bytes");
}

TEST(IdxTest, FormatDetection) {
  EXPECT_EQ(DetectDataFormat(Bytes(IdxUint8({1}, {1}))), DataFormat::kIdx);
  EXPECT_EQ(DetectDataFormat(Bytes("\x93NUMPY\x01")), DataFormat::kNpy);
  EXPECT_EQ(DetectDataFormat(Bytes("a,b\n1,2\n")), DataFormat::kCsv);
  EXPECT_EQ(DetectDataFormat(Bytes(std::string("\0\0\x07\x01", 4))), DataFormat::kCsv);
  EXPECT_TRUE(IsGzip(Bytes(Gzip("x"))));
  EXPECT_FALSE(IsGzip(Bytes("\x1f")));
}

}  // namespace
}  // namespace privedge
