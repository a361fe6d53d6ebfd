// libFuzzer target: the model container (.pmc). The first byte picks what the rest is:
//   0: a container body, given to ParseModel (src/model/container.cc) directly;
//   1: a container in short form, the header's 560 used bytes then the body (the target zero
//      pads the header to 4096 bytes), opened with OpenContainerFile without a keystore
//      (header checks, signature check when it says it is signed, mapping) and, when that
//      succeeds, its body parsed with ParseModel;
//   2: the short form loaded end to end with Session::Load (open as in 1, with an in-memory
//      keystore for encrypted ones, parse, checks, optimization, planning) under the
//      onnx_loader target's small limits;
//   3: a whole container file, loaded as in 2.
// Files are written to a memfd and opened through /proc/self/fd, so no disk is involved.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "model/container.h"
#include "privedge/session.h"
#include "protect/model_file.h"
#include "testing/memory_keystore.h"

namespace {

constexpr size_t kHeaderUsed = 560;

// Parses `body` from 64-byte aligned memory, as the mapped file or SecureBuffer provides it.
void ParseBody(const uint8_t* data, size_t size) {
  std::shared_ptr<uint8_t> copy(static_cast<uint8_t*>(std::aligned_alloc(64, (size + 64) & ~63)),
                                std::free);
  if (size) std::memcpy(copy.get(), data, size);
  (void)privedge::ParseModel({copy.get(), size}, copy);
}

// The path of a memfd holding `head`, zeros up to `pad_to` bytes, then `body`.
std::string WriteFile(const uint8_t* head, size_t head_size, size_t pad_to, const uint8_t* body,
                      size_t body_size) {
  static const int fd = memfd_create("fuzz.pmc", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (ftruncate(fd, 0) != 0) std::abort();
  const size_t pad = pad_to > head_size ? pad_to - head_size : 0;
  if (pwrite(fd, head, head_size, 0) != static_cast<ssize_t>(head_size)) std::abort();
  if (ftruncate(fd, static_cast<off_t>(head_size + pad)) != 0) std::abort();
  if (body_size && pwrite(fd, body, body_size, static_cast<off_t>(head_size + pad)) !=
                       static_cast<ssize_t>(body_size))
    std::abort();
  return "/proc/self/fd/" + std::to_string(fd);
}

void OpenAndParse(const std::string& path) {
  auto opened = privedge::OpenContainerFile(path, {});
  if (!opened.ok()) return;
  if (opened->header.encrypted) __builtin_trap();  // no keystore was given
  auto model = privedge::ParseModel(opened->body, opened->owner);
  (void)model;
}

void Load(const std::string& path) {
  // A non-container goes to the ONNX importer, which the onnx_loader target covers.
  if (!privedge::IsContainerFile(path)) return;
  static const auto keystore = std::make_shared<privedge::testing::MemoryKeystore>();
  privedge::SessionOptions options;
  options.threads = 1;
  options.max_tensor_bytes = size_t{1} << 20;
  options.max_loop_iterations = 1000;
  options.keystore = keystore;  // never the device's own keystore
  auto session = privedge::Session::Load(path, options);
  (void)session;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 4;
  ++data;
  --size;
  if (mode == 0) {
    ParseBody(data, size);
    return 0;
  }
  if (mode == 3) {
    Load(WriteFile(data, size, 0, nullptr, 0));
    return 0;
  }
  const size_t head = size < kHeaderUsed ? size : kHeaderUsed;
  const std::string path =
      WriteFile(data, head, size > kHeaderUsed ? privedge::kContainerHeaderSize : 0, data + head,
                size - head);
  if (mode == 1) {
    OpenAndParse(path);
  } else {
    Load(path);
  }
  return 0;
}
