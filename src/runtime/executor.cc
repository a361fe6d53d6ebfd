#include "runtime/executor.h"

#include "model/schema_check.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <set>

namespace privedge {

struct GraphExecutor::Scope {
  std::unordered_map<std::string, Value> values;
  const GraphPlan* plan = nullptr;
  const Scope* parent = nullptr;

  const Value* Lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->values.find(name);
      if (it != s->values.end()) return &it->second;
      auto init = s->plan->initializers.find(name);
      if (init != s->plan->initializers.end()) return &init->second;
    }
    return nullptr;
  }
};

namespace {

// Names a graph takes from enclosing scopes (used to keep those values alive long enough).
void FreeNames(const Graph& g, std::set<std::string>& out) {
  std::set<std::string> defined;
  for (const auto& in : g.inputs) defined.insert(in.name);
  for (const auto& [name, t] : g.initializers) defined.insert(name);
  for (const auto& n : g.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty() && !defined.count(in)) out.insert(in);
    for (const auto& [k, a] : n.attributes) {
      std::set<std::string> inner;
      if (a.g) FreeNames(*a.g, inner);
      for (const auto& sg : a.graphs) FreeNames(*sg, inner);
      for (const auto& name : inner)
        if (!defined.count(name)) out.insert(name);
    }
    for (const auto& o : n.outputs) defined.insert(o);
  }
  for (const auto& o : g.outputs)
    if (!defined.count(o.name)) out.insert(o.name);
}

}  // namespace

Result<std::unique_ptr<GraphExecutor>> GraphExecutor::Create(const Model& model,
                                                             const KernelRegistry& registry,
                                                             const ExecutorOptions& options) {
  std::unique_ptr<GraphExecutor> exec(new GraphExecutor(model, options));
  PE_RETURN_IF_ERROR(exec->PlanGraph(model.graph, registry));
  return exec;
}

Status GraphExecutor::PlanGraph(const Graph& graph, const KernelRegistry& registry) {
  GraphPlan plan;
  for (const auto& [name, t] : graph.initializers) plan.initializers[name] = Value::FromTensor(t);
  std::unordered_map<std::string, size_t> last_use;
  std::set<std::string> keep;
  for (const auto& o : graph.outputs) keep.insert(o.name);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    KernelFn fn = registry.Find(node.op_type, node.domain);
    const int64_t opset = model_.OpsetVersion(node.domain);
    if (!fn)
      return NotImplemented(node.Describe(), ": operator '",
                            node.domain.empty() ? "" : node.domain + ".", node.op_type,
                            "' (opset ", opset, ") is not supported by privedge");
    if (node.domain.empty() && options_.check_schemas)
      PE_RETURN_IF_ERROR(CheckNodeSchema(node, opset));
    plan.kernels.push_back(fn);
    plan.opsets.push_back(opset);
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const PreparedKernel> prepared,
                        PrepareFastKernel(graph, node, opset, registry));
    plan.prepared.push_back(std::move(prepared));
    std::set<std::string> used(node.inputs.begin(), node.inputs.end());
    for (const auto& [key, a] : node.attributes) {
      if (a.g) {
        PE_RETURN_IF_ERROR(PlanGraph(*a.g, registry));
        FreeNames(*a.g, used);
      }
      for (const auto& sg : a.graphs) {
        PE_RETURN_IF_ERROR(PlanGraph(*sg, registry));
        FreeNames(*sg, used);
      }
    }
    for (const auto& name : used)
      if (!name.empty()) last_use[name] = i;
    for (const auto& o : node.outputs)
      if (!o.empty() && !last_use.count(o)) last_use[o] = i;  // unused outputs die at once
  }
  plan.release_after.resize(graph.nodes.size());
  for (const auto& [name, i] : last_use)
    if (!keep.count(name) && !plan.initializers.count(name)) plan.release_after[i].push_back(name);
  plans_[&graph] = std::move(plan);
  return Status::OK();
}

Result<std::shared_ptr<const PreparedKernel>> GraphExecutor::PrepareFastKernel(
    const Graph& graph, const Node& node, int64_t opset, const KernelRegistry& registry) const {
  if (!options_.fast_kernels) return std::shared_ptr<const PreparedKernel>();
  const std::vector<KernelFactory> factories = registry.FindFast(node.op_type, node.domain);
  if (factories.empty()) return std::shared_ptr<const PreparedKernel>();
  const bool main_graph = &graph == &model_.graph;
  PrepareContext ctx{node, opset, {}, std::max(1, options_.threads), options_.sensitive_weights};
  for (const std::string& name : node.inputs) {
    auto it = graph.initializers.find(name);
    bool overridable = main_graph && std::find(graph.overridable_initializers.begin(),
                                               graph.overridable_initializers.end(),
                                               name) != graph.overridable_initializers.end();
    ctx.constant_inputs.push_back(it == graph.initializers.end() || overridable ? nullptr
                                                                                : &it->second);
  }
  for (KernelFactory factory : factories) {
    auto made = factory(ctx);
    if (!made.ok()) return made.status().WithContext(node.Describe());
    if (*made) return std::shared_ptr<const PreparedKernel>(std::move(made).value());
  }
  return std::shared_ptr<const PreparedKernel>();
}

std::vector<std::string> GraphExecutor::KernelNames() const {
  std::vector<std::string> names;
  for (const auto& p : plans_.at(&model_.graph).prepared)
    names.push_back(p ? p->name() : "reference");
  return names;
}

void GraphExecutor::SetProfiling(bool on) {
  profile_.reset(on ? new Counters[model_.graph.nodes.size()] : nullptr);
}

std::vector<GraphExecutor::NodeProfile> GraphExecutor::Profile() const {
  std::vector<NodeProfile> out;
  if (!profile_) return out;
  const std::vector<std::string> kernels = KernelNames();
  for (size_t i = 0; i < model_.graph.nodes.size(); ++i) {
    const Node& n = model_.graph.nodes[i];
    NodeProfile p;
    p.node = !n.name.empty() ? n.name : n.outputs.empty() ? "" : n.outputs[0];
    p.op_type = n.domain.empty() ? n.op_type : n.domain + "." + n.op_type;
    p.kernel = kernels[i];
    std::vector<double> ms;
    {
      std::lock_guard<std::mutex> lock(profile_[i].mu);
      ms = profile_[i].ms;
    }
    p.calls = static_cast<int64_t>(ms.size());
    for (double v : ms) p.total_ms += v;
    if (!ms.empty()) {
      std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
      p.median_ms = ms[ms.size() / 2];
    }
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<Value>> GraphExecutor::Run(
    const std::vector<std::pair<std::string, Value>>& inputs) const {
  std::vector<Value> values;
  std::vector<std::string> names;
  for (const auto& [name, v] : inputs) {
    names.push_back(name);
    values.push_back(v);
  }
  return RunGraph(model_.graph, std::move(values), names, nullptr);
}

Result<std::vector<Value>> GraphExecutor::RunGraph(const Graph& graph, std::vector<Value> inputs,
                                                   const std::vector<std::string>& input_names,
                                                   const Scope* parent) const {
  Scope scope;
  scope.plan = &plans_.at(&graph);
  scope.parent = parent;
  for (size_t i = 0; i < inputs.size(); ++i) scope.values[input_names[i]] = std::move(inputs[i]);

  SubgraphRunner runner = [this, &scope](const Graph& sub, std::vector<Value> sub_inputs)
      -> Result<std::vector<Value>> {
    if (sub_inputs.size() > sub.inputs.size())
      return InvalidArgument("subgraph '", sub.name, "' takes ", sub.inputs.size(),
                             " inputs but got ", sub_inputs.size());
    std::vector<std::string> names;
    for (size_t i = 0; i < sub_inputs.size(); ++i) names.push_back(sub.inputs[i].name);
    return RunGraph(sub, std::move(sub_inputs), names, &scope);
  };

  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    std::vector<const Value*> args;
    args.reserve(node.inputs.size());
    for (const auto& name : node.inputs) {
      if (name.empty()) {
        args.push_back(nullptr);
        continue;
      }
      const Value* v = scope.Lookup(name);
      if (!v) return InvalidArgument(node.Describe(), ": input '", name, "' has no value");
      args.push_back(v);
    }
    KernelContext ctx(node, scope.plan->opsets[i], std::move(args), runner);
    ctx.set_limits(limits_);
    Status status;
    Counters* counters = profile_ && &graph == &model_.graph ? &profile_[i] : nullptr;
    const auto start = counters ? std::chrono::steady_clock::now()
                                : std::chrono::steady_clock::time_point();
    try {
      const PreparedKernel* fast = scope.plan->prepared[i].get();
      status = fast ? fast->Run(ctx) : scope.plan->kernels[i](ctx);
    } catch (const std::bad_alloc&) {
      status = OutOfRange(node.Describe(), ": out of memory");
    } catch (const std::exception& e) {
      status = Internal(node.Describe(), ": ", e.what());
    }
    if (counters) {
      const double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count();
      std::lock_guard<std::mutex> lock(counters->mu);
      counters->ms.push_back(ms);
    }
    if (!status.ok()) {
      if (status.message().rfind("node ", 0) != 0) return status.WithContext(node.Describe());
      return status;
    }
    std::vector<Value>& outs = ctx.outputs();
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      // Outputs that share their input's storage (Reshape, Expand of an empty tensor...) never
      // pass through CreateTensor, so bound their extents here before later kernels loop.
      if (outs[k].is_tensor()) {
        PE_RETURN_IF_ERROR(CheckShapeExtents(outs[k].tensor.shape(), limits_.max_tensor_bytes,
                                             node.Describe() + ": output '" + node.outputs[k] +
                                                 "'"));
      }
      scope.values[node.outputs[k]] = std::move(outs[k]);
    }
    for (const auto& dead : scope.plan->release_after[i]) scope.values.erase(dead);
  }

  std::vector<Value> results;
  for (const auto& out : graph.outputs) {
    const Value* v = scope.Lookup(out.name);
    if (!v) return InvalidArgument("graph output '", out.name, "' was not computed");
    results.push_back(*v);
  }
  return results;
}

}  // namespace privedge
