// Fusions for transformer blocks: the decomposed LayerNorm that exporters write for opsets
// before 17 becomes com.privedge.LayerNormalization, and MatMul + bias Add (+ Relu) on inputs
// of any rank becomes com.privedge.FusedMatMul.
#include <cmath>
#include <map>

#include "optimize/graph_util.h"
#include "optimize/optimize.h"

namespace privedge {

using namespace optimize_internal;

namespace {

struct GraphView {
  Graph& graph;
  bool main_graph;
  std::map<std::string, size_t> producer;
  GraphUses uses;
  std::map<std::string, const TypeInfo*> types;

  GraphView(Graph& g, bool main) : graph(g), main_graph(main), uses(g), types(KnownTypes(g)) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& o : g.nodes[i].outputs)
        if (!o.empty()) producer[o] = i;
  }

  // The default-domain `op` node producing `name` with one output, or nullptr.
  Node* Producer(const std::string& name, const char* op) {
    auto it = producer.find(name);
    if (it == producer.end()) return nullptr;
    Node& n = graph.nodes[it->second];
    if (n.op_type != op || !IsDefaultDomain(n.domain) || n.outputs.size() != 1) return nullptr;
    return &n;
  }
  // Like Producer, and `name` is read by exactly `readers` input slots and is no graph output.
  Node* OnlyFeeding(const std::string& name, const char* op, int readers = 1) {
    if (uses.outputs.count(name) || uses.nested.count(name) || uses.Consumers(name) != readers)
      return nullptr;
    return Producer(name, op);
  }
  const Tensor* Constant(const std::string& name) const {
    return FindConstant(graph, main_graph, name);
  }
  // A float32 constant holding one value.
  bool Scalar(const std::string& name, float* v) const {
    const Tensor* t = Constant(name);
    if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
    *v = t->data<float>()[0];
    return true;
  }
  size_t Index(const Node* n) const { return static_cast<size_t>(n - graph.nodes.data()); }
};

// A ReduceMean over the last axis only, keeping it.
bool IsLastAxisMean(const GraphView& g, const Node& n, int64_t opset) {
  const Attribute* keep = n.FindAttribute("keepdims");
  if (keep && keep->i != 1) return false;
  std::vector<int64_t> axes;
  if (opset >= 18) {
    if (n.inputs.size() != 2) return false;
    const Tensor* t = g.Constant(n.inputs[1]);
    if (!t || t->dtype() != DType::kInt64 || t->numel() != 1) return false;
    axes = {t->data<int64_t>()[0]};
  } else {
    const Attribute* a = n.FindAttribute("axes");
    if (n.inputs.size() != 1 || !a) return false;
    axes = a->ints;
  }
  return axes == std::vector<int64_t>{-1};
}

// A float32 1-D constant.
const Tensor* Vector(const GraphView& g, const std::string& name) {
  const Tensor* t = g.Constant(name);
  return t && t->dtype() == DType::kFloat32 && t->rank() == 1 && t->numel() > 0 ? t : nullptr;
}

// Matches   m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2)); s = Sqrt(Add(v, eps));
//           y = Add(Mul(Div(d, s), gamma), beta)
// ending at graph.nodes[add_index] and rewrites the final Add into LayerNormalization(x, gamma,
// beta); the other nodes are flagged in `remove`.
bool FuseOneLayerNorm(GraphView& g, int64_t opset, size_t add_index, std::vector<bool>& remove) {
  const Node& add = g.graph.nodes[add_index];
  if (add.op_type != "Add" || !IsDefaultDomain(add.domain) || add.inputs.size() != 2 ||
      add.outputs.size() != 1)
    return false;
  Node* mul = nullptr;
  std::string beta;
  for (int k = 0; k < 2 && !mul; ++k) {
    mul = g.OnlyFeeding(add.inputs[k], "Mul");
    beta = add.inputs[1 - k];
  }
  if (!mul || !Vector(g, beta)) return false;
  Node* div = nullptr;
  std::string gamma;
  for (int k = 0; k < 2 && !div; ++k) {
    div = g.OnlyFeeding(mul->inputs[k], "Div");
    gamma = mul->inputs[1 - k];
  }
  const Tensor* gamma_t = Vector(g, gamma);
  if (!div || !gamma_t || gamma_t->numel() != Vector(g, beta)->numel()) return false;
  Node* sqrt = g.OnlyFeeding(div->inputs[1], "Sqrt");
  Node* sub = g.OnlyFeeding(div->inputs[0], "Sub", 2);
  if (!sqrt || !sub || sub->inputs.size() != 2) return false;
  Node* eps_add = g.OnlyFeeding(sqrt->inputs[0], "Add");
  if (!eps_add || eps_add->inputs.size() != 2) return false;
  Node* var = nullptr;
  float eps = 0;
  for (int k = 0; k < 2 && !var; ++k)
    if (g.Scalar(eps_add->inputs[1 - k], &eps)) var = g.OnlyFeeding(eps_add->inputs[k], "ReduceMean");
  if (!var || !(eps >= 0) || !IsLastAxisMean(g, *var, opset)) return false;
  Node* pow = g.OnlyFeeding(var->inputs[0], "Pow");
  float exponent = 0;
  if (!pow || pow->inputs.size() != 2 || pow->inputs[0] != sub->outputs[0] ||
      !g.Scalar(pow->inputs[1], &exponent) || exponent != 2.0f)
    return false;
  // The Sub's two readers are the Pow and the Div.
  const std::string x = sub->inputs[0];
  Node* mean = g.OnlyFeeding(sub->inputs[1], "ReduceMean");
  if (!mean || mean->inputs[0] != x || !IsLastAxisMean(g, *mean, opset)) return false;
  // gamma and beta must span x's last axis (declared or inferred), not broadcast it wider.
  auto type = g.types.find(x);
  if (type == g.types.end() || !type->second->has_shape || type->second->dims.empty() ||
      !type->second->dims.back().known() || type->second->dims.back().value != gamma_t->numel())
    return false;

  for (const Node* n : {mean, sub, pow, var, eps_add, sqrt, div, mul}) remove[g.Index(n)] = true;
  Node& ln = g.graph.nodes[add_index];
  const std::string out = ln.outputs[0];
  const std::string name = ln.name;
  ln = Node();
  ln.name = name;
  ln.op_type = "LayerNormalization";
  ln.domain = kPrivedgeDomain;
  ln.inputs = {x, gamma, beta};
  ln.outputs = {out};
  Attribute axis;
  axis.kind = Attribute::Kind::kInt;
  axis.i = -1;
  ln.attributes["axis"] = axis;
  Attribute epsilon;
  epsilon.kind = Attribute::Kind::kFloat;
  epsilon.f = eps;
  ln.attributes["epsilon"] = epsilon;
  return true;
}

// Matches Add(MatMul(A, W), b) (either order) with W a float32 constant matrix [K, N] and b a
// float32 constant of N values, optionally followed by a Relu, and rewrites the last node into
// FusedMatMul(A, W, b).
bool FuseOneMatMulBias(GraphView& g, size_t index, std::vector<bool>& remove) {
  const Node& last = g.graph.nodes[index];
  if (!IsDefaultDomain(last.domain) || last.outputs.size() != 1) return false;
  Node* add = nullptr;
  if (last.op_type == "Relu" && last.inputs.size() == 1) {
    add = g.OnlyFeeding(last.inputs[0], "Add");
  } else if (last.op_type == "Add") {
    add = &g.graph.nodes[index];
  }
  if (!add || add->inputs.size() != 2) return false;
  Node* matmul = nullptr;
  std::string bias;
  for (int k = 0; k < 2 && !matmul; ++k) {
    matmul = g.OnlyFeeding(add->inputs[k], "MatMul");
    bias = add->inputs[1 - k];
  }
  if (!matmul || matmul->inputs.size() != 2) return false;
  const Tensor* w = g.Constant(matmul->inputs[1]);
  const Tensor* b = Vector(g, bias);
  if (!w || w->dtype() != DType::kFloat32 || w->rank() != 2 || !b || b->numel() != w->dim(1))
    return false;
  // A Relu applies only when this Add feeds nothing else.
  if (last.op_type == "Add" && g.uses.Consumers(last.outputs[0]) == 1 &&
      !g.uses.outputs.count(last.outputs[0])) {
    for (const Node& n : g.graph.nodes)
      if (n.op_type == "Relu" && IsDefaultDomain(n.domain) && n.inputs.size() == 1 &&
          n.inputs[0] == last.outputs[0])
        return false;  // the Relu will take the whole chain
  }
  remove[g.Index(matmul)] = true;
  if (add != &g.graph.nodes[index]) remove[g.Index(add)] = true;
  Node& fused = g.graph.nodes[index];
  const bool relu = fused.op_type == "Relu";
  const std::string out = fused.outputs[0];
  const std::string name = fused.name;
  const std::string a = matmul->inputs[0], weights = matmul->inputs[1];
  fused = Node();
  fused.name = name;
  fused.op_type = "FusedMatMul";
  fused.domain = kPrivedgeDomain;
  fused.inputs = {a, weights, bias};
  fused.outputs = {out};
  Attribute act;
  act.kind = Attribute::Kind::kString;
  act.s = relu ? "Relu" : "";
  fused.attributes["activation"] = act;
  return true;
}

Result<int64_t> FuseIn(Graph& graph, bool main_graph, int64_t opset, bool layer_norm) {
  GraphView g(graph, main_graph);
  std::vector<bool> remove(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (remove[i]) continue;
    if (layer_norm ? FuseOneLayerNorm(g, opset, i, remove) : FuseOneMatMulBias(g, i, remove))
      ++count;
  }
  if (count) RemoveNodes(graph, remove);
  return count;
}

Result<int64_t> RunFusion(Model& model, bool layer_norm) {
  const int64_t opset = model.OpsetVersion("");
  auto count = ForEachGraph(model, [&](Graph& g, bool main_graph) {
    return FuseIn(g, main_graph, opset, layer_norm);
  });
  if (count.ok() && *count > 0 && model.OpsetVersion(kPrivedgeDomain) == 0)
    model.opsets.push_back({kPrivedgeDomain, 1});
  return count;
}

}  // namespace

Result<int64_t> FuseLayerNorm(Model& model) { return RunFusion(model, true); }

Result<int64_t> FuseMatMulBias(Model& model) { return RunFusion(model, false); }

}  // namespace privedge
