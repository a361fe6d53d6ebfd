// privedge inspect: what a model file holds.
#include <iostream>
#include <map>

#include "cli/cli.h"
#include "model/onnx_import.h"
#include "runtime/session_impl.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp = R"(usage: privedge inspect MODEL

Prints the model's IR version and opset imports, its inputs and outputs with types and shapes
(symbolic dimensions by name), a histogram of its operators, and its parameter count and bytes.
)";

void CountOps(const Graph& g, std::map<std::string, int>& ops) {
  for (const Node& n : g.nodes) {
    ops[n.domain.empty() ? n.op_type : n.domain + "." + n.op_type]++;
    for (const auto& [k, a] : n.attributes) {
      if (a.g) CountOps(*a.g, ops);
      for (const auto& sg : a.graphs) CountOps(*sg, ops);
    }
  }
}

}  // namespace

int InspectCommand(int argc, char** argv) {
  const std::string cmd = "inspect";
  Args args;
  if (!ParseArgs(argc, argv, {}, {"help"}, cmd, args)) return 1;
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.size() != 1) return Fail(cmd, "expected exactly one MODEL path (see --help)");
  auto model = ImportOnnxFile(args.positional[0]);
  if (!model.ok()) return Fail(cmd, model.status().message());
  const Model& m = *model;
  std::cout << "model:    " << args.positional[0] << "\n";
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
  return 0;
}

}  // namespace privedge::cli
