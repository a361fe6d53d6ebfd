// The TPM 2.0 keystore against real software TPMs (swtpm): two independent TPMs "A" and "B"
// stand for two devices.
#include "keystore/tpm2/tpm2_keystore.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "keystore/tpm2/tpm2_blob.h"
#include "keystore/tpm2/tpm2_util.h"
#include "keystore/tpm2_swtpm_util.h"

namespace privedge::keystore {
namespace {

using privedge::testing::Swtpm;
using privedge::testing::TempDir;

std::vector<uint8_t> RandomKey(size_t n) {
  std::vector<uint8_t> key(n);
  if (n > 0) randombytes_buf(key.data(), key.size());  // data() is null when n == 0
  return key;
}

std::vector<uint8_t> Bytes(const SecureBuffer& b) { return {b.data(), b.data() + b.size()}; }

// The key id recorded in a blob's header (bytes 9..25).
std::string BlobKeyId(const std::vector<uint8_t>& blob) {
  return tpm2::HexString(blob.data() + 9, tpm2::kKeyIdBytes);
}

// Handles of transient objects and sessions held in the TPM, seen from a separate connection.
size_t TpmHandlesInUse(const std::string& tcti) {
  auto tpm = tpm2::Connection::Open(tcti);
  if (!tpm.ok()) {
    ADD_FAILURE() << tpm.status().ToString();
    return SIZE_MAX;
  }
  size_t count = 0;
  for (TPM2_HANDLE first :
       {TPM2_TRANSIENT_FIRST, TPM2_LOADED_SESSION_FIRST, TPM2_ACTIVE_SESSION_FIRST}) {
    TPMS_CAPABILITY_DATA* raw = nullptr;
    const TSS2_RC rc =
        Esys_GetCapability((*tpm)->esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                           TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES, nullptr, &raw);
    const tpm2::EsysPtr<TPMS_CAPABILITY_DATA> data(raw);
    if (rc != TSS2_RC_SUCCESS) {
      ADD_FAILURE() << tpm2::TssStatus("Esys_GetCapability", rc, StatusCode::kInternal).ToString();
      return SIZE_MAX;
    }
    for (uint32_t i = 0; i < data->data.handles.count; ++i) {
      count += (data->data.handles.handle[i] >> 24) == (first >> 24);
    }
  }
  return count;
}

class Tpm2KeystoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Expected TPM errors would otherwise each print a TSS log line.
    setenv("TSS2_LOG", "all+none", 0);
    if (sodium_init() < 0) start_error_ = new std::string("sodium_init failed");
    state_ = new TempDir();
    for (auto [name, tpm] : {std::pair{"a", &tpm_a_}, std::pair{"b", &tpm_b_}}) {
      auto started = Swtpm::Start(state_->path() + "/" + name);
      if (!started.ok()) {
        // Reported by every test (a missing swtpm must fail the suite, not skip it).
        start_error_ = new std::string(started.status().ToString());
        return;
      }
      *tpm = std::move(started).value().release();
    }
  }
  static void TearDownTestSuite() {
    delete tpm_a_;
    delete tpm_b_;
    delete state_;
    delete start_error_;
    tpm_a_ = tpm_b_ = nullptr;
    state_ = nullptr;
    start_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    ASSERT_NE(tpm_b_, nullptr);
  }

  static KeystoreOptions Options(const Swtpm& tpm, const std::string& dir) {
    KeystoreOptions o;
    o.backend = "tpm2";
    o.dir = dir;
    o.tpm_tcti = tpm.tcti();
    o.create_if_missing = true;
    return o;
  }
  static std::unique_ptr<Keystore> OpenOrDie(const KeystoreOptions& o) {
    auto ks = OpenTpm2Keystore(o);
    EXPECT_TRUE(ks.ok()) << ks.status().ToString();
    return ks.ok() ? std::move(ks).value() : nullptr;
  }

  static std::string* start_error_;
  static TempDir* state_;
  static Swtpm* tpm_a_;
  static Swtpm* tpm_b_;
  TempDir dir_;
};

std::string* Tpm2KeystoreTest::start_error_ = nullptr;
TempDir* Tpm2KeystoreTest::state_ = nullptr;
Swtpm* Tpm2KeystoreTest::tpm_a_ = nullptr;
Swtpm* Tpm2KeystoreTest::tpm_b_ = nullptr;

TEST_F(Tpm2KeystoreTest, RoundTripOfEveryAllowedSize) {
  auto ks = OpenOrDie(Options(*tpm_a_, dir_.path() + "/keys"));
  ASSERT_NE(ks, nullptr);
  EXPECT_EQ(ks->backend(), "tpm2");
  EXPECT_EQ(ks->key_id().size(), 32u);
  struct stat st {};
  ASSERT_EQ(stat((dir_.path() + "/keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir_.path() + "/keys/tpm2-keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (size_t n : {1, 16, 32, 64}) {
    const std::vector<uint8_t> key = RandomKey(n);
    auto blob = ks->Wrap(key, "privedge-model");
    ASSERT_TRUE(blob.ok()) << blob.status().ToString();
    EXPECT_EQ(BlobKeyId(*blob), ks->key_id());
    auto back = ks->Unwrap(*blob, "privedge-model");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(Bytes(*back), key);
  }
  for (size_t n : {0, 65}) {
    auto blob = ks->Wrap(RandomKey(n), "privedge-model");
    EXPECT_EQ(blob.status().code(), StatusCode::kInvalidArgument) << n;
  }
  // The same key wraps to different blobs (the TPM draws a fresh seed per sealed object).
  const std::vector<uint8_t> key = RandomKey(32);
  EXPECT_NE(*ks->Wrap(key, "c"), *ks->Wrap(key, "c"));
}

TEST_F(Tpm2KeystoreTest, WrongContextIsUnauthenticated) {
  auto ks = OpenOrDie(Options(*tpm_a_, dir_.path()));
  ASSERT_NE(ks, nullptr);
  auto blob = ks->Wrap(RandomKey(32), "privedge-model");
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  for (const char* other : {"privedge-store", "", "privedge-model\n", "privedge-mode"}) {
    auto back = ks->Unwrap(*blob, other);
    EXPECT_EQ(back.status().code(), StatusCode::kUnauthenticated) << back.status().ToString();
    EXPECT_NE(back.status().message().find("Esys_Unseal"), std::string::npos);
  }
  const std::string long_context(100000, 'c');
  auto long_blob = ks->Wrap(RandomKey(8), long_context);
  ASSERT_TRUE(long_blob.ok());
  EXPECT_TRUE(ks->Unwrap(*long_blob, long_context).ok());
  EXPECT_EQ(ks->Unwrap(*long_blob, long_context.substr(1)).status().code(),
            StatusCode::kUnauthenticated);
  auto empty_context = ks->Wrap(RandomKey(8), "");
  ASSERT_TRUE(empty_context.ok());
  EXPECT_TRUE(ks->Unwrap(*empty_context, "").ok());
  EXPECT_EQ(ks->Unwrap(*empty_context, "x").status().code(), StatusCode::kUnauthenticated);
}

TEST_F(Tpm2KeystoreTest, BlobFromAnotherTpmIsPermissionDeniedNamingBothIds) {
  auto a = OpenOrDie(Options(*tpm_a_, dir_.path() + "/a"));
  auto b = OpenOrDie(Options(*tpm_b_, dir_.path() + "/b"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->key_id(), b->key_id());
  auto blob = a->Wrap(RandomKey(32), "ctx");
  ASSERT_TRUE(blob.ok());
  auto back = b->Unwrap(*blob, "ctx");
  EXPECT_EQ(back.status().code(), StatusCode::kPermissionDenied) << back.status().ToString();
  EXPECT_NE(back.status().message().find(a->key_id()), std::string::npos);
  EXPECT_NE(back.status().message().find(b->key_id()), std::string::npos);
}

TEST_F(Tpm2KeystoreTest, KeystoreFilesMovedToAnotherTpmAreRefused) {
  auto a = OpenOrDie(Options(*tpm_a_, dir_.path()));
  ASSERT_NE(a, nullptr);
  const std::string id_a = a->key_id();
  a.reset();
  // The same generation file on TPM B: B derives another key from the same template.
  auto on_b = OpenTpm2Keystore(Options(*tpm_b_, dir_.path()));
  ASSERT_FALSE(on_b.ok());
  EXPECT_EQ(on_b.status().code(), StatusCode::kPermissionDenied) << on_b.status().ToString();
  EXPECT_NE(on_b.status().message().find(id_a), std::string::npos);
  EXPECT_NE(on_b.status().message().find("cleared"), std::string::npos);
}

TEST_F(Tpm2KeystoreTest, AnyFlippedBitIsAnErrorNeverACrash) {
  auto ks = OpenOrDie(Options(*tpm_a_, dir_.path()));
  ASSERT_NE(ks, nullptr);
  const std::vector<uint8_t> key = RandomKey(32);
  auto blob = ks->Wrap(key, "ctx");
  ASSERT_TRUE(blob.ok());
  // Every byte of the header and public area, every third of the private area (each one
  // costs TPM commands), a different bit each time.
  for (size_t i = 0; i < blob->size(); i += i < 80 ? 1 : 3) {
    std::vector<uint8_t> altered = *blob;
    altered[i] ^= static_cast<uint8_t>(1u << (i % 8));
    auto back = ks->Unwrap(altered, "ctx");
    ASSERT_FALSE(back.ok()) << "flip at byte " << i << " unwrapped";
    const StatusCode code = back.status().code();
    if (i < 9) {
      EXPECT_EQ(code, StatusCode::kInvalidArgument) << i << ": " << back.status().ToString();
    } else if (i < 25) {
      EXPECT_EQ(code, StatusCode::kPermissionDenied) << i << ": " << back.status().ToString();
    } else if (i + 32 >= blob->size()) {  // inside the encrypted private area: the TPM refuses
      EXPECT_EQ(code, StatusCode::kUnauthenticated) << i << ": " << back.status().ToString();
      EXPECT_NE(back.status().message().find("Esys_Load"), std::string::npos);
    } else {
      EXPECT_TRUE(code == StatusCode::kInvalidArgument || code == StatusCode::kUnauthenticated)
          << i << ": " << back.status().ToString();
    }
    EXPECT_EQ(back.status().message().find('\n'), std::string::npos);
  }
  EXPECT_EQ(Bytes(*ks->Unwrap(*blob, "ctx")), key);
  EXPECT_EQ(TpmHandlesInUse(tpm_a_->tcti()), 0u);
}

TEST_F(Tpm2KeystoreTest, TruncatedOrExtendedBlobsAreInvalidArgument) {
  auto ks = OpenOrDie(Options(*tpm_a_, dir_.path()));
  ASSERT_NE(ks, nullptr);
  auto blob = ks->Wrap(RandomKey(32), "ctx");
  ASSERT_TRUE(blob.ok());
  for (size_t n = 0; n < blob->size(); ++n) {
    const std::span<const uint8_t> prefix(blob->data(), n);
    EXPECT_EQ(ks->Unwrap(prefix, "ctx").status().code(), StatusCode::kInvalidArgument) << n;
  }
  std::vector<uint8_t> longer = *blob;
  longer.push_back(0);
  auto back = ks->Unwrap(longer, "ctx");
  EXPECT_EQ(back.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(back.status().message().find("unexpected bytes"), std::string::npos);
  std::vector<uint8_t> garbage(300);
  randombytes_buf(garbage.data(), garbage.size());
  EXPECT_EQ(ks->Unwrap(garbage, "ctx").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(Tpm2KeystoreTest, KeyIdIsStableAcrossReopenAndTpmRestart) {
  TempDir own_state;
  std::string id;
  std::vector<uint8_t> blob;
  const std::vector<uint8_t> key = RandomKey(32);
  {
    auto tpm = Swtpm::Start(own_state.path());
    ASSERT_TRUE(tpm.ok()) << tpm.status().ToString();
    auto ks = OpenOrDie(Options(**tpm, dir_.path()));
    ASSERT_NE(ks, nullptr);
    id = ks->key_id();
    blob = *ks->Wrap(key, "ctx");
    EXPECT_EQ(OpenOrDie(Options(**tpm, dir_.path()))->key_id(), id);
  }
  // A new swtpm process on the same state: a reboot of the same device.
  auto tpm = Swtpm::Start(own_state.path());
  ASSERT_TRUE(tpm.ok()) << tpm.status().ToString();
  auto ks = OpenOrDie(Options(**tpm, dir_.path()));
  ASSERT_NE(ks, nullptr);
  EXPECT_EQ(ks->key_id(), id);
  auto back = ks->Unwrap(blob, "ctx");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(Bytes(*back), key);
  // Another keystore directory on the same TPM is another key.
  EXPECT_NE(OpenOrDie(Options(**tpm, dir_.path() + "/other"))->key_id(), id);
}

TEST_F(Tpm2KeystoreTest, SurvivesATpmResetWhileOpen) {
  TempDir own_state;
  auto tpm = Swtpm::Start(own_state.path());
  ASSERT_TRUE(tpm.ok()) << tpm.status().ToString();
  auto ks = OpenOrDie(Options(**tpm, dir_.path()));
  ASSERT_NE(ks, nullptr);
  const std::vector<uint8_t> key = RandomKey(32);
  auto blob = ks->Wrap(key, "ctx");
  ASSERT_TRUE(blob.ok());
  // The saved context of the primary key no longer loads: the keystore derives it again.
  ASSERT_TRUE((*tpm)->Reset().ok());
  {
    auto boot = tpm2::Connection::Open((*tpm)->tcti());
    ASSERT_TRUE(boot.ok());
    ASSERT_EQ(Esys_Startup((*boot)->esys(), TPM2_SU_CLEAR), TSS2_RC_SUCCESS);
  }
  auto back = ks->Unwrap(*blob, "ctx");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(Bytes(*back), key);
  EXPECT_TRUE(ks->Wrap(key, "ctx").ok());
  EXPECT_EQ(TpmHandlesInUse((*tpm)->tcti()), 0u);
}

TEST_F(Tpm2KeystoreTest, RotateStartsANewGenerationAndOldBlobsStillUnwrap) {
  const KeystoreOptions o = Options(*tpm_a_, dir_.path());
  auto before = OpenOrDie(o);
  ASSERT_NE(before, nullptr);
  const std::string id1 = before->key_id();
  const std::vector<uint8_t> key1 = RandomKey(32);
  const std::vector<uint8_t> blob1 = *before->Wrap(key1, "ctx");

  auto id2 = RotateTpm2Key(o);
  ASSERT_TRUE(id2.ok()) << id2.status().ToString();
  EXPECT_NE(*id2, id1);
  auto id3 = RotateTpm2Key(o);
  ASSERT_TRUE(id3.ok()) << id3.status().ToString();

  auto after = OpenOrDie(o);
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->key_id(), *id3);
  const std::vector<uint8_t> key3 = RandomKey(16);
  const std::vector<uint8_t> blob3 = *after->Wrap(key3, "ctx");
  EXPECT_EQ(BlobKeyId(blob3), *id3);
  EXPECT_EQ(Bytes(*after->Unwrap(blob1, "ctx")), key1);
  EXPECT_EQ(Bytes(*after->Unwrap(blob3, "ctx")), key3);
  EXPECT_EQ(after->Unwrap(blob1, "other").status().code(), StatusCode::kUnauthenticated);

  // A keystore opened before the rotation keeps its generation for Wrap but unwraps blobs of
  // the new one.
  EXPECT_EQ(before->key_id(), id1);
  auto back = before->Unwrap(blob3, "ctx");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(Bytes(*back), key3);

  // A blob whose header names a retired generation but was sealed under another is refused
  // by the TPM (the sealed object is bound to its parent).
  std::vector<uint8_t> relabeled = blob3;
  std::copy(blob1.begin() + 9, blob1.begin() + 25, relabeled.begin() + 9);
  EXPECT_EQ(after->Unwrap(relabeled, "ctx").status().code(), StatusCode::kUnauthenticated);

  KeystoreOptions missing = o;
  missing.dir = dir_.path() + "/none";
  EXPECT_EQ(RotateTpm2Key(missing).status().code(), StatusCode::kNotFound);
}

TEST_F(Tpm2KeystoreTest, UnreachableTpmFailsQuicklyWithAClearError) {
  const int port = privedge::testing::UnusedLoopbackPort();
  ASSERT_GT(port, 0);
  KeystoreOptions o = Options(*tpm_a_, dir_.path());
  o.tpm_tcti = "swtpm:host=127.0.0.1,port=" + std::to_string(port);
  const auto start = std::chrono::steady_clock::now();
  auto ks = OpenTpm2Keystore(o);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(ks.ok());
  EXPECT_EQ(ks.status().code(), StatusCode::kIoError) << ks.status().ToString();
  EXPECT_NE(ks.status().message().find(o.tpm_tcti), std::string::npos) << ks.status().ToString();
  EXPECT_LT(seconds, 5.0);
  EXPECT_EQ(ProbeTpm2(o).code(), StatusCode::kIoError);
  EXPECT_TRUE(ProbeTpm2(Options(*tpm_a_, dir_.path())).ok());

  o.tpm_tcti = "nosuchtcti:x";
  EXPECT_FALSE(OpenTpm2Keystore(o).ok());
}

TEST_F(Tpm2KeystoreTest, TctiComesFromTheEnvironmentWhenNotGiven) {
  KeystoreOptions o = Options(*tpm_a_, dir_.path());
  const std::string id = OpenOrDie(o)->key_id();
  o.tpm_tcti.clear();
  setenv("PRIVEDGE_TPM_TCTI", tpm_a_->tcti().c_str(), 1);
  auto ks = OpenTpm2Keystore(o);
  unsetenv("PRIVEDGE_TPM_TCTI");
  ASSERT_TRUE(ks.ok()) << ks.status().ToString();
  EXPECT_EQ((*ks)->key_id(), id);
}

TEST_F(Tpm2KeystoreTest, MissingOrMalformedKeystoreFile) {
  KeystoreOptions o = Options(*tpm_a_, dir_.path());
  o.create_if_missing = false;
  auto missing = OpenTpm2Keystore(o);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("privedge keys init"), std::string::npos);
  o.dir.clear();
  EXPECT_EQ(OpenTpm2Keystore(o).status().code(), StatusCode::kInvalidArgument);

  o.dir = dir_.path();
  const std::string path = dir_.path() + "/tpm2-keys";
  for (const char* text : {"", "privedge-tpm2-keystore 1\n", "privedge-tpm2-keystore 2\n",
                           "privedge-tpm2-keystore 1\nzz 00\n",
                           "privedge-tpm2-keystore 1\n"
                           "00000000000000000000000000000000000000000000000000000000000000000"
                           " 00000000000000000000000000000000\n",
                           "privedge-tpm2-keystore 1\n"
                           "0000000000000000000000000000000000000000000000000000000000000000"
                           " 00000000000000000000000000000000"}) {
    std::ofstream(path, std::ios::trunc) << text;
    auto ks = OpenTpm2Keystore(o);
    EXPECT_EQ(ks.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(ks.status().message().find(path), std::string::npos) << ks.status().ToString();
  }
}

TEST_F(Tpm2KeystoreTest, NoTpmHandlesLeakOnSuccessOrFailure) {
  auto ks = OpenOrDie(Options(*tpm_a_, dir_.path()));
  ASSERT_NE(ks, nullptr);
  auto blob = ks->Wrap(RandomKey(32), "ctx");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(TpmHandlesInUse(tpm_a_->tcti()), 0u);
  EXPECT_TRUE(ks->Unwrap(*blob, "ctx").ok());
  EXPECT_FALSE(ks->Unwrap(*blob, "wrong").ok());  // fails after Load
  std::vector<uint8_t> altered = *blob;
  altered.back() ^= 1;
  EXPECT_FALSE(ks->Unwrap(altered, "ctx").ok());  // fails at Load
  EXPECT_EQ(TpmHandlesInUse(tpm_a_->tcti()), 0u);
  // Many operations in a row: a leak would exhaust the TPM's three object slots, and without
  // noDA on the sealed objects the wrong contexts would put the TPM into lockout.
  for (int i = 0; i < 10; ++i) ASSERT_FALSE(ks->Unwrap(*blob, "wrong").ok());
  EXPECT_TRUE(ks->Unwrap(*blob, "ctx").ok());
}

TEST_F(Tpm2KeystoreTest, OwnerAuthorizationSetIsAClearError) {
  TempDir own_state;
  auto tpm = Swtpm::Start(own_state.path());
  ASSERT_TRUE(tpm.ok()) << tpm.status().ToString();
  {
    auto admin = tpm2::Connection::Open((*tpm)->tcti());
    ASSERT_TRUE(admin.ok());
    TPM2B_AUTH owner_auth{};
    owner_auth.size = 4;
    std::memcpy(owner_auth.buffer, "pass", 4);
    ASSERT_EQ(Esys_HierarchyChangeAuth((*admin)->esys(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
                                       ESYS_TR_NONE, ESYS_TR_NONE, &owner_auth),
              TSS2_RC_SUCCESS);
  }
  auto ks = OpenTpm2Keystore(Options(**tpm, dir_.path()));
  ASSERT_FALSE(ks.ok());
  EXPECT_EQ(ks.status().code(), StatusCode::kUnauthenticated) << ks.status().ToString();
  EXPECT_NE(ks.status().message().find("Esys_CreatePrimary"), std::string::npos);
  EXPECT_NE(ks.status().message().find("owner authorization to be empty"), std::string::npos);
}

TEST_F(Tpm2KeystoreTest, ConcurrentCallsOnOneKeystore) {
  auto ks = OpenOrDie(Options(*tpm_a_, dir_.path()));
  ASSERT_NE(ks, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        const std::vector<uint8_t> key = RandomKey(32);
        const std::string context = "ctx" + std::to_string(t);
        auto blob = ks->Wrap(key, context);
        auto back = blob.ok() ? ks->Unwrap(*blob, context) : Result<SecureBuffer>(blob.status());
        if (!back.ok() || Bytes(*back) != key) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// Prints the median latency of Wrap and Unwrap on swtpm (a real TPM is slower).
TEST_F(Tpm2KeystoreTest, WrapAndUnwrapLatency) {
  auto ks = OpenOrDie(Options(*tpm_a_, dir_.path()));
  ASSERT_NE(ks, nullptr);
  const std::vector<uint8_t> key = RandomKey(32);
  std::vector<double> wrap_ms, unwrap_ms;
  size_t blob_bytes = 0;
  for (int i = 0; i < 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto blob = ks->Wrap(key, "ctx");
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(blob.ok());
    blob_bytes = blob->size();
    auto back = ks->Unwrap(*blob, "ctx");
    auto t2 = std::chrono::steady_clock::now();
    ASSERT_TRUE(back.ok());
    wrap_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    unwrap_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  std::sort(wrap_ms.begin(), wrap_ms.end());
  std::sort(unwrap_ms.begin(), unwrap_ms.end());
  std::printf("[ tpm2 ] swtpm median of 20: Wrap %.2f ms, Unwrap %.2f ms (blob %zu bytes)\n",
              wrap_ms[10], unwrap_ms[10], blob_bytes);
  EXPECT_LT(wrap_ms[10], 1000.0);
  EXPECT_LT(unwrap_ms[10], 1000.0);
}

}  // namespace
}  // namespace privedge::keystore
