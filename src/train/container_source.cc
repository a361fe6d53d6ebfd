// TrainingSession from a model container (.pmc) and export to one. A container holds the graph
// optimized for inference; training undoes the rewrites that have no backward rule of their
// own: com.privedge.FusedConv is split back into a Conv and its activation node,
// com.privedge.FusedMatMul into MatMul, Add (and Relu), and com.privedge.LayerNormalization
// becomes ONNX's LayerNormalization, whose backward rule applies.
#include <set>

#include "crypto/signing.h"
#include "model/container.h"
#include "optimize/optimize.h"
#include "protect/model_file.h"
#include "train/session_impl.h"

namespace privedge {
namespace {

// A value name not used in `g` yet, starting from `base`.
std::string FreshName(const Graph& g, const std::set<std::string>& used, const std::string& base) {
  std::string name = base;
  for (int i = 1; used.count(name) || g.initializers.count(name); ++i)
    name = base + "_" + std::to_string(i);
  return name;
}

// FusedMatMul(A, W, b) -> MatMul(A, W), Add(., b)[, Relu(.)], appended to `nodes`.
Status UnfuseMatMul(const Graph& g, std::set<std::string>& used, Node n, std::vector<Node>& nodes) {
  const Attribute* act = n.FindAttribute("activation");
  const std::string activation =
      act && act->kind == Attribute::Kind::kString ? act->s : std::string();
  if (n.inputs.size() != 3 || n.outputs.size() != 1 || (activation != "" && activation != "Relu"))
    return InvalidModel(n.Describe(), ": FusedMatMul needs inputs A, W, b, one output and "
                        "activation \"\" or \"Relu\"");
  const std::string out = n.outputs[0];
  const std::string product = FreshName(g, used, out + "/matmul");
  used.insert(product);
  Node matmul;
  matmul.name = n.name.empty() ? "" : n.name + "/matmul";
  matmul.op_type = "MatMul";
  matmul.inputs = {n.inputs[0], n.inputs[1]};
  matmul.outputs = {product};
  Node add;
  add.name = n.name;
  add.op_type = "Add";
  add.inputs = {product, n.inputs[2]};
  add.outputs = {out};
  nodes.push_back(std::move(matmul));
  if (activation.empty()) {
    nodes.push_back(std::move(add));
    return Status::OK();
  }
  const std::string sum = FreshName(g, used, out + "/add");
  used.insert(sum);
  add.outputs = {sum};
  Node relu;
  relu.name = n.name.empty() ? "" : n.name + "/activation";
  relu.op_type = "Relu";
  relu.inputs = {sum};
  relu.outputs = {out};
  nodes.push_back(std::move(add));
  nodes.push_back(std::move(relu));
  return Status::OK();
}

// Replaces every FusedConv node of `g` by a Conv and its activation (and undoes the other
// fusions, see the top of the file).
Status UnfuseConvActivations(Graph& g) {
  std::set<std::string> used;
  for (const Node& n : g.nodes)
    for (const auto& v : n.outputs) used.insert(v);
  for (const auto& v : g.inputs) used.insert(v.name);
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size());
  for (Node& n : g.nodes) {
    if (n.domain == kPrivedgeDomain && n.op_type == "LayerNormalization") {
      n.domain.clear();
      nodes.push_back(std::move(n));
      continue;
    }
    if (n.domain == kPrivedgeDomain && n.op_type == "FusedMatMul") {
      PE_RETURN_IF_ERROR(UnfuseMatMul(g, used, std::move(n), nodes));
      continue;
    }
    if (n.domain != kPrivedgeDomain || n.op_type != "FusedConv") {
      nodes.push_back(std::move(n));
      continue;
    }
    const Attribute* act = n.FindAttribute("activation");
    const Attribute* params = n.FindAttribute("activation_params");
    if (!act || act->kind != Attribute::Kind::kString || n.outputs.size() != 1)
      return InvalidModel(n.Describe(),
                          ": FusedConv without a string 'activation' attribute "
                          "or with ",
                          n.outputs.size(), " outputs");
    const std::vector<float> values =
        params && params->kind == Attribute::Kind::kFloats ? params->floats : std::vector<float>{};
    Node activation;
    activation.name = n.name.empty() ? "" : n.name + "/activation";
    activation.op_type = act->s;
    if (act->s == "Relu") {
      if (!values.empty())
        return InvalidModel(n.Describe(), ": Relu activation with ", values.size(),
                            " parameters, expected none");
    } else if (act->s == "LeakyRelu") {
      if (values.size() != 1)
        return InvalidModel(n.Describe(), ": LeakyRelu activation with ", values.size(),
                            " parameters, expected 1 (alpha)");
      Attribute alpha;
      alpha.kind = Attribute::Kind::kFloat;
      alpha.f = values[0];
      activation.attributes["alpha"] = alpha;
    } else {
      return NotImplemented(n.Describe(), ": FusedConv with activation ", act->s,
                            " cannot be trained (", act->s,
                            " has no backward rule); train the ONNX model instead");
    }
    Node conv = std::move(n);
    conv.op_type = "Conv";
    conv.domain.clear();
    conv.attributes.erase("activation");
    conv.attributes.erase("activation_params");
    const std::string mid = FreshName(g, used, conv.outputs[0] + "/conv");
    used.insert(mid);
    activation.inputs = {mid};
    activation.outputs = {conv.outputs[0]};
    conv.outputs[0] = mid;
    nodes.push_back(std::move(conv));
    nodes.push_back(std::move(activation));
  }
  g.nodes = std::move(nodes);
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<TrainingSession::Impl>> TrainingSession::Impl::BuildFromContainer(
    const std::string& path, const TrainingOptions& options) {
  PE_ASSIGN_OR_RETURN(OpenedContainer c,
                      OpenContainerWithPolicy(path, options.keystore, options.require_signed_by,
                                              options.allow_unlocked_model_memory));
  ContainerParseLimits limits;
  limits.max_tensor_bytes = options.max_tensor_bytes;
  PE_ASSIGN_OR_RETURN(Model model, ParseModel(c.body, c.owner, limits));
  // The parsed tensors borrow the mapping or the decrypted buffer: training owns its copies.
  for (auto& [name, t] : model.graph.initializers) t = t.Clone();

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->from_container = true;
  impl->container_model = model;
  PE_RETURN_IF_ERROR(UnfuseConvActivations(model.graph));
  impl->model = std::move(model);
  PE_RETURN_IF_ERROR(impl->Setup());
  return impl;
}

Status TrainingSession::ExportContainer(const std::string& path, Keystore* keystore) const {
  const Impl& m = *impl_;
  Model out = m.from_container ? m.container_model : m.model;
  for (const auto& p : m.layout) {
    Tensor t(DType::kFloat32, p.shape);
    std::copy_n(m.weights.data() + p.offset, p.size, t.data<float>());
    out.graph.initializers[p.name] = t;
  }
  for (const auto& name : m.state_names) {
    PE_ASSIGN_OR_RETURN(Tensor t, m.tape->Initializer(name));
    out.graph.initializers[name] = t.Clone();
  }
  PE_ASSIGN_OR_RETURN(SecureBuffer body, SerializeModel(out));
  ContainerWriteOptions w;
  w.keystore = keystore;
  return WriteContainerFile(path, body.span(), w);
}

}  // namespace privedge
