#include "model/container.h"

#include <bit>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace privedge {
namespace {

constexpr size_t kAlign = 64;
constexpr uint32_t kMaxRank = 64;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// ---------------------------------------------------------------------------------------------
// Writing

class Writer {
 public:
  std::vector<uint8_t> out;
  // Tensors whose bytes go to the weights section, in order, with their offsets.
  std::vector<std::pair<const Tensor*, uint64_t>> weights;
  uint64_t weights_size = 0;

  template <class T>
  void Put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (checked at build below)
    out.insert(out.end(), b, b + sizeof(T));
  }
  void Count(size_t n) { Put<uint32_t>(static_cast<uint32_t>(n)); }
  void Str(const std::string& s) {
    Count(s.size());
    out.insert(out.end(), s.begin(), s.end());
  }

  Status WriteTensor(const Tensor& t) {
    if (!t.defined()) return InvalidModel("container: cannot store an undefined tensor");
    Put<int32_t>(static_cast<int32_t>(t.dtype()));
    Count(t.rank());
    for (int64_t d : t.shape()) Put<int64_t>(d);
    if (t.dtype() == DType::kString) {
      for (int64_t i = 0; i < t.numel(); ++i) Str(t.data<std::string>()[i]);
      return Status::OK();
    }
    const uint64_t offset = t.nbytes() ? weights_size : 0;
    Put<uint64_t>(offset);
    Put<uint64_t>(t.nbytes());
    if (t.nbytes()) {
      weights.emplace_back(&t, offset);
      weights_size = AlignUp(weights_size + t.nbytes());
    }
    return Status::OK();
  }

  void WriteType(const TypeInfo& t) {
    Put<uint8_t>(static_cast<uint8_t>(t.kind));
    Put<int32_t>(static_cast<int32_t>(t.elem_type));
    Put<uint8_t>(t.has_shape);
    Count(t.dims.size());
    for (const Dim& d : t.dims) {
      Put<int64_t>(d.value);
      Str(d.symbol);
    }
    Put<uint8_t>(t.inner != nullptr);
    if (t.inner) WriteType(*t.inner);
  }

  void WriteValueInfos(const std::vector<ValueInfo>& vis) {
    Count(vis.size());
    for (const auto& vi : vis) {
      Str(vi.name);
      WriteType(vi.type);
    }
  }

  Status WriteAttribute(const Attribute& a) {
    using K = Attribute::Kind;
    Put<uint8_t>(static_cast<uint8_t>(a.kind));
    switch (a.kind) {
      case K::kUndefined:
        break;
      case K::kFloat:
        Put<float>(a.f);
        break;
      case K::kInt:
        Put<int64_t>(a.i);
        break;
      case K::kString:
        Str(a.s);
        break;
      case K::kTensor:
        return WriteTensor(a.t);
      case K::kGraph:
        if (!a.g) return InvalidModel("container: graph attribute without a graph");
        return WriteGraph(*a.g);
      case K::kFloats:
        Count(a.floats.size());
        for (float f : a.floats) Put<float>(f);
        break;
      case K::kInts:
        Count(a.ints.size());
        for (int64_t i : a.ints) Put<int64_t>(i);
        break;
      case K::kStrings:
        Count(a.strings.size());
        for (const auto& s : a.strings) Str(s);
        break;
      case K::kTensors:
        Count(a.tensors.size());
        for (const auto& t : a.tensors) PE_RETURN_IF_ERROR(WriteTensor(t));
        break;
      case K::kGraphs:
        Count(a.graphs.size());
        for (const auto& g : a.graphs) {
          if (!g) return InvalidModel("container: graphs attribute with a null graph");
          PE_RETURN_IF_ERROR(WriteGraph(*g));
        }
        break;
      case K::kTypeProto:
        WriteType(a.type_proto);
        break;
    }
    return Status::OK();
  }

  Status WriteGraph(const Graph& g) {
    Str(g.name);
    WriteValueInfos(g.inputs);
    WriteValueInfos(g.outputs);
    WriteValueInfos(g.value_infos);
    Count(g.initializers.size());
    for (const auto& [name, t] : g.initializers) {
      Str(name);
      PE_RETURN_IF_ERROR(WriteTensor(t));
    }
    Count(g.overridable_initializers.size());
    for (const auto& name : g.overridable_initializers) Str(name);
    Count(g.nodes.size());
    for (const Node& n : g.nodes) {
      Str(n.name);
      Str(n.op_type);
      Str(n.domain);
      Count(n.inputs.size());
      for (const auto& s : n.inputs) Str(s);
      Count(n.outputs.size());
      for (const auto& s : n.outputs) Str(s);
      Count(n.attributes.size());
      for (const auto& [key, a] : n.attributes) {
        Str(key);
        PE_RETURN_IF_ERROR(WriteAttribute(a));
      }
    }
    return Status::OK();
  }
};

static_assert(std::endian::native == std::endian::little, "the container format is little-endian");

// ---------------------------------------------------------------------------------------------
// Reading

class Reader {
 public:
  Reader(std::span<const uint8_t> graph, const uint8_t* weights, size_t weights_size,
         std::shared_ptr<void> owner, const ContainerParseLimits& limits)
      : data_(graph),
        weights_(weights),
        weights_size_(weights_size),
        owner_(std::move(owner)),
        limits_(limits) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }

  template <class T>
  Result<T> Get(const char* what) {
    if (remaining() < sizeof(T)) return Truncated(what);
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // A count of items that each take at least `min_item_bytes`: bounded by what is left.
  Result<size_t> Count(const char* what, size_t min_item_bytes = 1) {
    PE_ASSIGN_OR_RETURN(uint32_t n, Get<uint32_t>(what));
    if (static_cast<uint64_t>(n) * min_item_bytes > remaining())
      return Bad(what, " count ", n, " needs at least ", static_cast<uint64_t>(n) * min_item_bytes,
                 " bytes but only ", remaining(), " remain");
    return static_cast<size_t>(n);
  }
  Result<std::string> Str(const char* what) {
    PE_ASSIGN_OR_RETURN(uint32_t n, Get<uint32_t>(what));
    if (n > remaining())
      return Bad(what, " length ", n, " exceeds the ", remaining(), " bytes left");
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }

  template <class... Args>
  Status Bad(Args&&... args) const {
    return InvalidModel("container body: at graph byte ", pos_, ": ", std::forward<Args>(args)...);
  }
  Status Truncated(const char* what) const { return Bad(what, " runs past the graph section"); }

  Result<Tensor> ReadTensor() {
    PE_ASSIGN_OR_RETURN(int32_t dtype_raw, Get<int32_t>("tensor type"));
    if (!IsValidDType(dtype_raw)) return Bad("tensor type ", dtype_raw, " is not a known type");
    const DType dtype = static_cast<DType>(dtype_raw);
    PE_ASSIGN_OR_RETURN(size_t rank, Count("tensor rank", sizeof(int64_t)));
    if (rank > kMaxRank) return Bad("tensor rank ", rank, " exceeds ", kMaxRank);
    Shape shape(rank);
    for (auto& d : shape) {
      PE_ASSIGN_OR_RETURN(d, Get<int64_t>("tensor dimension"));
      if (d < 0) return Bad("negative tensor dimension ", d);
    }
    const int64_t numel = ShapeElementCount(shape);
    const size_t elem = dtype == DType::kString ? 1 : DTypeSize(dtype);
    if (numel < 0 || static_cast<uint64_t>(numel) > limits_.max_tensor_bytes / elem)
      return Bad("tensor of shape ", ShapeToString(shape), " exceeds the ",
                 limits_.max_tensor_bytes, "-byte tensor limit");
    if (dtype == DType::kString) {
      if (static_cast<uint64_t>(numel) * 4 > remaining())
        return Bad("string tensor of ", numel, " elements runs past the graph section");
      Tensor t(dtype, shape);
      for (int64_t i = 0; i < numel; ++i) {
        PE_ASSIGN_OR_RETURN(t.data<std::string>()[i], Str("string element"));
      }
      return t;
    }
    PE_ASSIGN_OR_RETURN(uint64_t offset, Get<uint64_t>("tensor offset"));
    PE_ASSIGN_OR_RETURN(uint64_t nbytes, Get<uint64_t>("tensor size"));
    const uint64_t expected = static_cast<uint64_t>(numel) * DTypeSize(dtype);
    if (nbytes != expected)
      return Bad("tensor of type ", DTypeName(dtype), " and shape ", ShapeToString(shape),
                 " needs ", expected, " bytes, record says ", nbytes);
    if (nbytes == 0) return Tensor(dtype, shape);
    if (offset % kAlign != 0) return Bad("tensor offset ", offset, " is not 64-byte aligned");
    if (offset > weights_size_ || nbytes > weights_size_ - offset)
      return Bad("tensor bytes [", offset, ", +", nbytes, ") exceed the ", weights_size_,
                 "-byte weights section");
    // Read-only mapping or a private SecureBuffer: kernels only read initializers.
    return Tensor::Borrow(dtype, std::move(shape), const_cast<uint8_t*>(weights_ + offset), owner_);
  }

  Result<TypeInfo> ReadType(int depth) {
    if (depth > limits_.max_graph_depth)
      return Bad("types nested deeper than ", limits_.max_graph_depth);
    TypeInfo t;
    PE_ASSIGN_OR_RETURN(uint8_t kind, Get<uint8_t>("type kind"));
    if (kind > static_cast<uint8_t>(TypeInfo::Kind::kOptional))
      return Bad("unknown type kind ", int{kind});
    t.kind = static_cast<TypeInfo::Kind>(kind);
    PE_ASSIGN_OR_RETURN(int32_t elem, Get<int32_t>("element type"));
    if (elem != 0 && !IsValidDType(elem)) return Bad("element type ", elem, " is not a known type");
    t.elem_type = static_cast<DType>(elem);
    PE_ASSIGN_OR_RETURN(uint8_t has_shape, Get<uint8_t>("type shape flag"));
    t.has_shape = has_shape != 0;
    PE_ASSIGN_OR_RETURN(size_t ndims, Count("type rank", sizeof(int64_t) + 4));
    if (ndims > kMaxRank) return Bad("type rank ", ndims, " exceeds ", kMaxRank);
    t.dims.resize(ndims);
    for (Dim& d : t.dims) {
      PE_ASSIGN_OR_RETURN(d.value, Get<int64_t>("dimension"));
      if (d.value < -1) return Bad("dimension ", d.value, " is negative");
      PE_ASSIGN_OR_RETURN(d.symbol, Str("dimension symbol"));
    }
    PE_ASSIGN_OR_RETURN(uint8_t has_inner, Get<uint8_t>("inner type flag"));
    if (has_inner) {
      PE_ASSIGN_OR_RETURN(TypeInfo inner, ReadType(depth + 1));
      t.inner = std::make_shared<TypeInfo>(std::move(inner));
    }
    return t;
  }

  Result<std::vector<ValueInfo>> ReadValueInfos(int depth) {
    PE_ASSIGN_OR_RETURN(size_t n, Count("value info", 4 + 11));
    std::vector<ValueInfo> out(n);
    for (auto& vi : out) {
      PE_ASSIGN_OR_RETURN(vi.name, Str("value name"));
      PE_ASSIGN_OR_RETURN(vi.type, ReadType(depth));
    }
    return out;
  }

  Result<Attribute> ReadAttribute(int depth) {
    using K = Attribute::Kind;
    Attribute a;
    PE_ASSIGN_OR_RETURN(uint8_t kind, Get<uint8_t>("attribute kind"));
    if (kind > static_cast<uint8_t>(K::kTypeProto))
      return Bad("unknown attribute kind ", int{kind});
    a.kind = static_cast<K>(kind);
    switch (a.kind) {
      case K::kUndefined:
        break;
      case K::kFloat: {
        PE_ASSIGN_OR_RETURN(a.f, Get<float>("float attribute"));
        break;
      }
      case K::kInt: {
        PE_ASSIGN_OR_RETURN(a.i, Get<int64_t>("int attribute"));
        break;
      }
      case K::kString: {
        PE_ASSIGN_OR_RETURN(a.s, Str("string attribute"));
        break;
      }
      case K::kTensor: {
        PE_ASSIGN_OR_RETURN(a.t, ReadTensor());
        break;
      }
      case K::kGraph: {
        PE_ASSIGN_OR_RETURN(Graph g, ReadGraph(depth + 1));
        a.g = std::make_shared<Graph>(std::move(g));
        break;
      }
      case K::kFloats: {
        PE_ASSIGN_OR_RETURN(size_t n, Count("floats", sizeof(float)));
        a.floats.resize(n);
        for (float& f : a.floats) {
          PE_ASSIGN_OR_RETURN(f, Get<float>("float"));
        }
        break;
      }
      case K::kInts: {
        PE_ASSIGN_OR_RETURN(size_t n, Count("ints", sizeof(int64_t)));
        a.ints.resize(n);
        for (int64_t& i : a.ints) {
          PE_ASSIGN_OR_RETURN(i, Get<int64_t>("int"));
        }
        break;
      }
      case K::kStrings: {
        PE_ASSIGN_OR_RETURN(size_t n, Count("strings", 4));
        a.strings.resize(n);
        for (auto& s : a.strings) {
          PE_ASSIGN_OR_RETURN(s, Str("string"));
        }
        break;
      }
      case K::kTensors: {
        PE_ASSIGN_OR_RETURN(size_t n, Count("tensors", 8));
        for (size_t i = 0; i < n; ++i) {
          PE_ASSIGN_OR_RETURN(Tensor t, ReadTensor());
          a.tensors.push_back(std::move(t));
        }
        break;
      }
      case K::kGraphs: {
        PE_ASSIGN_OR_RETURN(size_t n, Count("graphs", 4 * 7));
        for (size_t i = 0; i < n; ++i) {
          PE_ASSIGN_OR_RETURN(Graph g, ReadGraph(depth + 1));
          a.graphs.push_back(std::make_shared<Graph>(std::move(g)));
        }
        break;
      }
      case K::kTypeProto: {
        PE_ASSIGN_OR_RETURN(a.type_proto, ReadType(depth + 1));
        break;
      }
    }
    return a;
  }

  Result<std::vector<std::string>> ReadNames(const char* what) {
    PE_ASSIGN_OR_RETURN(size_t n, Count(what, 4));
    std::vector<std::string> names(n);
    for (auto& s : names) {
      PE_ASSIGN_OR_RETURN(s, Str(what));
    }
    return names;
  }

  Result<Graph> ReadGraph(int depth) {
    if (depth > limits_.max_graph_depth)
      return Bad("subgraphs nested deeper than ", limits_.max_graph_depth);
    Graph g;
    PE_ASSIGN_OR_RETURN(g.name, Str("graph name"));
    PE_ASSIGN_OR_RETURN(g.inputs, ReadValueInfos(depth));
    PE_ASSIGN_OR_RETURN(g.outputs, ReadValueInfos(depth));
    PE_ASSIGN_OR_RETURN(g.value_infos, ReadValueInfos(depth));
    PE_ASSIGN_OR_RETURN(size_t ninit, Count("initializers", 4 + 8));
    for (size_t i = 0; i < ninit; ++i) {
      PE_ASSIGN_OR_RETURN(std::string name, Str("initializer name"));
      PE_ASSIGN_OR_RETURN(Tensor t, ReadTensor());
      if (!g.initializers.emplace(name, std::move(t)).second)
        return Bad("initializer '", name, "' appears twice");
    }
    PE_ASSIGN_OR_RETURN(g.overridable_initializers, ReadNames("overridable initializer"));
    for (const auto& name : g.overridable_initializers)
      if (!g.initializers.count(name))
        return Bad("overridable initializer '", name, "' is not an initializer");
    PE_ASSIGN_OR_RETURN(size_t nnodes, Count("nodes", 4 * 6));
    g.nodes.resize(nnodes);
    for (Node& n : g.nodes) {
      PE_ASSIGN_OR_RETURN(n.name, Str("node name"));
      PE_ASSIGN_OR_RETURN(n.op_type, Str("node operator"));
      PE_ASSIGN_OR_RETURN(n.domain, Str("node domain"));
      PE_ASSIGN_OR_RETURN(n.inputs, ReadNames("node input"));
      PE_ASSIGN_OR_RETURN(n.outputs, ReadNames("node output"));
      PE_ASSIGN_OR_RETURN(size_t nattr, Count("attributes", 4 + 1));
      for (size_t i = 0; i < nattr; ++i) {
        PE_ASSIGN_OR_RETURN(std::string key, Str("attribute name"));
        PE_ASSIGN_OR_RETURN(Attribute a, ReadAttribute(depth));
        if (!n.attributes.emplace(key, std::move(a)).second)
          return Bad(n.Describe(), ": attribute '", key, "' appears twice");
      }
    }
    return g;
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  const uint8_t* weights_;
  size_t weights_size_;
  std::shared_ptr<void> owner_;
  const ContainerParseLimits& limits_;
};

// The names visible at a point of the graph walk: an enclosing graph's as well as the current
// one's. A subgraph's names are withdrawn when its check ends, so the walk is linear in the
// model's size (copying the visible set per subgraph was quadratic: a body of many graph
// inputs and many subgraphs took minutes).
class Scope {
 public:
  // Withdraws on destruction what was defined through it.
  class Frame {
   public:
    explicit Frame(Scope& scope) : scope_(scope) {}
    ~Frame() {
      for (std::string_view name : added_) {
        auto it = scope_.count_.find(name);
        if (--it->second == 0) scope_.count_.erase(it);
      }
    }
    Frame(const Frame&) = delete;
    Frame& operator=(const Frame&) = delete;
    void Define(std::string_view name) {
      ++scope_.count_[name];
      added_.push_back(name);
    }

   private:
    Scope& scope_;
    std::vector<std::string_view> added_;
  };
  bool Defined(std::string_view name) const { return count_.count(name) != 0; }

 private:
  std::unordered_map<std::string_view, int> count_;
};

// Every value a node, subgraph or graph output reads is defined before it: by the graph's
// inputs or initializers, an earlier node, or an enclosing graph (`scope`).
Status CheckReferences(const Graph& g, Scope& scope) {
  Scope::Frame frame(scope);
  for (const auto& in : g.inputs) frame.Define(in.name);
  for (const auto& [name, t] : g.initializers) frame.Define(name);
  for (const Node& n : g.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty() && !scope.Defined(in))
        return InvalidModel("container body: ", n.Describe(), " reads '", in,
                            "', which no graph input, initializer or earlier node defines");
    for (const auto& [key, a] : n.attributes) {
      if (a.g) PE_RETURN_IF_ERROR(CheckReferences(*a.g, scope));
      for (const auto& sg : a.graphs) PE_RETURN_IF_ERROR(CheckReferences(*sg, scope));
    }
    for (const auto& out : n.outputs)
      if (!out.empty()) frame.Define(out);
  }
  for (const auto& out : g.outputs)
    if (!scope.Defined(out.name))
      return InvalidModel("container body: graph '", g.name, "' output '", out.name,
                          "' is never computed");
  return Status::OK();
}

}  // namespace

Result<SecureBuffer> SerializeModel(const Model& model) {
  Writer w;
  w.Put<int64_t>(model.ir_version);
  w.Str(model.producer_name);
  w.Str(model.producer_version);
  w.Count(model.opsets.size());
  for (const auto& o : model.opsets) {
    w.Str(o.domain);
    w.Put<int64_t>(o.version);
  }
  PE_RETURN_IF_ERROR(w.WriteGraph(model.graph));
  const size_t weights_start = AlignUp(sizeof(uint64_t) + w.out.size());
  PE_ASSIGN_OR_RETURN(SecureBuffer body, SecureBuffer::Allocate(weights_start + w.weights_size));
  const uint64_t graph_size = w.out.size();
  std::memcpy(body.data(), &graph_size, sizeof graph_size);
  std::memcpy(body.data() + sizeof graph_size, w.out.data(), w.out.size());
  for (const auto& [t, offset] : w.weights)
    std::memcpy(body.data() + weights_start + offset, t->raw_data(), t->nbytes());
  return body;
}

Result<Model> ParseModel(std::span<const uint8_t> body, std::shared_ptr<void> owner,
                         const ContainerParseLimits& limits) {
  if (reinterpret_cast<uintptr_t>(body.data()) % kAlign != 0)
    return InvalidModel("container body: not 64-byte aligned in memory");
  uint64_t graph_size = 0;
  if (body.size() < sizeof graph_size)
    return InvalidModel("container body: ", body.size(), " bytes is too short");
  std::memcpy(&graph_size, body.data(), sizeof graph_size);
  if (graph_size > body.size() - sizeof graph_size)
    return InvalidModel("container body: graph section of ", graph_size,
                        " bytes exceeds the body (", body.size(), " bytes)");
  const size_t weights_start = std::min(AlignUp(sizeof graph_size + graph_size), body.size());
  Reader r(body.subspan(sizeof graph_size, graph_size), body.data() + weights_start,
           body.size() - weights_start, std::move(owner), limits);
  Model m;
  PE_ASSIGN_OR_RETURN(m.ir_version, r.Get<int64_t>("IR version"));
  PE_ASSIGN_OR_RETURN(m.producer_name, r.Str("producer name"));
  PE_ASSIGN_OR_RETURN(m.producer_version, r.Str("producer version"));
  PE_ASSIGN_OR_RETURN(size_t nopsets, r.Count("opsets", 4 + 8));
  m.opsets.resize(nopsets);
  for (auto& o : m.opsets) {
    PE_ASSIGN_OR_RETURN(o.domain, r.Str("opset domain"));
    PE_ASSIGN_OR_RETURN(o.version, r.Get<int64_t>("opset version"));
  }
  PE_ASSIGN_OR_RETURN(m.graph, r.ReadGraph(0));
  if (r.remaining() != 0) return r.Bad(r.remaining(), " unexpected bytes after the main graph");
  Scope scope;
  PE_RETURN_IF_ERROR(CheckReferences(m.graph, scope));
  return m;
}

}  // namespace privedge
