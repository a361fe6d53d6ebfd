// TrainingSession: train an ONNX model on the device that holds the data.
//
//   privedge::TrainingOptions options;
//   options.loss = privedge::LossKind::kSoftmaxCrossEntropy;   // on the first output (logits)
//   options.optimizer.kind = privedge::OptimizerKind::kSgd;
//   options.optimizer.learning_rate = 0.05f;
//   options.optimizer.momentum = 0.9f;
//   auto session = privedge::TrainingSession::Create("cnn.onnx", options);
//   if (!session.ok()) { std::cerr << session.status().message() << "\n"; return 1; }
//   for (each batch) {
//     auto step = (*session)->TrainStep({{"input", images}}, labels);   // labels: int64 [N]
//     if (!step.ok()) ...;   // step->loss, step->correct, step->count
//   }
//   (*session)->ExportOnnx("trained.onnx");
//   std::vector<float> delta = (*session)->Delta();   // what the federated layer ships
//
// How it works. The model's graph (as imported, without inference-only rewrites such as
// Conv+BatchNormalization folding) becomes a training computation: every node runs forward,
// then every node between a trainable parameter and the loss output runs its backward rule, and
// the optimizer updates the parameters. Supported operators on the trainable path: Gemm,
// MatMul, Add, Sub, Mul, Div (broadcasting), Relu, LeakyRelu, Sigmoid, Tanh, Softmax,
// LogSoftmax, Conv (1-D/2-D, groups, strides, dilations, pads), MaxPool, AveragePool,
// GlobalAveragePool, BatchNormalization, LayerNormalization, Flatten, Reshape, Transpose,
// Concat, Slice, Gather, Dropout. Other operators may appear where no gradient flows (e.g. a
// Shape/Gather/Concat chain computing a Reshape target). Tensors on the trainable path must be
// float32.
//
// Training-mode behaviour. In TrainStep, BatchNormalization normalizes with the batch's
// statistics and updates its running mean and variance (ONNX momentum attribute: running =
// momentum * running + (1 - momentum) * batch; the variance term is the unbiased batch variance,
// as in PyTorch), and Dropout drops with its ratio using a generator seeded from
// TrainingOptions::seed and the step counter (the same seed and data give the same run).
// Evaluate uses the running statistics and no dropout.
//
// Parameters. By default every float32 initializer is trainable, except BatchNormalization's
// running statistics (state, not parameters) and float inputs that carry no gradient (Dropout's
// ratio). TrainingOptions::trainable restricts the set to the listed names; freeze_prefixes
// removes names starting with any prefix (e.g. to fine-tune only a head). Trainable parameters
// live in one flat float vector in a fixed order (Layout()), which is what Weights(),
// SetWeights() and Delta() exchange.
//
// Thread-safety: a TrainingSession is not thread-safe; use one from one thread at a time.
// Different sessions may be used from different threads at once.
//
// Errors: Create fails with NotImplemented naming the node and the operator when an operator
// without a backward rule lies on the trainable path, NotFound for unknown output, label or
// parameter names, InvalidArgument for bad options. TrainStep/Evaluate fail with
// InvalidArgument for inputs or labels of the wrong type or shape; a failed step leaves the
// parameters and the optimizer state unchanged (BatchNormalization's running statistics may
// already have moved if the forward pass got that far).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "privedge/keystore.h"
#include "privedge/secure_buffer.h"
#include "privedge/session.h"
#include "privedge/status.h"
#include "privedge/tensor.h"

namespace privedge {

enum class LossKind {
  // Mean over the batch of -log softmax(logits)[label]. Output [N, C] logits; labels int64 (or
  // int32) [N] with values in [0, C). correct counts argmax(logits) == label.
  kSoftmaxCrossEntropy,
  // Mean over all elements of -(y log p + (1 - y) log(1 - p)) where the output p holds
  // probabilities (e.g. after a Sigmoid), clamped to [1e-7, 1 - 1e-7]. Labels float32 in [0, 1]
  // shaped like the output. correct counts (p > 0.5) == (y > 0.5) per element.
  kBinaryCrossEntropy,
  // The same loss where the output holds logits z and p = sigmoid(z), computed stably.
  kBinaryCrossEntropyWithLogits,
  // Mean over all elements of (output - label)^2. Labels float32 shaped like the output.
  // correct is 0; count is the batch size.
  kMeanSquaredError,
};

enum class OptimizerKind { kSgd, kAdam, kAdamW };

// The update rules follow PyTorch's (torch.optim.SGD, Adam, AdamW) exactly, so trajectories
// can be compared step by step.
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kSgd;
  float learning_rate = 0.01f;
  // SGD: buf = momentum * buf + g (buf = g at the first step); step along buf, or along
  // g + momentum * buf with nesterov (needs momentum > 0).
  float momentum = 0.0f;
  bool nesterov = false;
  // SGD and Adam: L2 penalty added to the gradient (g += weight_decay * w). AdamW: decoupled
  // decay (w -= lr * weight_decay * w before the Adam step).
  float weight_decay = 0.0f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
};

struct TrainingOptions {
  LossKind loss = LossKind::kSoftmaxCrossEntropy;
  // The value the loss is computed on: a graph output or any intermediate float value (e.g. the
  // logits before a final Softmax). Empty: the first graph output.
  std::string output;
  // The name under which the labels are passed in the single-map form of TrainStep/Evaluate.
  std::string label_input = "labels";
  // Trainable parameters: empty means every float32 initializer (see above); otherwise exactly
  // these initializer names.
  std::vector<std::string> trainable;
  // Initializers whose names start with any of these prefixes are frozen.
  std::vector<std::string> freeze_prefixes;
  OptimizerOptions optimizer;
  // FedProx: adds mu/2 * ||w - w_anchor||^2 to the loss, where w_anchor is the weights at
  // creation or at the last SetWeights (the global model). 0 disables it. The reported loss
  // does not include the term.
  float fedprox_mu = 0.0f;
  // Clips the gradient (after the FedProx term, before weight decay) to this global L2 norm.
  // 0 disables clipping.
  float clip_global_norm = 0.0f;
  // Seeds Dropout. The mask of a step depends on (seed, step counter, node).
  uint64_t seed = 0;
  // Intra-op threads for the oneDNN kernels; 0 picks the number of online CPUs.
  int threads = 1;
  // Upper bound on the model file and on any one tensor, in bytes.
  size_t max_tensor_bytes = size_t{1} << 32;
  // Model containers (.pmc) only, as in SessionOptions: the keystore that unwraps an encrypted
  // container's key (null: the default keystore), a required publisher key (file or 64 hex
  // digits; the container must be signed by it), and whether the decrypted body may live in
  // unlocked memory when mlock is refused.
  std::shared_ptr<Keystore> keystore;
  std::string require_signed_by;
  bool allow_unlocked_model_memory = false;
};

// The result of one step or evaluation.
struct StepResult {
  double loss = 0;      // mean loss of the batch (without the FedProx term)
  int64_t correct = 0;  // correctly classified examples (elements for binary cross-entropy)
  int64_t count = 0;    // examples (elements for binary cross-entropy)
};

// Where one parameter lives in the flat vector.
struct ParameterInfo {
  std::string name;  // the initializer's name
  Shape shape;
  int64_t offset = 0;  // in floats
  int64_t size = 0;    // in floats
};

class TrainingSession {
 public:
  // Builds a training session from an ONNX file or from model bytes. The original bytes are
  // kept (ExportOnnx writes them back with the trained values). A model with external data can
  // only be opened from a file, whose folder holds the data.
  //
  // `path` may also be a model container (.pmc, plain or encrypted; recognized by content).
  // A container holds the graph as optimized for inference: constants folded, Conv +
  // BatchNormalization folded into the Conv (the folded model trains as the equivalent network
  // without batch statistics), MatMul + Add as Gemm (trainable), and Conv + activation as
  // com.privedge.FusedConv. For training, each FusedConv is split back into its Conv and its
  // activation (Relu or LeakyRelu); a FusedConv with a Clip activation is refused (Clip has no
  // backward rule) with NotImplemented naming the node, as is any other operator without a rule
  // on the trainable path. The decrypted initial weights are copied into the session's memory.
  // Such a session exports with ExportContainer (there is no ONNX model to write back to).
  static Result<std::unique_ptr<TrainingSession>> Create(const std::string& path,
                                                         const TrainingOptions& options);
  static Result<std::unique_ptr<TrainingSession>> CreateFromBuffer(const void* data, size_t size,
                                                                   const TrainingOptions& options);
  ~TrainingSession();

  // One optimizer step on a batch: forward, loss, backward, update. `inputs` are the graph's
  // inputs by name; `labels` as described for the loss. Returns the loss before the update.
  Result<StepResult> TrainStep(const NamedTensors& inputs, const Tensor& labels);
  // The same with the labels in `batch` under TrainingOptions::label_input.
  Result<StepResult> TrainStep(const NamedTensors& batch);
  // Loss and accuracy without updating anything (running statistics, no dropout).
  Result<StepResult> Evaluate(const NamedTensors& inputs, const Tensor& labels);
  Result<StepResult> Evaluate(const NamedTensors& batch);

  // Names of the graph inputs a step must be given (initializers excluded).
  std::vector<std::string> InputNames() const;
  // The declared shape of each input in InputNames() order: -1 for an extent the model leaves
  // open (e.g. the batch), an empty shape when not even the rank is declared.
  std::vector<Shape> InputShapes() const;

  // The trainable parameters in flat-vector order.
  const std::vector<ParameterInfo>& Layout() const;
  // Total number of trainable floats.
  int64_t ParameterCount() const;
  // A copy of the current trainable parameters as one flat vector.
  std::vector<float> Weights() const;
  // Replaces the parameters (e.g. with a new global model) and makes them the FedProx anchor
  // and the base of Delta(). Optimizer state is kept. Errors: wrong size, non-finite values.
  Status SetWeights(const std::vector<float>& weights);
  // Forgets the optimizer state (momentum, Adam moments, step counter) as if the session were
  // new: what a federated device does before training from a freshly received global model.
  void ResetOptimizer();
  // Current weights minus the weights at creation or at the last SetWeights.
  std::vector<float> Delta() const;

  float learning_rate() const;
  void set_learning_rate(float lr);
  // Optimizer steps taken (restored by LoadCheckpoint).
  int64_t step() const;

  // Writes the original model with every trained initializer (and updated running statistics)
  // replaced by its current value; initializers the original kept in external files are
  // embedded, so the result stands alone. Errors: the file cannot be written.
  Status ExportOnnx(const std::string& path) const;
  Result<std::string> ExportOnnxBytes() const;
  // Writes the trained model as a container (.pmc): the container's graph when the session was
  // created from one (FusedConv nodes kept), the imported ONNX graph otherwise, with the
  // trained initializers and running statistics. With a keystore, the container is encrypted
  // for that device. Errors: the file cannot be written, the keystore fails.
  Status ExportContainer(const std::string& path, Keystore* keystore) const;

  // Serializes weights, running statistics, anchor, optimizer state and step counter:
  //   "PETRCKPT" | u32 version (1) | u32 optimizer kind | u64 step | f32 learning rate |
  //   u32 tensor count | per tensor: u32 name length, name, u32 role, u32 rank, i64 dims...,
  //   f32 values | u64 total.
  // Little-endian. Roles: 0 parameter, 1 state (running statistics), 2 anchor, 3 first moment
  // or momentum buffer, 4 second moment. The bytes are plaintext; encrypt them before they
  // leave memory if the weights are private.
  std::string SaveCheckpoint() const;
  // Restores a checkpoint of a session of the same model and options. Every length, count and
  // shape is checked against this session before anything changes; on error nothing changes.
  Status LoadCheckpoint(std::string_view bytes);

  // The same as a file. With a keystore the checkpoint is sealed (see SealCheckpoint); without
  // one it is written in plaintext. The file is replaced atomically (written next to it, then
  // renamed), so a crash never leaves a half-written checkpoint.
  Status SaveCheckpointFile(const std::string& path, Keystore* keystore) const;
  // Reads a checkpoint file written by SaveCheckpointFile. A sealed file needs the keystore
  // (InvalidArgument without one); a plaintext file is refused when a keystore is given
  // (the caller asked for encryption: a plaintext file there was swapped in or left over).
  Status LoadCheckpointFile(const std::string& path, Keystore* keystore);

  struct Impl;

 private:
  explicit TrainingSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sealed checkpoints. A checkpoint holds the trained weights, which are as private as the data
// they came from. SealCheckpoint encrypts the bytes with XChaCha20-Poly1305 (libsodium) under a
// fresh random 32-byte key, and that key is wrapped by the device keystore with the context
// "privedge-checkpoint-v1", so only this device (and only for checkpoints) can open it:
//   "PESCKPT1" | u32 wrapped key length | wrapped key | 24-byte nonce | ciphertext + 16-byte tag
// (little-endian; everything before the ciphertext is the associated data, so no byte of the
// file can be changed unnoticed). OpenSealedCheckpoint returns the plaintext in a SecureBuffer.
// Errors: not a sealed checkpoint or malformed (InvalidArgument), sealed on another device
// (PermissionDenied), altered (Unauthenticated).
bool IsSealedCheckpoint(std::string_view bytes);
Result<std::string> SealCheckpoint(std::string_view plaintext, Keystore& keystore);
Result<SecureBuffer> OpenSealedCheckpoint(std::string_view sealed, Keystore& keystore);

}  // namespace privedge
