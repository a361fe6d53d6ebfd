#include "model/shape_inference.h"

#include <exception>
#include <set>

#include "model/shape_inference_internal.h"

namespace privedge {
namespace shape_inference {

Dim KnownDim(int64_t value) {
  Dim d;
  d.value = value < 0 ? -1 : value;
  return d;
}

TypeInfo TensorType(DType elem_type, Dims dims) {
  TypeInfo t;
  t.kind = TypeInfo::Kind::kTensor;
  t.elem_type = elem_type;
  if (dims.size() > kMaxRank) return t;
  t.has_shape = true;
  t.dims = std::move(dims);
  return t;
}

TypeInfo TensorOfRank(DType elem_type, size_t rank) {
  return TensorType(elem_type, Dims(std::min(rank, kMaxRank + 1)));
}

TypeInfo TensorWithoutShape(DType elem_type) {
  TypeInfo t;
  t.kind = TypeInfo::Kind::kTensor;
  t.elem_type = elem_type;
  return t;
}

Dim UnifyDims(const Dim& a, const Dim& b) {
  if (a.known()) return a;
  if (b.known()) return b;
  return a.symbol.empty() ? b : a;
}

std::optional<Dims> Broadcast(const Dims& a, const Dims& b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const Dim* x = i < rank - a.size() ? nullptr : &a[i - (rank - a.size())];
    const Dim* y = i < rank - b.size() ? nullptr : &b[i - (rank - b.size())];
    if (!x || (x->known() && x->value == 1)) {
      out[i] = y ? *y : KnownDim(1);
    } else if (!y || (y->known() && y->value == 1)) {
      out[i] = *x;
    } else if (x->known() && y->known()) {
      if (x->value != y->value) return std::nullopt;
      out[i] = *x;
    } else if (x->known() || y->known()) {
      out[i] = x->known() ? *x : *y;  // the other is that extent or 1
    } else if (!x->symbol.empty() && x->symbol == y->symbol) {
      out[i] = *x;
    }  // else two different symbols or an unknown: either may be 1, so unknown
  }
  return out;
}

Dim ProductOfDims(Dims::const_iterator begin, Dims::const_iterator end) {
  int64_t product = 1;
  const Dim* symbol = nullptr;
  for (auto it = begin; it != end; ++it) {
    if (it->known()) {
      if (!CheckedMul(product, it->value, &product)) return Dim{};
    } else if (!it->symbol.empty() && !symbol) {
      symbol = &*it;
    } else {
      return Dim{};
    }
  }
  if (!symbol) return KnownDim(product);
  return product == 1 ? *symbol : Dim{};
}

bool NormalizeAxis(int64_t axis, int64_t rank, int64_t* out) {
  if (axis < -rank || axis >= rank) return false;
  *out = axis < 0 ? axis + rank : axis;
  return true;
}

bool CheckedAdd(int64_t a, int64_t b, int64_t* out) { return !__builtin_add_overflow(a, b, out); }
bool CheckedMul(int64_t a, int64_t b, int64_t* out) { return !__builtin_mul_overflow(a, b, out); }

const TypeInfo* InferContext::type(size_t i) const {
  if (!has_input(i) || inputs_[i]->type.kind == TypeInfo::Kind::kUnknown) return nullptr;
  return &inputs_[i]->type;
}

DType InferContext::elem_type(size_t i) const {
  const TypeInfo* t = type(i);
  return t && t->kind == TypeInfo::Kind::kTensor ? t->elem_type : DType::kUndefined;
}

const Dims* InferContext::dims(size_t i) const {
  const TypeInfo* t = type(i);
  return t && t->kind == TypeInfo::Kind::kTensor && t->has_shape ? &t->dims : nullptr;
}

Scalar KnownScalar(int64_t value) { return Scalar{true, value, ""}; }

Scalar ScalarFromDim(const Dim& d) {
  return d.known() ? KnownScalar(d.value) : Scalar{false, 0, d.symbol};
}

Dim DimFromScalar(const Scalar& s) {
  if (s.known) return KnownDim(s.value);
  return Dim{-1, s.symbol};
}

const Data* InferContext::data(size_t i) const {
  return has_input(i) && inputs_[i]->data ? &*inputs_[i]->data : nullptr;
}

std::optional<std::vector<int64_t>> InferContext::ints(size_t i) const {
  const Data* d = data(i);
  if (!d) return std::nullopt;
  std::vector<int64_t> values;
  for (const Scalar& v : *d) {
    if (!v.known) return std::nullopt;
    values.push_back(v.value);
  }
  return values;
}

int64_t InferContext::attr_int(const std::string& name, int64_t def) const {
  const Attribute* a = node_.FindAttribute(name);
  return a && a->kind == Attribute::Kind::kInt ? a->i : def;
}

const std::vector<int64_t>* InferContext::attr_ints(const std::string& name) const {
  const Attribute* a = node_.FindAttribute(name);
  return a && a->kind == Attribute::Kind::kInts ? &a->ints : nullptr;
}

std::string InferContext::attr_string(const std::string& name, const std::string& def) const {
  const Attribute* a = node_.FindAttribute(name);
  return a && a->kind == Attribute::Kind::kString ? a->s : def;
}

std::optional<std::vector<int64_t>> InferContext::ints_from_input_or_attr(size_t input,
                                                                          const std::string& attr,
                                                                          bool* absent) const {
  *absent = false;
  if (input < node_.inputs.size() && !node_.inputs[input].empty()) return ints(input);
  if (const auto* list = attr_ints(attr)) return *list;
  *absent = true;
  return std::nullopt;
}

void InferContext::set_type(size_t i, TypeInfo type) {
  if (i < outputs_.size()) outputs_[i].type = std::move(type);
}

void InferContext::set_data(size_t i, Data data) {
  if (i < outputs_.size() && data.size() <= kMaxTrackedElements) outputs_[i].data = std::move(data);
}

Known KnownFromTensor(const Tensor& t, bool values_fixed) {
  Known k;
  Dims dims;
  for (int64_t d : t.shape()) dims.push_back(KnownDim(d));
  k.type = TensorType(t.dtype(), std::move(dims));
  const bool integer = t.dtype() == DType::kInt64 || t.dtype() == DType::kInt32;
  if (values_fixed && integer && t.rank() <= 1 && t.numel() >= 0 &&
      static_cast<size_t>(t.numel()) <= kMaxTrackedElements) {
    Data values;
    for (int64_t i = 0; i < t.numel(); ++i) values.push_back(KnownScalar(t.GetAsInt64(i)));
    k.data = std::move(values);
  }
  return k;
}

}  // namespace shape_inference

namespace {

using shape_inference::Dims;
using shape_inference::Known;

// Declared and inferred knowledge of one value combined: inferred wins where they disagree
// (the run-time shapes follow the computation, not the annotation).
TypeInfo MergeTypes(const TypeInfo& inferred, const TypeInfo& declared) {
  using K = TypeInfo::Kind;
  if (inferred.kind == K::kUnknown) return declared;
  if (declared.kind != inferred.kind || inferred.kind != K::kTensor) return inferred;
  TypeInfo out = inferred;
  if (out.elem_type == DType::kUndefined) out.elem_type = declared.elem_type;
  if (!declared.has_shape) return out;
  if (!out.has_shape) {
    out.has_shape = true;
    out.dims = declared.dims;
    return out;
  }
  if (declared.dims.size() != out.dims.size()) return out;
  for (size_t i = 0; i < out.dims.size(); ++i) {
    Dim& d = out.dims[i];
    const Dim& decl = declared.dims[i];
    if (!d.known() && (decl.known() || d.symbol.empty()))
      d = decl.known() ? decl : Dim{-1, decl.symbol};
  }
  return out;
}

const shape_inference::RuleTable& Rules() {
  static const shape_inference::RuleTable table = [] {
    shape_inference::RuleTable t;
    shape_inference::AddElementwiseRules(t);
    shape_inference::AddNnRules(t);
    shape_inference::AddShapeRules(t);
    return t;
  }();
  return table;
}

// Values visible while inferring one graph: its own, then its enclosing graphs'.
struct Scope {
  std::map<std::string, Known> values;
  const Scope* parent = nullptr;

  const Known* Find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->values.find(name);
      if (it != s->values.end()) return &it->second;
    }
    return nullptr;
  }
};

void InferGraph(Graph& graph, int64_t opset, const Scope* parent, Scope& scope) {
  scope.parent = parent;
  const std::set<std::string> overridable(graph.overridable_initializers.begin(),
                                          graph.overridable_initializers.end());
  for (const auto& [name, t] : graph.initializers)
    scope.values[name] = shape_inference::KnownFromTensor(t, !overridable.count(name));
  for (const auto& in : graph.inputs) scope.values[in.name].type = in.type;

  std::map<std::string, size_t> declared;  // index into value_infos
  for (size_t i = 0; i < graph.value_infos.size(); ++i) declared[graph.value_infos[i].name] = i;
  std::map<std::string, const TypeInfo*> declared_outputs;
  for (const auto& out : graph.outputs) declared_outputs[out.name] = &out.type;

  const auto& rules = Rules();
  for (Node& node : graph.nodes) {
    for (auto& [key, a] : node.attributes) {
      if (a.g) {
        Scope sub;
        InferGraph(*a.g, opset, &scope, sub);
      }
      for (auto& g : a.graphs) {
        Scope sub;
        InferGraph(*g, opset, &scope, sub);
      }
    }
    std::vector<const Known*> inputs;
    for (const auto& name : node.inputs)
      inputs.push_back(name.empty() ? nullptr : scope.Find(name));
    shape_inference::InferContext ctx(node, opset, std::move(inputs));
    if (node.domain.empty()) {
      auto rule = rules.find(node.op_type);
      if (rule != rules.end()) rule->second(ctx);
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const std::string& name = node.outputs[i];
      if (name.empty()) continue;
      Known k = std::move(ctx.outputs()[i]);
      if (k.type.kind == TypeInfo::Kind::kTensor && k.type.has_shape &&
          k.type.dims.size() > shape_inference::kMaxRank)
        k.type = shape_inference::TensorWithoutShape(k.type.elem_type);
      auto out = declared_outputs.find(name);
      auto vi = declared.find(name);
      if (out != declared_outputs.end()) {
        k.type = MergeTypes(k.type, *out->second);
      } else if (vi != declared.end()) {
        k.type = MergeTypes(k.type, graph.value_infos[vi->second].type);
        graph.value_infos[vi->second].type = k.type;
      } else if (k.type.kind != TypeInfo::Kind::kUnknown) {
        declared[name] = graph.value_infos.size();
        graph.value_infos.push_back({name, k.type});
      }
      scope.values[name] = std::move(k);
    }
  }
}

}  // namespace

Status InferGraphTypes(Graph& graph, int64_t opset, std::map<std::string, TypeInfo>* types) {
  try {
    Scope scope;
    InferGraph(graph, opset, nullptr, scope);
    if (types) {
      for (const auto& [name, k] : scope.values) (*types)[name] = k.type;
    }
  } catch (const std::exception& e) {
    return Internal("shape inference failed: ", e.what());
  }
  return Status::OK();
}

}  // namespace privedge
