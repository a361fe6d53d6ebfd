// Session: load an ONNX model from local storage and run it in-process on the CPU.
//
//   privedge::SessionOptions options;
//   options.threads = 2;
//   auto session = privedge::Session::Load("model.onnx", options);
//   if (!session.ok()) { std::cerr << session.status().message() << "\n"; return 1; }
//   auto outputs = session->Run({{"input", input_tensor}});
//
// No network access happens anywhere in loading or running. A Session is created once and
// run many times; shapes with symbolic dimensions (batch, sequence length) are resolved from
// the inputs of each Run.
//
// Thread-safety: Run() is const and may be called from several threads at once on the same
// Session; each call uses its own working memory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "privedge/status.h"
#include "privedge/tensor.h"

namespace privedge {

class Keystore;

struct SessionOptions {
  // Intra-op threads; 0 picks the number of online CPUs. Reference kernels are
  // single-threaded; fast kernels use this.
  int threads = 0;
  // Use fast kernels where one handles a node; false runs only the reference kernels (the
  // readable oracle the fast ones are tested against).
  bool fast_kernels = true;
  // Optimize the graph once at load (constant folding, dead-node and identity elimination,
  // Conv+BatchNormalization folding, MatMul+Add to Gemm). Outputs stay the same up to
  // floating-point rounding; if any pass fails, the session runs the graph as imported.
  bool optimize = true;
  // Upper bound on any single tensor the model may ask to allocate, in bytes: a hostile model
  // cannot make the process allocate more than this per tensor.
  size_t max_tensor_bytes = size_t{1} << 32;
  // Upper bound on the iterations of any one Loop node (and the steps of a Scan): a model whose
  // loop never ends fails with an error naming the node instead of hanging the caller.
  int64_t max_loop_iterations = 10'000'000;
  // Keystore that unwraps the key of an encrypted model container (.pmc); null opens the
  // default one (OpenKeystore with default KeystoreOptions) when an encrypted container is
  // loaded. Unused for plain containers and .onnx files.
  std::shared_ptr<Keystore> keystore;
  // When non-empty, a publisher public key (a key file path or 64 hex digits): the model must
  // be a container signed by this key whose content matches its signed digest; unsigned
  // containers, other signers, altered containers and .onnx files fail with Unauthenticated.
  std::string require_signed_by;
  // A decrypted model lives in locked memory (mlock); when RLIMIT_MEMLOCK refuses, loading
  // fails with PermissionDenied unless this allows unlocked memory (still excluded from core
  // dumps and wiped on release).
  bool allow_unlocked_model_memory = false;
};

// One dimension of a declared input/output shape.
struct DimInfo {
  int64_t value = -1;   // >= 0 when fixed
  std::string symbol;   // e.g. "batch" for a named dynamic dimension; empty otherwise
};

// Declared type of a model input or output.
struct TensorInfo {
  std::string name;
  std::string kind = "tensor";  // "tensor", "sequence", "optional" or "unknown"
  DType dtype = DType::kUndefined;
  bool has_shape = false;       // false when even the rank is unknown
  std::vector<DimInfo> shape;
  // "float32[batch,3,224,224]"
  std::string ToString() const;
};

// An input or output value by name.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Session {
 public:
  // Loads a model file: an ONNX protobuf, or a privedge model container (.pmc, recognized by
  // its first bytes whatever its name; see docs/container.md) written by `privedge convert`.
  // A container holds the optimized graph and is used in place: a plain one is mapped
  // read-only (processes share its pages), an encrypted one is decrypted into locked memory
  // that is wiped when the Session is destroyed. External data files of an .onnx are read from
  // the model's folder only. Errors: file missing or unreadable, malformed model, unsupported
  // operator; for containers also Unauthenticated (altered, or not signed as required) and
  // PermissionDenied (encrypted for another device).
  static Result<std::unique_ptr<Session>> Load(const std::string& path,
                                               const SessionOptions& options = {});
  // Loads a model from bytes in memory; external data is not allowed (no folder to look in).
  static Result<std::unique_ptr<Session>> LoadFromBuffer(const void* data, size_t size,
                                                         const SessionOptions& options = {});
  ~Session();

  // Graph inputs the caller must (or may, for overridable initializers) provide.
  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;

  // Runs the model. Every required input must be present with a matching type and a shape
  // compatible with the declared one. Returns the graph outputs in declaration order.
  // Errors name the input, the node or the operator involved.
  Result<NamedTensors> Run(const NamedTensors& inputs) const;

  // Opaque implementation; exposed for privedge's own tools (conformance runner, inspect).
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace privedge
