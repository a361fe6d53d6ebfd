// ExportOnnx: the original model with the trained initializers written back. Every initializer
// the original kept in an external file is embedded too, so the result stands alone.
#include "onnx/onnx_pb.h"
#include "train/session_impl.h"

namespace privedge {

Result<std::string> TrainingSession::ExportOnnxBytes() const {
  const Impl& m = *impl_;
  if (m.from_container)
    return NotImplemented(
        "the session was created from a model container, which holds no ONNX "
        "model to write back to: export with ExportContainer (.pmc)");
  onnx::ModelProto proto;
  if (!proto.ParseFromString(m.original))
    return Internal("the model's bytes no longer parse as ONNX");
  std::map<std::string, std::pair<const float*, int64_t>> values;
  for (const auto& p : m.layout) values[p.name] = {m.weights.data() + p.offset, p.size};
  std::vector<Tensor> states;  // keeps the running statistics alive while writing
  for (const auto& name : m.state_names) {
    PE_ASSIGN_OR_RETURN(Tensor t, m.tape->Initializer(name));
    states.push_back(t);
    values[name] = {t.data<float>(), t.numel()};
  }
  for (auto& init : *proto.mutable_graph()->mutable_initializer()) {
    auto it = values.find(init.name());
    std::string raw;
    if (it != values.end()) {
      raw.assign(reinterpret_cast<const char*>(it->second.first),
                 it->second.second * sizeof(float));
      init.set_data_type(onnx::TensorProto::FLOAT);
    } else if (init.data_location() == onnx::TensorProto::EXTERNAL) {
      auto imported = m.model.graph.initializers.find(init.name());
      if (imported == m.model.graph.initializers.end() ||
          imported->second.dtype() == DType::kString)
        return NotImplemented("cannot embed external initializer '", init.name(), "'");
      raw.assign(static_cast<const char*>(imported->second.raw_data()), imported->second.nbytes());
    } else {
      continue;
    }
    init.clear_float_data();
    init.clear_double_data();
    init.clear_int32_data();
    init.clear_int64_data();
    init.clear_uint64_data();
    init.clear_external_data();
    init.clear_data_location();
    init.set_raw_data(std::move(raw));
  }
  std::string out;
  if (!proto.SerializeToString(&out)) return Internal("cannot serialize the trained model");
  return out;
}

}  // namespace privedge
