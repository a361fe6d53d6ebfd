// privedge inspect: what a model file holds.
#include <iostream>
#include <map>

#include "cli/cli.h"
#include "model/onnx_import.h"
#include "model/shape_inference.h"
#include "runtime/optimize_model.h"
#include "runtime/session_impl.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp = R"(usage: privedge inspect MODEL [--shapes] [--optimized]

Prints the model's IR version and opset imports, its inputs and outputs with types and shapes
(symbolic dimensions by name), a histogram of its operators, and its parameter count and bytes.

  --shapes   also print every value the nodes of the main graph produce, in execution order,
             with the producing operator and its statically inferred type: symbolic dimensions
             (batch, seq) keep their names, '?' is an extent known only at run time, and
             'unknown' a value inference could not follow (subgraph results, unknown ops)
  --optimized  describe the graph after the optimizer passes a session runs (histogram and
             counts are of the optimized graph), and print what each pass did
)";

// What each optimizer pass did, in the order the passes ran.
void PrintOptimizeStats(const OptimizeStats& stats) {
  std::vector<std::vector<std::string>> rows;
  for (const PassCount& p : stats.passes) rows.push_back({p.pass, std::to_string(p.count)});
  std::cout << "\noptimized: " << stats.nodes_before << " -> " << stats.nodes_after
            << " nodes in " << stats.rounds << " round(s)\n";
  PrintTable({"pass", "rewrites"}, rows);
}

void CountOps(const Graph& g, std::map<std::string, int>& ops) {
  for (const Node& n : g.nodes) {
    ops[n.domain.empty() ? n.op_type : n.domain + "." + n.op_type]++;
    for (const auto& [k, a] : n.attributes) {
      if (a.g) CountOps(*a.g, ops);
      for (const auto& sg : a.graphs) CountOps(*sg, ops);
    }
  }
}

// Every node output of the main graph with its producer and inferred type. Import already
// annotated graph.value_infos; inferring again on a copy also gives the graph outputs' types.
void PrintInferredShapes(const Model& m) {
  Graph graph = m.graph;  // tensors are shared handles: the copy is cheap
  std::map<std::string, TypeInfo> types;
  (void)InferGraphTypes(graph, m.OpsetVersion(""), &types);
  std::vector<std::vector<std::string>> rows;
  for (const Node& n : graph.nodes) {
    const std::string op = n.domain.empty() ? n.op_type : n.domain + "." + n.op_type;
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      auto it = types.find(out);
      rows.push_back({out, op, it == types.end() ? "unknown" : it->second.ToString()});
    }
  }
  std::cout << "\n";
  PrintTable({"value", "op", "inferred type"}, rows);
}

// The model's versions, inputs/outputs, operator histogram and parameter count.
void PrintModel(const std::string& path, const Model& m) {
  std::cout << "model:    " << path << "\n";
  std::cout << "IR:       " << m.ir_version << "\n";
  std::cout << "producer: " << (m.producer_name.empty() ? "-" : m.producer_name + " " + m.producer_version) << "\n";
  std::cout << "opsets:  ";
  for (const auto& o : m.opsets) std::cout << " " << (o.domain.empty() ? "ai.onnx" : o.domain) << "=" << o.version;
  std::cout << "\n\n";

  std::vector<std::vector<std::string>> rows;
  for (const auto& in : m.graph.inputs) rows.push_back({"input", in.name, TensorInfoFromValueInfo(in).ToString()});
  for (const auto& out : m.graph.outputs) rows.push_back({"output", out.name, TensorInfoFromValueInfo(out).ToString()});
  PrintTable({"", "name", "type"}, rows);

  std::map<std::string, int> ops;
  CountOps(m.graph, ops);
  std::vector<std::pair<std::string, int>> sorted(ops.begin(), ops.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.second > b.second; });
  rows.clear();
  size_t nodes = 0;
  for (const auto& [op, n] : sorted) {
    rows.push_back({op, std::to_string(n)});
    nodes += static_cast<size_t>(n);
  }
  std::cout << "\n";
  PrintTable({"operator", "count"}, rows);

  int64_t params = 0;
  size_t bytes = 0;
  for (const auto& [name, t] : m.graph.initializers) {
    params += t.numel();
    bytes += t.nbytes();
  }
  std::cout << "\nnodes: " << nodes << ", initializers: " << m.graph.initializers.size()
            << ", parameters: " << params << " (" << bytes << " bytes)\n";
}

// A container: its header, then the model it holds (already optimized).
int InspectContainer(const Args& args, const std::string& path) {
  const std::string cmd = "inspect";
  auto header = ReadContainerHeader(path);
  if (!header.ok()) return Fail(cmd, header.status().message());
  SessionOptions options;
  options.threads = 1;
  if (Status s = ApplyModelOptions(args, path, options); !s.ok()) return Fail(cmd, s.message());
  auto session = Session::Load(path, options);
  if (!session.ok()) return Fail(cmd, session.status().message());
  for (const auto& [k, v] : DescribeContainer(*header))
    std::cout << k << ":" << std::string(k.size() < 10 ? 10 - k.size() : 1, ' ') << v << "\n";
  std::cout << "\n";
  const Model& m = (*session)->impl().model;
  PrintModel(path, m);
  if (args.has("optimized")) std::cout << "\n(the graph in a container is already optimized)\n";
  if (args.has("shapes")) PrintInferredShapes(m);
  return 0;
}

}  // namespace

int InspectCommand(int argc, char** argv) {
  const std::string cmd = "inspect";
  Args args;
  if (!ParseArgs(argc, argv, kModelValueOptions,
                 WithModelOptions({"help", "shapes", "optimized"}, true), cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.size() != 1) return Fail(cmd, "expected exactly one MODEL path (see --help)");
  const std::string& path = args.positional[0];
  if (IsContainerFile(path)) return InspectContainer(args, path);
  auto model = ImportOnnxFile(path);
  if (!model.ok()) return Fail(cmd, model.status().message());
  OptimizeStats optimize_stats;
  if (args.has("optimized")) {
    auto stats = OptimizeForSession(*model, SessionOptions{});
    if (!stats.ok()) return Fail(cmd, "optimizer: " + stats.status().message());
    optimize_stats = *stats;
  }
  PrintModel(path, *model);
  if (args.has("optimized")) PrintOptimizeStats(optimize_stats);
  if (args.has("shapes")) PrintInferredShapes(*model);
  return 0;
}

}  // namespace privedge::cli
