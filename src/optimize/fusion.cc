// Fusions that merge a node into its producer: Conv + BatchNormalization, MatMul + Add -> Gemm,
// Conv + Add (residual) and Conv + activation -> com.privedge.FusedConv.
#include <cmath>
#include <limits>
#include <map>

#include "optimize/graph_util.h"
#include "optimize/optimize.h"

namespace privedge {

using namespace optimize_internal;

namespace {

bool IsFloat32Or64(DType t) { return t == DType::kFloat32 || t == DType::kFloat64; }

// Index of the node of `graph` producing each value.
std::map<std::string, size_t> Producers(const Graph& graph) {
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const auto& o : graph.nodes[i].outputs)
      if (!o.empty()) producer[o] = i;
  return producer;
}

// The node producing `name` in `graph` when it is a default-domain `op_type` node whose output
// `name` is read by nothing but one input of one node. -1 otherwise.
int64_t SoleProducer(const Graph& graph, const std::map<std::string, size_t>& producers,
                     const GraphUses& uses, const std::string& name, const std::string& op_type) {
  auto p = producers.find(name);
  if (p == producers.end() || !uses.SingleUse(name)) return -1;
  const Node& node = graph.nodes[p->second];
  if (node.op_type != op_type || !IsDefaultDomain(node.domain)) return -1;
  return static_cast<int64_t>(p->second);
}

// A BatchNormalization that normalizes with its stored statistics and returns only Y.
bool IsInferenceBatchNorm(const Node& bn, int64_t opset, const GraphUses& uses) {
  if (bn.inputs.size() != 5 || bn.outputs.empty() || bn.outputs[0].empty()) return false;
  for (size_t i = 1; i < bn.outputs.size(); ++i)
    if (!bn.outputs[i].empty() && (opset < 14 || uses.Used(bn.outputs[i]))) return false;
  if (opset >= 14) {
    const Attribute* training = bn.FindAttribute("training_mode");
    if (training && training->i != 0) return false;
  }
  const Attribute* spatial = bn.FindAttribute("spatial");
  if (opset < 9 && spatial && spatial->i == 0) return false;
  return true;
}

std::vector<double> ToDoubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.GetAsDouble(i);
  return v;
}

Tensor FromDoubles(const std::vector<double>& v, DType dtype, const Shape& shape) {
  if (dtype == DType::kFloat64) return Tensor::FromVector(v, shape);
  return Tensor::FromVector(std::vector<float>(v.begin(), v.end()), shape);
}

// Folds graph.nodes[bn_index] into the Conv feeding it; false when the pattern does not apply.
bool FoldOneConvBatchNorm(Graph& graph, bool main_graph, const Model& model,
                          const std::map<std::string, size_t>& producers, const GraphUses& uses,
                          size_t bn_index, NameAllocator& names) {
  const Node& bn = graph.nodes[bn_index];
  if (bn.op_type != "BatchNormalization" || !IsDefaultDomain(bn.domain)) return false;
  if (!IsInferenceBatchNorm(bn, model.OpsetVersion(bn.domain), uses)) return false;
  const int64_t conv_index = SoleProducer(graph, producers, uses, bn.inputs[0], "Conv");
  if (conv_index < 0) return false;
  Node& conv = graph.nodes[conv_index];
  if (conv.inputs.size() < 2 || conv.outputs.size() != 1) return false;
  const Tensor* w = FindConstant(graph, main_graph, conv.inputs[1]);
  if (!w || !IsFloat32Or64(w->dtype()) || w->rank() < 3) return false;
  const int64_t channels = w->dim(0);
  if (channels <= 0) return false;
  const Tensor* b = nullptr;
  if (conv.inputs.size() > 2 && !conv.inputs[2].empty()) {
    b = FindConstant(graph, main_graph, conv.inputs[2]);
    if (!b || b->dtype() != w->dtype() || b->rank() != 1 || b->numel() != channels) return false;
  }
  const Tensor* params[4];  // scale, B, mean, var
  for (int k = 0; k < 4; ++k) {
    params[k] = FindConstant(graph, main_graph, bn.inputs[k + 1]);
    if (!params[k] || params[k]->dtype() != w->dtype() || params[k]->rank() != 1 ||
        params[k]->numel() != channels)
      return false;
  }
  const Attribute* eps_attr = bn.FindAttribute("epsilon");
  const double eps = eps_attr ? static_cast<double>(eps_attr->f) : static_cast<double>(1e-5f);

  const std::vector<double> gamma = ToDoubles(*params[0]), beta = ToDoubles(*params[1]),
                            mean = ToDoubles(*params[2]), var = ToDoubles(*params[3]);
  std::vector<double> weights = ToDoubles(*w);
  std::vector<double> bias = b ? ToDoubles(*b) : std::vector<double>(channels, 0.0);
  const size_t per_channel = weights.size() / static_cast<size_t>(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const double scale = gamma[c] / std::sqrt(var[c] + eps);
    for (size_t k = 0; k < per_channel; ++k) weights[c * per_channel + k] *= scale;
    bias[c] = (bias[c] - mean[c]) * scale + beta[c];
  }
  const std::string w_name = names.Fresh(conv.inputs[1] + "_bn_folded");
  const std::string b_name = names.Fresh((b ? conv.inputs[2] : conv.outputs[0]) + "_bn_folded");
  graph.initializers[w_name] = FromDoubles(weights, w->dtype(), w->shape());
  graph.initializers[b_name] = FromDoubles(bias, w->dtype(), {channels});
  conv.inputs.resize(3);
  conv.inputs[1] = w_name;
  conv.inputs[2] = b_name;
  conv.outputs[0] = bn.outputs[0];
  return true;
}

Result<int64_t> FoldConvBatchNormIn(Graph& graph, bool main_graph, const Model& model,
                                    NameAllocator& names) {
  const std::map<std::string, size_t> producers = Producers(graph);
  const GraphUses uses(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    // Each match touches only its own Conv/BN pair, so the use counts stay valid.
    if (FoldOneConvBatchNorm(graph, main_graph, model, producers, uses, i, names)) {
      remove[i] = true;
      ++count;
    }
  }
  if (count) RemoveNodes(graph, remove);
  return count;
}

// Rank of `name` in `graph` when declared or inferred, -1 when unknown.
int64_t KnownRank(const Graph& graph, const std::map<std::string, const TypeInfo*>& types,
                  const std::string& name, DType* elem_type) {
  auto init = graph.initializers.find(name);
  if (init != graph.initializers.end()) {
    *elem_type = init->second.dtype();
    return static_cast<int64_t>(init->second.rank());
  }
  auto it = types.find(name);
  if (it == types.end() || it->second->kind != TypeInfo::Kind::kTensor || !it->second->has_shape)
    return -1;
  *elem_type = it->second->elem_type;
  return static_cast<int64_t>(it->second->dims.size());
}

bool FuseOneMatMulAdd(Graph& graph, bool main_graph, const std::map<std::string, size_t>& producers,
                      const GraphUses& uses, const std::map<std::string, const TypeInfo*>& types,
                      size_t add_index) {
  const Node& add = graph.nodes[add_index];
  if (add.op_type != "Add" || !IsDefaultDomain(add.domain) || add.inputs.size() != 2 ||
      add.outputs.size() != 1)
    return false;
  for (int side = 0; side < 2; ++side) {
    const int64_t mm_index = SoleProducer(graph, producers, uses, add.inputs[side], "MatMul");
    if (mm_index < 0) continue;
    Node& matmul = graph.nodes[mm_index];
    const Tensor* bias = FindConstant(graph, main_graph, add.inputs[1 - side]);
    if (matmul.inputs.size() != 2 || !bias) continue;
    const Tensor* w = FindConstant(graph, main_graph, matmul.inputs[1]);
    if (!w || w->rank() != 2 || !IsFloat32Or64(w->dtype())) continue;
    if (bias->dtype() != w->dtype() || bias->rank() != 1 ||
        (bias->numel() != w->dim(1) && bias->numel() != 1))
      continue;
    DType a_type = DType::kUndefined;
    if (KnownRank(graph, types, matmul.inputs[0], &a_type) != 2 || a_type != w->dtype()) continue;
    matmul.op_type = "Gemm";
    matmul.attributes.clear();
    matmul.inputs.push_back(add.inputs[1 - side]);
    matmul.outputs[0] = add.outputs[0];
    return true;
  }
  return false;
}

Result<int64_t> FuseMatMulAddIn(Graph& graph, bool main_graph, const Model& model) {
  // Gemm takes an optional, unidirectionally broadcast C from opset 11 on.
  if (model.OpsetVersion("") < 11) return int64_t{0};
  const std::map<std::string, size_t> producers = Producers(graph);
  const std::map<std::string, const TypeInfo*> types = KnownTypes(graph);
  const GraphUses uses(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (FuseOneMatMulAdd(graph, main_graph, producers, uses, types, i)) {
      remove[i] = true;
      ++count;
    }
  }
  if (count) RemoveNodes(graph, remove);
  return count;
}

// The scalar float32 constant at input `slot` of `node`; `fallback` when the input is omitted.
// False when the input is present but not such a constant.
bool ReadScalarInput(const Graph& graph, bool main_graph, const Node& node, size_t slot,
                     float fallback, float* value) {
  *value = fallback;
  if (node.inputs.size() <= slot || node.inputs[slot].empty()) return true;
  const Tensor* t = FindConstant(graph, main_graph, node.inputs[slot]);
  if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1 || t->rank() > 1) return false;
  *value = t->data<float>()[0];
  return true;
}

// The FusedConv activation attributes for a float32 activation node; false when not fusable.
bool ActivationParams(const Graph& graph, bool main_graph, const Node& act, int64_t opset,
                      std::vector<float>* params) {
  if (act.op_type == "Relu" || act.op_type == "Sigmoid") return act.inputs.size() == 1;
  if (act.op_type == "LeakyRelu") {
    const Attribute* alpha = act.FindAttribute("alpha");
    *params = {alpha ? alpha->f : 0.01f};
    return act.inputs.size() == 1;
  }
  if (act.op_type != "Clip") return false;
  float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
  if (opset < 11) {
    if (act.inputs.size() != 1) return false;
    if (const Attribute* a = act.FindAttribute("min")) lo = a->f;
    if (const Attribute* a = act.FindAttribute("max")) hi = a->f;
  } else if (!ReadScalarInput(graph, main_graph, act, 1, lo, &lo) ||
             !ReadScalarInput(graph, main_graph, act, 2, hi, &hi)) {
    return false;
  }
  // Also rules out NaN bounds; min > max (all outputs max) is left to Clip.
  if (!(lo <= hi)) return false;
  *params = {lo, hi};
  return true;
}

// The node producing `name`, read by nothing but one input of one node, when it is a Conv or a
// FusedConv without activation (and, unless `summand_ok`, without summand). -1 otherwise.
int64_t ConvProducer(const Graph& graph, const std::map<std::string, size_t>& producers,
                     const GraphUses& uses, const std::string& name, bool summand_ok) {
  auto p = producers.find(name);
  if (p == producers.end() || !uses.SingleUse(name)) return -1;
  const Node& node = graph.nodes[p->second];
  if (IsDefaultDomain(node.domain) && node.op_type == "Conv") return static_cast<int64_t>(p->second);
  if (node.domain != kPrivedgeDomain || node.op_type != "FusedConv" ||
      node.FindAttribute("activation") || node.FindAttribute("activation_params"))
    return -1;
  if (!summand_ok && node.inputs.size() > 3) return -1;
  return static_cast<int64_t>(p->second);
}

// Merges graph.nodes[add_index], an Add of a float32 Conv's output and another value Z, into
// that Conv: FusedConv(X, W, B, Z) without activation, placed where the Add was (Z may be
// computed after the Conv). Marks the Conv in `remove`; false when it does not apply.
bool FuseOneConvAdd(Graph& graph, bool main_graph, const std::map<std::string, size_t>& producers,
                    const GraphUses& uses, size_t add_index, std::vector<bool>& remove) {
  const Node& add = graph.nodes[add_index];
  if (!IsDefaultDomain(add.domain) || add.op_type != "Add" || add.inputs.size() != 2 ||
      add.outputs.size() != 1 || add.inputs[0] == add.inputs[1] || add.inputs[0].empty() ||
      add.inputs[1].empty())
    return false;
  for (size_t k = 0; k < 2; ++k) {
    const int64_t conv_index = ConvProducer(graph, producers, uses, add.inputs[k], false);
    if (conv_index < 0 || remove[conv_index]) continue;
    const Node& conv = graph.nodes[conv_index];
    if (conv.inputs.size() < 2 || conv.outputs.size() != 1) continue;
    // A float32 weight means a float32 Conv, and so a float32 Z (Add takes one type).
    const Tensor* w = FindConstant(graph, main_graph, conv.inputs[1]);
    if (!w || w->dtype() != DType::kFloat32) continue;
    Node fused = conv;
    fused.op_type = "FusedConv";
    fused.domain = kPrivedgeDomain;
    fused.inputs.resize(3);  // X, W, B ("" when the Conv has none)
    fused.inputs.push_back(add.inputs[1 - k]);
    fused.outputs = add.outputs;
    graph.nodes[add_index] = std::move(fused);
    remove[conv_index] = true;
    return true;
  }
  return false;
}

Result<int64_t> FuseConvAddIn(Graph& graph, bool main_graph) {
  const std::map<std::string, size_t> producers = Producers(graph);
  const GraphUses uses(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (FuseOneConvAdd(graph, main_graph, producers, uses, i, remove)) ++count;
  if (count) RemoveNodes(graph, remove);
  return count;
}

// Merges graph.nodes[act_index] into the float32 Conv feeding it; false when it does not apply.
bool FuseOneConvActivation(Graph& graph, bool main_graph, const Model& model,
                           const std::map<std::string, size_t>& producers, const GraphUses& uses,
                           size_t act_index) {
  const Node& act = graph.nodes[act_index];
  if (!IsDefaultDomain(act.domain) || act.inputs.empty() || act.outputs.size() != 1) return false;
  std::vector<float> params;
  if (!ActivationParams(graph, main_graph, act, model.OpsetVersion(""), &params)) return false;
  const int64_t conv_index = ConvProducer(graph, producers, uses, act.inputs[0], true);
  if (conv_index < 0) return false;
  Node& conv = graph.nodes[conv_index];
  if (conv.inputs.size() < 2 || conv.outputs.size() != 1) return false;
  // A float32 weight means a float32 Conv (X and W share one type), as FusedConv requires.
  const Tensor* w = FindConstant(graph, main_graph, conv.inputs[1]);
  if (!w || w->dtype() != DType::kFloat32) return false;
  conv.op_type = "FusedConv";
  conv.domain = kPrivedgeDomain;
  Attribute name;
  name.kind = Attribute::Kind::kString;
  name.s = act.op_type;
  conv.attributes["activation"] = name;
  Attribute values;
  values.kind = Attribute::Kind::kFloats;
  values.floats = params;
  conv.attributes["activation_params"] = values;
  conv.outputs[0] = act.outputs[0];
  return true;
}

// Merges Mul(c, Sigmoid(c)) (SiLU / Swish, EfficientNet's activation), graph.nodes[mul_index],
// into the float32 Conv producing c when c is read by nothing else and the Sigmoid only by the
// Mul. Marks the Sigmoid and the Mul in `remove`; false when it does not apply.
bool FuseOneConvSwish(Graph& graph, bool main_graph, const std::map<std::string, size_t>& producers,
                      const GraphUses& uses, size_t mul_index, std::vector<bool>& remove) {
  const Node& mul = graph.nodes[mul_index];
  if (!IsDefaultDomain(mul.domain) || mul.op_type != "Mul" || mul.inputs.size() != 2 ||
      mul.outputs.size() != 1 || remove[mul_index])
    return false;
  for (size_t k = 0; k < 2; ++k) {
    const std::string& c = mul.inputs[k];
    const std::string& s = mul.inputs[1 - k];
    auto sp = producers.find(s);
    auto cp = producers.find(c);
    if (sp == producers.end() || cp == producers.end() || remove[sp->second]) continue;
    const Node& sig = graph.nodes[sp->second];
    if (!IsDefaultDomain(sig.domain) || sig.op_type != "Sigmoid" || sig.inputs.size() != 1 ||
        sig.inputs[0] != c || !uses.SingleUse(s))
      continue;
    // c feeds exactly the Sigmoid and the Mul.
    if (uses.Consumers(c) != 2 || uses.outputs.count(c) || uses.nested.count(c)) continue;
    Node& conv = graph.nodes[cp->second];
    const bool bare_fused = conv.domain == kPrivedgeDomain && conv.op_type == "FusedConv" &&
                            !conv.FindAttribute("activation") &&
                            !conv.FindAttribute("activation_params");
    if (!(IsDefaultDomain(conv.domain) && conv.op_type == "Conv") && !bare_fused) continue;
    if (conv.inputs.size() < 2 || conv.outputs.size() != 1) continue;
    const Tensor* w = FindConstant(graph, main_graph, conv.inputs[1]);
    if (!w || w->dtype() != DType::kFloat32) continue;
    conv.op_type = "FusedConv";
    conv.domain = kPrivedgeDomain;
    conv.attributes["activation"].kind = Attribute::Kind::kString;
    conv.attributes["activation"].s = "Swish";
    conv.attributes["activation_params"].kind = Attribute::Kind::kFloats;
    conv.attributes["activation_params"].floats.clear();
    conv.outputs[0] = mul.outputs[0];
    remove[sp->second] = true;
    remove[mul_index] = true;
    return true;
  }
  return false;
}

Result<int64_t> FuseConvActivationIn(Graph& graph, bool main_graph, const Model& model) {
  const std::map<std::string, size_t> producers = Producers(graph);
  const GraphUses uses(graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (FuseOneConvSwish(graph, main_graph, producers, uses, i, remove)) {
      ++count;
    } else if (!remove[i] && FuseOneConvActivation(graph, main_graph, model, producers, uses, i)) {
      remove[i] = true;
      ++count;
    }
  }
  if (count) RemoveNodes(graph, remove);
  return count;
}

}  // namespace

Result<int64_t> FoldConvBatchNorm(Model& model) {
  NameAllocator names(model);
  return ForEachGraph(model, [&](Graph& g, bool main_graph) {
    return FoldConvBatchNormIn(g, main_graph, model, names);
  });
}

Result<int64_t> FuseMatMulAdd(Model& model) {
  return ForEachGraph(
      model, [&](Graph& g, bool main_graph) { return FuseMatMulAddIn(g, main_graph, model); });
}

Result<int64_t> FuseConvAdd(Model& model) {
  auto count =
      ForEachGraph(model, [&](Graph& g, bool main_graph) { return FuseConvAddIn(g, main_graph); });
  if (count.ok() && *count > 0 && model.OpsetVersion(kPrivedgeDomain) == 0)
    model.opsets.push_back({kPrivedgeDomain, 1});
  return count;
}

Result<int64_t> FuseConvActivation(Model& model) {
  auto count = ForEachGraph(
      model, [&](Graph& g, bool main_graph) { return FuseConvActivationIn(g, main_graph, model); });
  if (count.ok() && *count > 0 && model.OpsetVersion(kPrivedgeDomain) == 0)
    model.opsets.push_back({kPrivedgeDomain, 1});
  return count;
}

}  // namespace privedge
