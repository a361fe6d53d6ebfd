// TrainingSession's state, shared by training_session.cc, checkpoint.cc and onnx_export.cc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/graph.h"
#include "privedge/training.h"
#include "train/optimizer.h"
#include "train/tape.h"

namespace privedge {

struct TrainingSession::Impl {
  static Result<std::unique_ptr<Impl>> Build(std::string bytes, const std::string& base_dir,
                                             const TrainingOptions& options);
  // From a model container (see TrainingSession::Create).
  static Result<std::unique_ptr<Impl>> BuildFromContainer(const std::string& path,
                                                          const TrainingOptions& options);
  // Everything after `model` is set: parameters, tape, optimizer.
  Status Setup();
  // Forward, loss and (training) backward and update.
  Result<StepResult> Run(const NamedTensors& inputs, const Tensor& labels, bool training);

  TrainingOptions options;
  std::string original;  // the model's bytes as given (empty for a container)
  bool from_container = false;
  Model container_model;  // the container's graph as stored (FusedConv kept), for export
  Model model;
  std::string output;
  int threads = 1;
  std::unique_ptr<train::Tape> tape;
  std::vector<ParameterInfo> layout;
  std::vector<float> weights;  // the tape's parameter initializers are views into this
  std::vector<float> grads;
  std::vector<float> anchor;             // weights at creation or the last SetWeights
  std::vector<std::string> state_names;  // running statistics, in the checkpoint and export
  std::unique_ptr<train::Optimizer> optimizer;
};

}  // namespace privedge
