// TrainingSession from a model container (.pmc) and export to one. A container holds the graph
// optimized for inference; training undoes the rewrites that have no backward rule of their
// own: com.privedge.FusedConv is split back into a Conv, an Add (residual summand) and its
// activation node, com.privedge.FusedMatMul into MatMul, Add (and Relu), and
// com.privedge.LayerNormalization becomes ONNX's LayerNormalization, whose backward rule applies.
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

// Replaces every FusedConv node of `g` by a Conv, its Add of the summand Z when it has one, and
// its activation when it has one (and undoes the other fusions, see the top of the file).
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
    if ((act && act->kind != Attribute::Kind::kString) || (!act && params) ||
        n.outputs.size() != 1)
      return InvalidModel(n.Describe(),
                          ": FusedConv with a non-string 'activation' attribute, parameters "
                          "without activation, or ",
                          n.outputs.size(), " outputs");
    const std::vector<float> values =
        params && params->kind == Attribute::Kind::kFloats ? params->floats : std::vector<float>{};
    Node activation;
    if (act) {
      activation.name = n.name.empty() ? "" : n.name + "/activation";
      activation.op_type = act->s;
      if (act->s == "Relu" || act->s == "Sigmoid" || act->s == "Swish") {
        if (!values.empty())
          return InvalidModel(n.Describe(), ": ", act->s, " activation with ", values.size(),
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
    }
    // The residual summand Z (input 3), added after the Conv and before the activation.
    std::string summand;
    if (n.inputs.size() > 3) summand = n.inputs[3];
    const bool has_activation = act != nullptr;
    Node conv = std::move(n);
    conv.op_type = "Conv";
    conv.domain.clear();
    conv.attributes.erase("activation");
    conv.attributes.erase("activation_params");
    if (conv.inputs.size() > 3) conv.inputs.resize(3);
    while (!conv.inputs.empty() && conv.inputs.back().empty()) conv.inputs.pop_back();
    const std::string out = conv.outputs[0];
    std::string value = out;
    auto fresh = [&](const std::string& suffix) {
      std::string name = FreshName(g, used, out + suffix);
      used.insert(name);
      return name;
    };
    std::vector<Node> tail;  // Add and activation, in order
    if (has_activation && activation.op_type == "Swish") {
      // x * Sigmoid(x)
      Node mul;
      mul.name = activation.name.empty() ? "" : activation.name + "/mul";
      mul.op_type = "Mul";
      mul.outputs = {value};
      const std::string gate = fresh("/sigmoid");
      value = fresh(summand.empty() ? "/conv" : "/sum");
      mul.inputs = {value, gate};
      activation.op_type = "Sigmoid";
      activation.inputs = {value};
      activation.outputs = {gate};
      tail.insert(tail.begin(), std::move(mul));
      tail.insert(tail.begin(), std::move(activation));
    } else if (has_activation) {
      activation.outputs = {value};
      value = fresh(summand.empty() ? "/conv" : "/sum");
      activation.inputs = {value};
      tail.insert(tail.begin(), std::move(activation));
    }
    if (!summand.empty()) {
      Node add;
      add.name = conv.name.empty() ? "" : conv.name + "/add";
      add.op_type = "Add";
      add.outputs = {value};
      value = fresh("/conv");
      add.inputs = {value, summand};
      tail.insert(tail.begin(), std::move(add));
    }
    conv.outputs[0] = value;
    nodes.push_back(std::move(conv));
    for (Node& t : tail) nodes.push_back(std::move(t));
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
