// Reference If, Loop and Scan. The bodies run through ctx.RunSubgraph; these kernels only move
// values in and out of them. The sequence and optional operators live in
// control_flow_sequence.cc.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/kernel_util.h"
#include "kernels/reference/control_flow_internal.h"
#include "kernels/reference/families.h"

namespace privedge {
namespace {

Result<const Graph*> RequireGraph(const KernelContext& ctx, const char* name) {
  const Graph* g = ctx.attr_graph(name);
  if (!g) return ctx.Error("graph attribute '", name, "' is missing");
  return g;
}

// Runs `body` and checks it returned one value per declared output.
Result<std::vector<Value>> RunBody(const KernelContext& ctx, const Graph& body,
                                   std::vector<Value> inputs) {
  if (inputs.size() != body.inputs.size())
    return ctx.Error("body '", body.name, "' declares ", body.inputs.size(), " inputs, ",
                     inputs.size(), " are supplied");
  PE_ASSIGN_OR_RETURN(std::vector<Value> outs, ctx.RunSubgraph(body, std::move(inputs)));
  if (outs.size() != body.outputs.size())
    return ctx.Error("body '", body.name, "' returned ", outs.size(), " values, expected ",
                     body.outputs.size());
  return outs;
}

// Stacks the per-iteration values of body output `body_output` along a new `axis`.
Result<Tensor> StackScanOutput(const KernelContext& ctx, const Graph& body, size_t body_output,
                               const std::vector<Tensor>& steps, int64_t axis) {
  if (steps.empty()) return EmptyStack(ctx, body.outputs[body_output], axis);
  return StackAlongAxis(ctx, steps, axis);
}

Status If(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* cond_t, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(bool cond, ReadScalarBool(ctx, Value::FromTensor(*cond_t), "cond"));
  PE_ASSIGN_OR_RETURN(const Graph* branch,
                      RequireGraph(ctx, cond ? "then_branch" : "else_branch"));
  PE_ASSIGN_OR_RETURN(std::vector<Value> outs, RunBody(ctx, *branch, {}));
  if (static_cast<int>(outs.size()) != ctx.num_outputs())
    return ctx.Error("branch '", branch->name, "' has ", outs.size(), " outputs, the node has ",
                     ctx.num_outputs());
  for (int i = 0; i < ctx.num_outputs(); ++i) ctx.set_output_value(i, std::move(outs[i]));
  return Status::OK();
}

// Body inputs: (iteration_num, cond, carried...); body outputs: (cond, carried..., scans...).
Status Loop(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Graph* body, RequireGraph(ctx, "body"));
  const bool has_max = ctx.has_input(0);
  int64_t max_trips = 0;
  if (has_max) {
    PE_ASSIGN_OR_RETURN(max_trips, ReadScalarInt(ctx, 0, "M (trip count)"));
  }
  bool cond = true;
  if (ctx.has_input(1)) {
    PE_ASSIGN_OR_RETURN(cond, ReadScalarBool(ctx, *ctx.input_value(1), "cond"));
  }

  const size_t num_carried = static_cast<size_t>(std::max(ctx.num_inputs() - 2, 0));
  if (body->inputs.size() != num_carried + 2)
    return ctx.Error("body has ", body->inputs.size(), " inputs, expected ", num_carried + 2,
                     " (iteration_num, cond and ", num_carried, " loop-carried values)");
  if (body->outputs.size() < num_carried + 1)
    return ctx.Error("body has ", body->outputs.size(), " outputs, expected at least ",
                     num_carried + 1);
  const size_t num_scans = body->outputs.size() - 1 - num_carried;
  if (static_cast<size_t>(ctx.num_outputs()) > num_carried + num_scans)
    return ctx.Error("node has ", ctx.num_outputs(), " outputs, the body produces only ",
                     num_carried + num_scans);

  std::vector<Value> carried(num_carried);
  for (size_t i = 0; i < num_carried; ++i) {
    const Value* v = ctx.input_value(static_cast<int>(i + 2));
    if (v) carried[i] = *v;  // an omitted input is an empty optional
  }
  std::vector<std::vector<Tensor>> scans(num_scans);
  std::vector<size_t> scan_bytes(num_scans, 0);
  const KernelLimits& limits = ctx.limits();
  for (int64_t iter = 0; (!has_max || iter < max_trips) && cond; ++iter) {
    // Without this a body whose cond never turns false (or a gigantic M) would hang the caller.
    if (iter >= limits.max_loop_iterations)
      return ctx.Error("stopped after ", limits.max_loop_iterations,
                       " iterations (SessionOptions::max_loop_iterations); trip count ",
                       has_max ? std::to_string(max_trips) : std::string("none"),
                       ", cond still true");
    std::vector<Value> inputs;
    inputs.reserve(num_carried + 2);
    inputs.push_back(Value::FromTensor(Tensor::Scalar<int64_t>(iter)));
    inputs.push_back(Value::FromTensor(Tensor::Scalar<bool>(cond)));
    for (Value& v : carried) inputs.push_back(std::move(v));
    PE_ASSIGN_OR_RETURN(std::vector<Value> outs, RunBody(ctx, *body, std::move(inputs)));
    PE_ASSIGN_OR_RETURN(cond, ReadScalarBool(ctx, outs[0], "body output cond"));
    for (size_t i = 0; i < num_carried; ++i) carried[i] = std::move(outs[1 + i]);
    for (size_t k = 0; k < num_scans; ++k) {
      Value& v = outs[1 + num_carried + k];
      if (!v.is_tensor()) return ctx.Error("scan output ", k, " of the body must be a tensor");
      // The steps become one stacked tensor, so they are held to the single-tensor limit as
      // they accumulate (plus a per-step overhead, so empty steps are not free).
      scan_bytes[k] += v.tensor.nbytes() + sizeof(Tensor) + 64;
      if (scan_bytes[k] > limits.max_tensor_bytes)
        return ctx.Error("scan output ", k, " would exceed the ", limits.max_tensor_bytes,
                         "-byte tensor limit (SessionOptions::max_tensor_bytes) after ", iter + 1,
                         " iterations");
      scans[k].push_back(std::move(v.tensor));
    }
  }

  for (size_t i = 0; i < num_carried; ++i)
    if (ctx.wants_output(static_cast<int>(i)))
      ctx.set_output_value(static_cast<int>(i), std::move(carried[i]));
  for (size_t k = 0; k < num_scans; ++k) {
    const int out = static_cast<int>(num_carried + k);
    if (!ctx.wants_output(out)) continue;
    PE_ASSIGN_OR_RETURN(Tensor t, StackScanOutput(ctx, *body, 1 + num_carried + k, scans[k], 0));
    ctx.set_output(out, std::move(t));
  }
  return Status::OK();
}

// One scan over `length` steps: steps[t][m] is scan input m at step t. Returns the final states
// and, per scan output, the values in iteration order.
struct ScanResult {
  std::vector<Value> states;
  std::vector<std::vector<Tensor>> outputs;
};

Result<ScanResult> RunScan(const KernelContext& ctx, const Graph& body, std::vector<Value> states,
                           const std::vector<std::vector<Tensor>>& steps) {
  const size_t num_states = states.size();
  if (body.outputs.size() < num_states)
    return ctx.Error("body has ", body.outputs.size(), " outputs, fewer than its ", num_states,
                     " state variables");
  ScanResult r;
  r.outputs.resize(body.outputs.size() - num_states);
  for (const std::vector<Tensor>& step : steps) {
    std::vector<Value> inputs = std::move(states);
    for (const Tensor& t : step) inputs.push_back(Value::FromTensor(t));
    PE_ASSIGN_OR_RETURN(std::vector<Value> outs, RunBody(ctx, body, std::move(inputs)));
    states.assign(std::make_move_iterator(outs.begin()),
                  std::make_move_iterator(outs.begin() + num_states));
    for (size_t k = 0; k < r.outputs.size(); ++k) {
      if (!outs[num_states + k].is_tensor())
        return ctx.Error("scan output ", k, " of the body must be a tensor");
      r.outputs[k].push_back(std::move(outs[num_states + k].tensor));
    }
  }
  r.states = std::move(states);
  return r;
}

// Normalized per-input axes or directions from attribute `name` (default 0 for each).
Result<std::vector<int64_t>> ScanAttr(const KernelContext& ctx, const char* name, size_t count) {
  std::vector<int64_t> v = ctx.attr_ints(name, std::vector<int64_t>(count, 0));
  if (v.size() != count)
    return ctx.Error(name, " has ", v.size(), " entries, expected ", count);
  return v;
}

// Opset 9+: no batch axis; every scan input is cut along its own axis.
Status ScanV9(KernelContext& ctx, const Graph& body, size_t num_scan_inputs) {
  const size_t num_inputs = static_cast<size_t>(ctx.num_inputs());
  if (num_scan_inputs > num_inputs)
    return ctx.Error("num_scan_inputs ", num_scan_inputs, " exceeds the ", num_inputs, " inputs");
  const size_t num_states = num_inputs - num_scan_inputs;
  if (body.outputs.size() < num_states)
    return ctx.Error("body has fewer outputs than the ", num_states, " state variables");
  const size_t num_scan_outputs = body.outputs.size() - num_states;
  PE_ASSIGN_OR_RETURN(auto in_axes, ScanAttr(ctx, "scan_input_axes", num_scan_inputs));
  PE_ASSIGN_OR_RETURN(auto in_dirs, ScanAttr(ctx, "scan_input_directions", num_scan_inputs));
  PE_ASSIGN_OR_RETURN(auto out_axes, ScanAttr(ctx, "scan_output_axes", num_scan_outputs));
  PE_ASSIGN_OR_RETURN(auto out_dirs, ScanAttr(ctx, "scan_output_directions", num_scan_outputs));

  std::vector<Value> states;
  for (size_t i = 0; i < num_states; ++i) {
    const Value* v = ctx.input_value(static_cast<int>(i));
    if (!v) return ctx.Error("state input ", i, " is missing");
    states.push_back(*v);
  }
  int64_t length = -1;
  std::vector<const Tensor*> xs;
  for (size_t m = 0; m < num_scan_inputs; ++m) {
    PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(static_cast<int>(num_states + m)));
    PE_ASSIGN_OR_RETURN(in_axes[m], NormalizeAxis(in_axes[m], static_cast<int64_t>(x->rank())));
    if (length >= 0 && x->dim(in_axes[m]) != length)
      return ctx.Error("scan input ", m, " has ", x->dim(in_axes[m]), " steps, expected ", length);
    length = x->dim(in_axes[m]);
    xs.push_back(x);
  }
  if (length < 0) return ctx.Error("Scan needs at least one scan input");
  if (length > ctx.limits().max_loop_iterations)
    return ctx.Error("scan of ", length, " steps exceeds the limit of ",
                     ctx.limits().max_loop_iterations, " (SessionOptions::max_loop_iterations)");
  std::vector<std::vector<Tensor>> steps(static_cast<size_t>(length));
  for (int64_t t = 0; t < length; ++t) {
    for (size_t m = 0; m < num_scan_inputs; ++m) {
      const int64_t index = in_dirs[m] ? length - 1 - t : t;
      PE_ASSIGN_OR_RETURN(Tensor slice, TakeAlongAxis(ctx, *xs[m], in_axes[m], index));
      steps[t].push_back(std::move(slice));
    }
  }
  PE_ASSIGN_OR_RETURN(ScanResult r, RunScan(ctx, body, std::move(states), steps));
  for (size_t i = 0; i < num_states; ++i)
    ctx.set_output_value(static_cast<int>(i), std::move(r.states[i]));
  for (size_t k = 0; k < num_scan_outputs; ++k) {
    const int out = static_cast<int>(num_states + k);
    if (!ctx.wants_output(out)) continue;
    std::vector<Tensor>& seq = r.outputs[k];
    if (out_dirs[k]) std::reverse(seq.begin(), seq.end());
    int64_t axis = out_axes[k];  // EmptyStack places it against the declared rank
    if (!seq.empty()) {
      PE_ASSIGN_OR_RETURN(axis, NormalizeAxis(axis, static_cast<int64_t>(seq[0].rank()) + 1));
    }
    PE_ASSIGN_OR_RETURN(Tensor t, StackScanOutput(ctx, body, num_states + k, seq, axis));
    ctx.set_output(out, std::move(t));
  }
  return Status::OK();
}

// Opset 8: inputs (sequence_lens, states..., scans...), all with a leading batch axis, scan
// inputs [batch, time, ...]. Each batch row is scanned separately; steps past a row's length
// leave zeros in the scan outputs.
Status ScanV8(KernelContext& ctx, const Graph& body, size_t num_scan_inputs) {
  const size_t num_inputs = static_cast<size_t>(ctx.num_inputs());
  if (num_inputs < 1 || num_scan_inputs > num_inputs - 1)
    return ctx.Error("num_scan_inputs ", num_scan_inputs, " exceeds the inputs");
  const size_t num_states = num_inputs - 1 - num_scan_inputs;
  PE_ASSIGN_OR_RETURN(auto dirs, ScanAttr(ctx, "directions", num_scan_inputs));
  if (num_scan_inputs == 0) return ctx.Error("Scan needs at least one scan input");
  std::vector<const Tensor*> xs;
  for (size_t i = 0; i < num_states + num_scan_inputs; ++i) {
    PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(static_cast<int>(1 + i)));
    const size_t min_rank = i < num_states ? 1 : 2;
    if (x->rank() < min_rank) return ctx.Error("input ", 1 + i, " lacks the batch axis");
    xs.push_back(x);
  }
  const int64_t batch = xs[0]->dim(0);
  const int64_t max_len = xs[num_states]->dim(1);
  // Extents of empty inputs are not bounded by their memory, so bound the work they ask for.
  int64_t total_steps = 0;
  if (__builtin_mul_overflow(batch, max_len, &total_steps) ||
      total_steps > ctx.limits().max_loop_iterations)
    return ctx.Error("scan of ", batch, " rows x ", max_len, " steps exceeds the limit of ",
                     ctx.limits().max_loop_iterations, " (SessionOptions::max_loop_iterations)");
  for (size_t i = 0; i < xs.size(); ++i)
    if (xs[i]->dim(0) != batch || (i >= num_states && xs[i]->dim(1) != max_len))
      return ctx.Error("input ", 1 + i, " has shape ", ShapeToString(xs[i]->shape()),
                       ", expected batch ", batch, " and ", max_len, " steps");
  std::vector<int64_t> lens(static_cast<size_t>(batch), max_len);
  if (ctx.has_input(0)) {
    PE_ASSIGN_OR_RETURN(const Tensor* l, ctx.RequireInput(0));
    if (!IsIntegerDType(l->dtype()) || l->shape() != Shape{batch})
      return ctx.Error("sequence_lens must be an integer tensor of shape [", batch, "]");
    lens = ToInt64Vector(*l);
    for (int64_t v : lens)
      if (v < 0 || v > max_len) return ctx.Error("sequence_lens value ", v, " is out of range");
  }

  const size_t num_scan_outputs = body.outputs.size() >= num_states
                                      ? body.outputs.size() - num_states : 0;
  std::vector<std::vector<Tensor>> final_states(num_states);
  // padded[k][b * max_len + t]: scan output k of row b at step t (undefined past the length).
  std::vector<std::vector<Tensor>> padded(num_scan_outputs,
                                          std::vector<Tensor>(batch * max_len));
  std::vector<Tensor> samples(num_scan_outputs);  // any produced step, to shape the padding
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<Value> states;
    for (size_t i = 0; i < num_states; ++i) {
      PE_ASSIGN_OR_RETURN(Tensor s, TakeAlongAxis(ctx, *xs[i], 0, b));
      states.push_back(Value::FromTensor(std::move(s)));
    }
    std::vector<std::vector<Tensor>> steps(static_cast<size_t>(lens[b]));
    for (size_t m = 0; m < num_scan_inputs; ++m) {
      PE_ASSIGN_OR_RETURN(Tensor row, TakeAlongAxis(ctx, *xs[num_states + m], 0, b));
      for (int64_t t = 0; t < lens[b]; ++t) {
        PE_ASSIGN_OR_RETURN(Tensor x, TakeAlongAxis(ctx, row, 0, dirs[m] ? lens[b] - 1 - t : t));
        steps[t].push_back(std::move(x));
      }
    }
    PE_ASSIGN_OR_RETURN(ScanResult r, RunScan(ctx, body, std::move(states), steps));
    for (size_t i = 0; i < num_states; ++i) {
      if (!r.states[i].is_tensor()) return ctx.Error("state ", i, " must stay a tensor");
      final_states[i].push_back(r.states[i].tensor);
    }
    for (size_t k = 0; k < num_scan_outputs; ++k)
      for (size_t t = 0; t < r.outputs[k].size(); ++t) {
        samples[k] = r.outputs[k][t];
        padded[k][b * max_len + t] = std::move(r.outputs[k][t]);
      }
  }
  for (size_t i = 0; i < num_states; ++i) {
    if (!ctx.wants_output(static_cast<int>(i))) continue;
    if (batch == 0) {
      ctx.set_output(static_cast<int>(i), *xs[i]);
      continue;
    }
    PE_ASSIGN_OR_RETURN(Tensor t, StackAlongAxis(ctx, final_states[i], 0));
    ctx.set_output(static_cast<int>(i), std::move(t));
  }
  for (size_t k = 0; k < num_scan_outputs; ++k) {
    const int out = static_cast<int>(num_states + k);
    if (!ctx.wants_output(out)) continue;
    if (!samples[k].defined()) {  // no row ran a single step
      PE_ASSIGN_OR_RETURN(Tensor t, EmptyStack(ctx, body.outputs[num_states + k], 0));
      Shape shape = t.shape();
      shape[0] = max_len;
      shape.insert(shape.begin(), batch);
      PE_ASSIGN_OR_RETURN(t, ctx.CreateTensor(t.dtype(), shape));
      ctx.set_output(out, std::move(t));
      continue;
    }
    for (Tensor& step : padded[k])
      if (!step.defined()) {
        PE_ASSIGN_OR_RETURN(step, ctx.CreateTensor(samples[k].dtype(), samples[k].shape()));
      }
    PE_ASSIGN_OR_RETURN(Tensor flat, StackAlongAxis(ctx, padded[k], 0));
    Shape shape = flat.shape();
    shape[0] = max_len;
    shape.insert(shape.begin(), batch);
    ctx.set_output(out, flat.Reshaped(shape));
  }
  return Status::OK();
}

Status Scan(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Graph* body, RequireGraph(ctx, "body"));
  const int64_t num_scan_inputs = ctx.attr_int("num_scan_inputs", -1);
  if (num_scan_inputs < 1)
    return ctx.Error("num_scan_inputs must be at least 1, got ", num_scan_inputs);
  const size_t m = static_cast<size_t>(num_scan_inputs);
  return ctx.opset() >= 9 ? ScanV9(ctx, *body, m) : ScanV8(ctx, *body, m);
}

}  // namespace

void RegisterControlFlowKernels(KernelRegistry& r) {
  r.Add("If", If);
  r.Add("Loop", Loop);
  r.Add("Scan", Scan);
  RegisterControlFlowSequenceKernels(r);
}

}  // namespace privedge
