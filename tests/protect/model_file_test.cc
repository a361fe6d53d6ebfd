// The .pmc envelope: encryption detects every flipped bit, truncation, chunk swap and swapped
// header; a model encrypted for one keystore fails on another; signatures are required and
// checked; plain containers share their pages between processes.
#include "protect/model_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/container.h"
#include "privedge/session.h"
#include "runtime/session_impl.h"
#include "testing/memory_keystore.h"
#include "testing/temp_dir.h"

namespace privedge {
namespace {

namespace fs = std::filesystem;
using testing::MemoryKeystore;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// y = x + w with a 1000-float weight: a body of a few KiB, several 1 KiB chunks.
Model TinyModel() {
  Model m;
  m.ir_version = 8;
  m.opsets.push_back({"", 13});
  ValueInfo x{"x", {}};
  x.type.kind = TypeInfo::Kind::kTensor;
  x.type.elem_type = DType::kFloat32;
  x.type.has_shape = true;
  x.type.dims = {Dim{1000, ""}};
  ValueInfo y = x;
  y.name = "y";
  m.graph.inputs.push_back(x);
  m.graph.outputs.push_back(y);
  std::vector<float> w(1000);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f * static_cast<float>(i) - 7.25f;
  m.graph.initializers["w"] = Tensor::FromVector(w, {1000});
  Node add;
  add.op_type = "Add";
  add.inputs = {"x", "w"};
  add.outputs = {"y"};
  m.graph.nodes.push_back(add);
  return m;
}

Status Write(const std::string& path, Keystore* ks, const SigningKey* key = nullptr,
             uint32_t chunk = 1024) {
  PE_ASSIGN_OR_RETURN(SecureBuffer body, SerializeModel(TinyModel()));
  ContainerWriteOptions w;
  w.keystore = ks;
  w.signing_key = key;
  w.chunk_size = chunk;
  return WriteContainerFile(path, body.span(), w);
}

Status Open(const std::string& path, Keystore* ks, const PublicKey* signer = nullptr) {
  ContainerOpenOptions o;
  o.keystore = ks;
  o.require_signed_by = signer;
  PE_ASSIGN_OR_RETURN(OpenedContainer c, OpenContainerFile(path, o));
  return ParseModel(c.body, c.owner).status();
}

class EncryptedContainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
    path_ = (dir_ / "tiny.pmc").string();
    ASSERT_TRUE(Write(path_, &ks_).ok());
    bytes_ = ReadAll(path_);
  }
  testing::TempDir tmp_;
  MemoryKeystore ks_;
  fs::path dir_;
  std::string path_;
  std::string bytes_;
};

TEST_F(EncryptedContainerTest, OpensAndHoldsNoPlaintextWeights) {
  ASSERT_TRUE(Open(path_, &ks_).ok()) << Open(path_, &ks_).message();
  auto h = ReadContainerHeader(path_);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->encrypted);
  EXPECT_GT(h->chunk_count(), 3u);
  EXPECT_EQ(h->key_id, ks_.key_id());
  // No 16-byte window of the weights appears in the file.
  const Tensor w = TinyModel().graph.initializers.at("w");
  const char* wb = static_cast<const char*>(w.raw_data());
  for (size_t off = 0; off + 16 <= w.nbytes(); off += 16)
    EXPECT_EQ(bytes_.find(std::string(wb + off, 16)), std::string::npos) << off;
}

TEST(ModelFileTest, SessionRunsAnEncryptedContainerOnlyWithItsKeystore) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path();
  const std::string path = (dir / "e.pmc").string();
  auto ks = std::make_shared<MemoryKeystore>();
  ASSERT_TRUE(Write(path, ks.get()).ok());
  SessionOptions options;
  options.keystore = ks;
  auto s = Session::Load(path, options);
  ASSERT_TRUE(s.ok()) << s.status().message();
  std::vector<float> x(1000, 1.0f);
  auto out = (*s)->Run({{"x", Tensor::FromVector(x, {1000})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const float* y = (*out)[0].second.data<float>();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(y[i], 1.0f + (0.5f * static_cast<float>(i) - 7.25f));
  options.keystore = std::make_shared<MemoryKeystore>();
  auto other = Session::Load(path, options);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied);
  fs::remove_all(dir);
}

TEST_F(EncryptedContainerTest, EverySingleBitFlipIsRejected) {
  const int fd = open(path_.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  int tried = 0;
  // Every bit of the header's used fields and of the body; one bit per byte of the rest.
  for (size_t byte = 0; byte < bytes_.size(); ++byte) {
    const bool all_bits = byte < 600 || byte >= kContainerHeaderSize;
    for (int bit = 0; bit < 8; ++bit) {
      if (!all_bits && bit != static_cast<int>(byte % 8)) continue;
      const char flipped = static_cast<char>(bytes_[byte] ^ (1 << bit));
      ASSERT_EQ(pwrite(fd, &flipped, 1, static_cast<off_t>(byte)), 1);
      Status s = Open(path_, &ks_);
      EXPECT_FALSE(s.ok()) << "bit " << bit << " of byte " << byte << " went unnoticed";
      EXPECT_EQ(s.message().find('\n'), std::string::npos);
      ASSERT_EQ(pwrite(fd, &bytes_[byte], 1, static_cast<off_t>(byte)), 1);
      ++tried;
    }
  }
  close(fd);
  EXPECT_GT(tried, 8 * 4096);
  EXPECT_TRUE(Open(path_, &ks_).ok());
}

TEST_F(EncryptedContainerTest, EveryTruncationIsRejected) {
  // A new file per length: truncating one file in place costs milliseconds on ext4.
  for (size_t len = 0; len < bytes_.size(); ++len) {
    const std::string cut = (dir_ / ("cut" + std::to_string(len))).string();
    WriteAll(cut, bytes_.substr(0, len));
    EXPECT_FALSE(Open(cut, &ks_).ok()) << "truncated to " << len;
    fs::remove(cut);
  }
  WriteAll(path_, bytes_ + std::string(1, '\0'));
  EXPECT_FALSE(Open(path_, &ks_).ok()) << "extended by a byte";
}

TEST_F(EncryptedContainerTest, SwappedChunksAreRejected) {
  const size_t stored_chunk = 1024 + 16;
  std::string swapped = bytes_;
  std::memcpy(swapped.data() + kContainerHeaderSize,
              bytes_.data() + kContainerHeaderSize + stored_chunk, stored_chunk);
  std::memcpy(swapped.data() + kContainerHeaderSize + stored_chunk,
              bytes_.data() + kContainerHeaderSize, stored_chunk);
  WriteAll(path_, swapped);
  Status s = Open(path_, &ks_);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.message();
  EXPECT_NE(s.message().find("chunk 0"), std::string::npos) << s.message();
}

TEST_F(EncryptedContainerTest, HeaderFromAnotherContainerIsRejected) {
  const std::string other = (dir_ / "other.pmc").string();
  ASSERT_TRUE(Write(other, &ks_).ok());  // same model, same keystore, new key and nonces
  std::string mixed =
      ReadAll(other).substr(0, kContainerHeaderSize) + bytes_.substr(kContainerHeaderSize);
  WriteAll(path_, mixed);
  Status s = Open(path_, &ks_);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.message();
}

TEST_F(EncryptedContainerTest, AnotherKeystoreFailsNamingBothKeyIds) {
  MemoryKeystore other;
  Status s = Open(path_, &other);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.message();
  EXPECT_NE(s.message().find(ks_.key_id()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(other.key_id()), std::string::npos) << s.message();
  EXPECT_EQ(Open(path_, nullptr).code(), StatusCode::kInvalidArgument);
}

// Without SessionOptions::keystore, an encrypted container is opened with the default
// keystore ($PRIVEDGE_HOME/keys for the software backend).
TEST(ModelFileTest, SessionUsesTheDefaultKeystoreWhenNoneIsGiven) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path();
  const char* old_home = getenv("PRIVEDGE_HOME");
  const std::string saved = old_home ? old_home : "";
  setenv("PRIVEDGE_HOME", dir.c_str(), 1);
  KeystoreOptions ko;
  ko.create_if_missing = true;
  auto ks = OpenKeystore(ko);
  ASSERT_TRUE(ks.ok()) << ks.status().message();
  const std::string path = (dir / "e.pmc").string();
  ASSERT_TRUE(Write(path, ks->get()).ok());
  auto s = Session::Load(path);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (old_home) {
    setenv("PRIVEDGE_HOME", saved.c_str(), 1);
  } else {
    unsetenv("PRIVEDGE_HOME");
  }
  auto elsewhere = Session::Load(path);  // the default keystore is another one now
  EXPECT_FALSE(elsewhere.ok());
  fs::remove_all(dir);
}

TEST(ModelFileTest, PlainHeaderFieldsAreChecked) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path();
  const std::string path = (dir / "p.pmc").string();
  ASSERT_TRUE(Write(path, nullptr).ok());
  ASSERT_TRUE(Open(path, nullptr).ok());
  const std::string good = ReadAll(path);
  // (offset, value) edits of body offset/size, plain size, chunk size, key id length, flags,
  // version, reserved bytes: each a one-line error.
  const std::vector<std::pair<size_t, uint64_t>> edits = {
      {8, 2},           {12, 0x80}, {16, 0},   {16, 8192}, {24, 1ull << 40}, {24, 17}, {32, 0},
      {32, 1ull << 62}, {40, 4096}, {104, 65}, {104, 3},   {172, 1000},      {600, 1}, {4000, 7}};
  for (const auto& [off, v] : edits) {
    std::string bad = good;
    std::memcpy(bad.data() + off, &v,
                off == 40 || off == 104 || off == 172 || off == 8 || off == 12 ? 4 : 8);
    WriteAll(path, bad);
    Status s = Open(path, nullptr);
    EXPECT_EQ(s.code(), StatusCode::kInvalidModel) << off << ": " << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos);
  }
  WriteAll(path, "short");
  EXPECT_FALSE(Open(path, nullptr).ok());
  EXPECT_FALSE(IsContainerFile(path));
  fs::remove_all(dir);
}

TEST(ModelFileTest, RequireSignedRejectsUnsignedOtherSignerAndAltered) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path();
  ASSERT_TRUE(GenerateSigningKey((dir / "a.key").string(), (dir / "a.pub").string()).ok());
  ASSERT_TRUE(GenerateSigningKey((dir / "b.key").string(), (dir / "b.pub").string()).ok());
  auto a = LoadSigningKey((dir / "a.key").string());
  auto b = LoadSigningKey((dir / "b.key").string());
  ASSERT_TRUE(a.ok() && b.ok());
  const PublicKey a_pub = a->public_key();
  MemoryKeystore ks;
  for (Keystore* k : {static_cast<Keystore*>(nullptr), static_cast<Keystore*>(&ks)}) {
    SCOPED_TRACE(k ? "encrypted" : "plain");
    const std::string path = (dir / "m.pmc").string();
    ASSERT_TRUE(Write(path, k).ok());
    EXPECT_EQ(Open(path, k, &a_pub).code(), StatusCode::kUnauthenticated);  // unsigned
    ASSERT_TRUE(SignContainerFile(path, *b).ok());
    EXPECT_EQ(Open(path, k, &a_pub).code(), StatusCode::kUnauthenticated);  // other signer
    ASSERT_TRUE(SignContainerFile(path, *a).ok());  // re-signed by a: accepted
    EXPECT_TRUE(Open(path, k, &a_pub).ok()) << Open(path, k, &a_pub).message();
    EXPECT_TRUE(Open(path, k).ok());
    auto signer = VerifyContainerFile(path, &a_pub);
    ASSERT_TRUE(signer.ok()) << signer.status().message();
    EXPECT_EQ(*signer, a_pub);
    // Altered after signing: the last body byte.
    std::string bytes = ReadAll(path);
    bytes.back() ^= 1;
    WriteAll(path, bytes);
    Status s = Open(path, k, &a_pub);
    EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.message();
    EXPECT_FALSE(VerifyContainerFile(path, &a_pub).ok());
    EXPECT_FALSE(SignContainerFile(path, *a).ok()) << "signed a body not matching its digest";
    // A flipped signature bit is caught even without a required signer.
    bytes.back() ^= 1;
    bytes[464] ^= 4;
    WriteAll(path, bytes);
    EXPECT_EQ(Open(path, k).code(), StatusCode::kUnauthenticated);
  }
  fs::remove_all(dir);
}

TEST(ModelFileTest, SessionRequireSignedRejectsOnnxFiles) {
  SessionOptions options;
  options.require_signed_by = std::string(64, 'a');
  auto s = Session::Load(std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/session/add_symbolic.onnx",
                         options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnauthenticated);
}

// Pss and Rss (kB) of this process's mapping of `path`, from /proc/self/smaps.
std::pair<long, long> MappingPssRss(const std::string& path) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in = false;
  long pss = 0, rss = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') < 16) {
      in = line.size() >= path.size() &&
           line.compare(line.size() - path.size(), path.size(), path) == 0;
      continue;
    }
    if (!in) continue;
    long v = 0;
    if (sscanf(line.c_str(), "Pss: %ld kB", &v) == 1) pss += v;
    if (sscanf(line.c_str(), "Rss: %ld kB", &v) == 1) rss += v;
  }
  return {pss, rss};
}

// Two processes run the same plain container: its weight pages are shared (page cache), so
// each process's proportional share (Pss) of the mapping is about half its resident size.
TEST(ModelFileTest, TwoProcessesShareThePlainContainerPages) {
  const testing::TempDir tmp;
  const fs::path dir = tmp.path();
  const std::string path = fs::canonical(dir).string() + "/shared.pmc";
  {
    auto onnx = Session::Load(std::string(PRIVEDGE_SOURCE_DIR) +
                              "/tests/data/models/resnet18_2stages.onnx");
    ASSERT_TRUE(onnx.ok());
    auto body = SerializeModel((*onnx)->impl().model);
    ASSERT_TRUE(body.ok());
    ASSERT_TRUE(WriteContainerFile(path, body->span(), {}).ok());
  }
  int ready[2], go[2], report[2], done[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(report), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Reference kernels on one thread: no thread pool in the forked child.
      SessionOptions options;
      options.threads = 1;
      options.fast_kernels = false;
      auto s = Session::Load(path, options);
      long result[2] = {-1, -1};
      if (s.ok()) {
        Tensor x(DType::kFloat32, {1, 3, 224, 224});
        if ((*s)->Run({{(*s)->inputs()[0].name, x}}).ok()) {
          char c = 1;
          (void)!write(ready[1], &c, 1);
          (void)!read(go[0], &c, 1);
          auto [pss, rss] = MappingPssRss(path);
          result[0] = pss;
          result[1] = rss;
        }
      }
      (void)!write(report[1], result, sizeof result);
      char c = 0;
      (void)!read(done[0], &c, 1);  // keep the mapping until the other child has measured
      _exit(0);
    }
    children.push_back(pid);
  }
  char c;
  for (int i = 0; i < 2; ++i) ASSERT_EQ(read(ready[0], &c, 1), 1);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(write(go[1], &c, 1), 1);
  std::vector<std::array<long, 2>> reports(2);
  for (auto& r : reports)
    ASSERT_EQ(read(report[0], r.data(), sizeof(long) * 2), static_cast<ssize_t>(sizeof(long) * 2));
  for (int i = 0; i < 2; ++i) ASSERT_EQ(write(done[1], &c, 1), 1);
  for (const auto& r : reports) {
    ASSERT_GT(r[1], 1000) << "the weights should be resident (kB)";
    // Shared by two: Pss about Rss / 2 (allow for pages only one child touched).
    EXPECT_LT(r[0], r[1] * 0.6) << "Pss " << r[0] << " kB, Rss " << r[1] << " kB";
    EXPECT_GT(r[0], r[1] * 0.4) << "Pss " << r[0] << " kB, Rss " << r[1] << " kB";
  }
  for (pid_t pid : children) waitpid(pid, nullptr, 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace privedge
