// The parent's decoders of worker messages: round trips, and hostile bytes rejected with a
// clear error before any allocation they describe.
#include "sandbox/wire.h"

#include <gtest/gtest.h>

#include <cstring>

namespace privedge::sandbox {
namespace {

std::vector<uint8_t> Encode(const NamedTensors& t) {
  Writer count(nullptr, 0);
  EncodeTensors(t, count);
  std::vector<uint8_t> buf(count.size());
  Writer w(buf.data(), buf.size());
  EncodeTensors(t, w);
  EXPECT_FALSE(w.overflow());
  return buf;
}

TEST(SandboxWire, TensorsRoundTrip) {
  Tensor s(DType::kString, {2});
  s.data<std::string>()[0] = "a\nb";
  s.data<std::string>()[1] = std::string(100, 'z');
  const NamedTensors in = {{"f", Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3})},
                           {"s", s},
                           {"empty", Tensor(DType::kInt64, {0, 4})},
                           {"scalar", Tensor::Scalar<uint8_t>(7)}};
  std::vector<uint8_t> buf = Encode(in);
  Reader r(buf.data(), buf.size());
  auto out = DecodeTensors(r, 1 << 20);
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->size(), 4u);
  EXPECT_EQ((*out)[0].second.shape(), (Shape{2, 3}));
  EXPECT_EQ((*out)[0].second.data<float>()[5], 6.0f);
  EXPECT_EQ((*out)[1].second.data<std::string>()[0], "a\nb");
  EXPECT_EQ((*out)[2].second.shape(), (Shape{0, 4}));
  EXPECT_EQ((*out)[3].second.data<uint8_t>()[0], 7);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(SandboxWire, TruncatedAndOversizedMessagesAreRejected) {
  std::vector<uint8_t> buf = Encode({{"f", Tensor::FromVector<float>({1, 2, 3, 4}, {4})}});
  for (size_t cut = 0; cut < buf.size(); ++cut) {
    Reader r(buf.data(), cut);
    auto out = DecodeTensors(r, 1 << 20);
    ASSERT_FALSE(out.ok()) << cut;
    EXPECT_EQ(out.status().code(), StatusCode::kAborted);
    EXPECT_EQ(out.status().message().rfind("bad message from the worker: ", 0), 0u);
  }
  // Over the size limit: refused from the header, before reading or allocating the data.
  Reader small(buf.data(), buf.size());
  auto limited = DecodeTensors(small, 8);
  ASSERT_FALSE(limited.ok());
  EXPECT_NE(limited.status().message().find("exceeds the tensor size limit"), std::string::npos);
}

TEST(SandboxWire, HostileHeadersAreRejected) {
  auto header = [](uint64_t count, uint32_t dtype, uint32_t rank, std::vector<uint64_t> dims) {
    std::vector<uint8_t> b(1024);
    Writer w(b.data(), b.size());
    w.U64(count);
    w.Str("t");
    w.U32(dtype);
    w.U32(rank);
    for (uint64_t d : dims) w.U64(d);
    b.resize(w.size());
    return b;
  };
  struct Case {
    std::vector<uint8_t> bytes;
    const char* error;
  };
  const Case cases[] = {
      {header(uint64_t{1} << 40, 1, 0, {}), "tensor count"},
      {header(1, 99, 0, {}), "unknown type 99"},
      {header(1, 1, 1000, {}), "rank 1000"},
      {header(1, 1, 1, {uint64_t(-3)}), "is invalid or exceeds"},
      {header(1, 1, 2, {uint64_t{1} << 32, uint64_t{1} << 32}), "is invalid or exceeds"},
      {header(1, 8, 1, {uint64_t{1} << 40}), "is invalid or exceeds"},
  };
  for (const Case& c : cases) {
    Reader r(c.bytes.data(), c.bytes.size());
    auto out = DecodeTensors(r, 1 << 20);
    ASSERT_FALSE(out.ok()) << c.error;
    EXPECT_NE(out.status().message().find(c.error), std::string::npos) << out.status().message();
  }
}

TEST(SandboxWire, StatusAndInfos) {
  std::vector<uint8_t> b(256);
  Writer w(b.data(), b.size());
  EncodeStatus(Status(StatusCode::kInvalidArgument, "two\nlines"), w);
  TensorInfo info;
  info.name = "x";
  info.dtype = DType::kFloat32;
  info.has_shape = true;
  info.shape = {DimInfo{-1, "batch"}, DimInfo{3, ""}};
  EncodeTensorInfos({info}, w);
  Reader r(b.data(), w.size());
  Status s = DecodeStatus(r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "two lines");  // one line, whatever the worker sent
  auto infos = DecodeTensorInfos(r);
  ASSERT_TRUE(infos.ok());
  EXPECT_EQ((*infos)[0].ToString(), "float32[batch,3]");
  // An unknown status code is a protocol error, not a success.
  std::vector<uint8_t> z(64);
  Writer zw(z.data(), z.size());
  zw.U32(0);
  zw.Str("fine");
  Reader zr(z.data(), zw.size());
  EXPECT_EQ(DecodeStatus(zr).code(), StatusCode::kAborted);
}

}  // namespace
}  // namespace privedge::sandbox
