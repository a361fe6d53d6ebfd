// libFuzzer target: training checkpoints (TrainingSession::LoadCheckpoint) and the sealed
// checkpoint envelope (OpenSealedCheckpoint). The first byte picks the session the checkpoint
// is loaded into (bit 0: SGD with momentum or Adam, so both optimizer states are reachable) and
// whether the rest is a sealed checkpoint (bit 1: opened with an in-memory keystore; the
// fuzzer cannot forge its tag, so this reaches the envelope's header checks).
// With PRIVEDGE_FUZZ_SEEDS=DIR set, the target first writes valid checkpoints of both
// sessions into DIR (fuzz/run.sh does it), so the seeds always match the current format.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "privedge/training.h"
#include "testing/memory_keystore.h"

namespace {

std::unique_ptr<privedge::TrainingSession> sessions[2];
privedge::testing::MemoryKeystore* keystore = nullptr;

std::unique_ptr<privedge::TrainingSession> NewSession(privedge::OptimizerKind kind) {
  privedge::TrainingOptions options;
  options.optimizer.kind = kind;
  options.optimizer.momentum = kind == privedge::OptimizerKind::kSgd ? 0.9f : 0.0f;
  options.threads = 1;
  auto s =
      privedge::TrainingSession::Create(PRIVEDGE_SOURCE_DIR "/tests/data/train/tiny.onnx", options);
  if (!s.ok()) {
    std::fprintf(stderr, "checkpoint fuzz: %s\n", s.status().ToString().c_str());
    std::abort();
  }
  return std::move(s).value();
}

void WriteSeed(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sessions[0] = NewSession(privedge::OptimizerKind::kSgd);
  sessions[1] = NewSession(privedge::OptimizerKind::kAdam);
  keystore = new privedge::testing::MemoryKeystore();
  if (const char* dir = std::getenv("PRIVEDGE_FUZZ_SEEDS")) {
    for (int i = 0; i < 2; ++i) {
      const std::string plain = sessions[i]->SaveCheckpoint();
      WriteSeed(std::string(dir) + "/ckpt_" + std::to_string(i), char(i) + plain);
      auto sealed = privedge::SealCheckpoint(plain, *keystore);
      if (sealed.ok())
        WriteSeed(std::string(dir) + "/sealed_" + std::to_string(i), char(2 + i) + *sealed);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  privedge::TrainingSession& session = *sessions[data[0] & 1];
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 2) {
    auto plain = privedge::OpenSealedCheckpoint(bytes, *keystore);
    if (!plain.ok()) return 0;
    bytes = std::string_view(reinterpret_cast<const char*>(plain->data()), plain->size());
    (void)session.LoadCheckpoint(bytes);
    return 0;
  }
  if (!session.LoadCheckpoint(bytes).ok()) return 0;
  // What loaded must save and load again.
  if (!session.LoadCheckpoint(session.SaveCheckpoint()).ok()) __builtin_trap();
  return 0;
}
