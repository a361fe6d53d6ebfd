#include "model/onnx_import.h"

#include <google/protobuf/io/coded_stream.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "model/onnx_convert.h"
#include "model/shape_inference.h"
#include "onnx/shape_inference/implementation.h"

namespace privedge {
namespace {

constexpr int64_t kMinIrVersion = 3;
constexpr int64_t kMaxIrVersion = 8;
constexpr int64_t kMaxDefaultOpset = 17;

// Names a graph uses but does not define itself (values it takes from enclosing scopes).
void CollectFreeNames(const Graph& g, std::set<std::string>& free) {
  std::set<std::string> defined;
  for (const auto& in : g.inputs) defined.insert(in.name);
  for (const auto& [name, t] : g.initializers) defined.insert(name);
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs) defined.insert(o);
  auto use = [&](const std::string& name) {
    if (!name.empty() && !defined.count(name)) free.insert(name);
  };
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs) use(in);
    for (const auto& [key, a] : n.attributes) {
      std::set<std::string> inner;
      if (a.g) CollectFreeNames(*a.g, inner);
      for (const auto& sg : a.graphs) CollectFreeNames(*sg, inner);
      for (const auto& name : inner) use(name);
    }
  }
  for (const auto& out : g.outputs) use(out.name);
}

Status CheckOpsets(const onnx::ModelProto& m) {
  bool has_default = false;
  for (const auto& o : m.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      has_default = true;
      if (o.version() < 1 || o.version() > kMaxDefaultOpset)
        return NotImplemented("model imports default-domain opset ", o.version(),
                              "; privedge supports opsets 1 to ", kMaxDefaultOpset);
    }
  }
  if (!has_default && m.opset_import_size() == 0)
    return InvalidModel("model declares no opset_import");
  return Status::OK();
}

Result<Model> ImportProto(onnx::ModelProto& proto, const std::string& base_dir,
                          const ImportOptions& options) {
  if (!proto.has_graph()) return InvalidModel("model has no graph");
  if (proto.ir_version() < kMinIrVersion || proto.ir_version() > kMaxIrVersion)
    return NotImplemented("model IR version ", proto.ir_version(), " is not supported (expected ",
                          kMinIrVersion, " to ", kMaxIrVersion, ")");
  PE_RETURN_IF_ERROR(CheckOpsets(proto));
  if (proto.functions_size() > 0)
    return NotImplemented("model-local functions are not supported (", proto.functions_size(),
                          " declared)");
  if (options.infer_shapes) {
    // ONNX's own inference annotates intermediate values; failures only lose annotations.
    try {
      onnx::shape_inference::InferShapes(proto);
    } catch (...) {
    }
  }
  Model model;
  model.ir_version = proto.ir_version();
  model.producer_name = proto.producer_name();
  model.producer_version = proto.producer_version();
  for (const auto& o : proto.opset_import())
    model.opsets.push_back({o.domain() == "ai.onnx" ? std::string() : o.domain(), o.version()});
  TensorLoadContext ctx{base_dir, options.max_tensor_bytes};
  PE_ASSIGN_OR_RETURN(model.graph, GraphFromProto(proto.graph(), ctx, 0));
  PE_RETURN_IF_ERROR(SortAndCheckGraph(model.graph, {}));
  // privedge's own inference (safe on hostile attributes) always annotates the graph; it is
  // advisory, so an internal failure only loses annotations.
  (void)InferGraphTypes(model.graph, model.OpsetVersion(""));
  return model;
}

Result<onnx::ModelProto> ParseModel(const void* data, size_t size) {
  if (size == 0) return InvalidModel("model is empty (0 bytes)");
  if (size > static_cast<size_t>(INT32_MAX))
    return InvalidModel("model protobuf is ", size,
                        " bytes; ONNX protobufs are limited to 2 GB (use external data)");
  onnx::ModelProto proto;
  google::protobuf::io::CodedInputStream stream(static_cast<const uint8_t*>(data),
                                                static_cast<int>(size));
  stream.SetTotalBytesLimit(INT32_MAX);
  stream.SetRecursionLimit(200);
  if (!proto.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    return InvalidModel("not a valid ONNX model: protobuf parsing failed (", size,
                        " bytes; truncated, corrupt, nested deeper than 200 levels, or not ONNX)");
  return proto;
}

}  // namespace

Status SortAndCheckGraph(Graph& graph, const std::vector<std::string>& outer_names) {
  std::set<std::string> available(outer_names.begin(), outer_names.end());
  for (const auto& in : graph.inputs) available.insert(in.name);
  for (const auto& [name, t] : graph.initializers) available.insert(name);

  std::set<std::string> graph_defined;
  for (const auto& in : graph.inputs) graph_defined.insert(in.name);
  for (const auto& [name, t] : graph.initializers) graph_defined.insert(name);
  const size_t n = graph.nodes.size();
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < n; ++i) {
    for (const auto& o : graph.nodes[i].outputs) {
      if (o.empty()) continue;
      // SSA: a value is defined once, so a node may not redefine a graph input or initializer.
      if (graph_defined.count(o))
        return InvalidModel(graph.nodes[i].Describe(), ": output '", o,
                            "' redefines a graph input or initializer");
      if (producer.count(o))
        return InvalidModel(graph.nodes[i].Describe(), ": output '", o,
                            "' is already produced by ", graph.nodes[producer[o]].Describe());
      producer[o] = i;
    }
  }
  // Every name a node depends on: its inputs and the free names of its subgraphs.
  std::vector<std::set<size_t>> deps(n);
  std::vector<std::vector<size_t>> users(n);
  for (size_t i = 0; i < n; ++i) {
    const Node& node = graph.nodes[i];
    std::set<std::string> needed(node.inputs.begin(), node.inputs.end());
    for (const auto& [key, a] : node.attributes) {
      if (a.g) CollectFreeNames(*a.g, needed);
      for (const auto& sg : a.graphs) CollectFreeNames(*sg, needed);
    }
    for (const auto& name : needed) {
      if (name.empty()) continue;
      auto it = producer.find(name);
      if (it != producer.end()) {
        if (it->second == i)
          return InvalidModel(node.Describe(), ": consumes its own output '", name, "' (cycle)");
        if (deps[i].insert(it->second).second) users[it->second].push_back(i);
      } else if (!available.count(name)) {
        return InvalidModel(node.Describe(), ": input '", name,
                            "' is not defined (not a graph input, initializer, or node output)");
      }
    }
  }
  // Kahn's algorithm, stable with respect to the file's order.
  std::vector<size_t> pending(n);
  std::set<size_t> ready;
  for (size_t i = 0; i < n; ++i) {
    pending[i] = deps[i].size();
    if (pending[i] == 0) ready.insert(i);
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  std::vector<bool> done(n, false);
  while (!ready.empty()) {
    size_t i = *ready.begin();
    ready.erase(ready.begin());
    done[i] = true;
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.insert(u);
    sorted.push_back(std::move(graph.nodes[i]));
  }
  if (sorted.size() != n) {
    for (size_t i = 0; i < n; ++i)
      if (!done[i]) return InvalidModel("graph has a cycle through ", graph.nodes[i].Describe());
  }
  graph.nodes = std::move(sorted);
  for (const auto& out : graph.outputs) {
    if (!producer.count(out.name) && !available.count(out.name))
      return InvalidModel("graph output '", out.name, "' is not produced by any node");
  }
  // Subgraphs see everything this graph defines. An error already naming a (nested) node is
  // passed up as is, so deep nesting still gives a one-line message.
  auto in_context = [](const Status& s, const std::string& context) {
    return s.message().rfind("node ", 0) == 0 ? s : s.WithContext(context);
  };
  std::vector<std::string> visible(available.begin(), available.end());
  for (const auto& [name, idx] : producer) visible.push_back(name);
  for (Node& node : graph.nodes) {
    for (auto& [key, a] : node.attributes) {
      if (a.g) {
        Status s = SortAndCheckGraph(*a.g, visible);
        if (!s.ok()) return in_context(s, node.Describe() + " attribute '" + key + "'");
      }
      for (auto& sg : a.graphs) {
        Status s = SortAndCheckGraph(*sg, visible);
        if (!s.ok()) return in_context(s, node.Describe() + " attribute '" + key + "'");
      }
    }
  }
  return Status::OK();
}

Result<Model> ImportOnnxBuffer(const void* data, size_t size, const std::string& base_dir,
                               const ImportOptions& options) {
  PE_ASSIGN_OR_RETURN(onnx::ModelProto proto, ParseModel(data, size));
  return ImportProto(proto, base_dir, options);
}

Result<Model> ImportOnnxFile(const std::string& path, const ImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open model file '", path, "'");
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return IoError("failed reading model file '", path, "'");
  const std::string bytes = buf.str();
  std::string dir = ".";
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  auto model = ImportOnnxBuffer(bytes.data(), bytes.size(), dir, options);
  if (!model.ok()) return model.status().WithContext(path);
  return model;
}

}  // namespace privedge
