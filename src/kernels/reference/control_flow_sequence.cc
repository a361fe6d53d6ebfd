// Reference sequence operators (Sequence*, SplitToSequence, ConcatFromSequence, SequenceMap) and
// optional operators. A sequence is a Value of kind kSequence; an optional without an element is
// a Value of kind kNone, one with an element is simply that tensor or sequence.
#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "kernels/kernel_util.h"
#include "kernels/reference/control_flow_internal.h"

namespace privedge {
namespace {

Result<const Value*> RequireSequence(const KernelContext& ctx, int i) {
  const Value* v = ctx.input_value(i);
  if (!v || !v->is_sequence())
    return ctx.Error("input ", i, " must be a sequence", v ? "" : " but was not supplied");
  return v;
}

// The element type a new sequence built from `seq` keeps (its own, or `fallback` if unknown).
DType ElemType(const Value& seq, DType fallback) {
  return seq.sequence_elem_type != DType::kUndefined ? seq.sequence_elem_type : fallback;
}

// Maps a position into [0, size) (or [0, size] when `allow_end`), counting negatives from the
// end; error when outside.
Result<int64_t> NormalizePosition(const KernelContext& ctx, int64_t pos, int64_t size,
                                  bool allow_end) {
  const int64_t hi = allow_end ? size : size - 1;
  if (pos < -size || pos > hi)
    return ctx.Error("position ", pos, " is outside [", -size, ", ", hi, "] for a sequence of ",
                     size, " tensors");
  return pos < 0 ? pos + size : pos;
}

Status SequenceEmpty(KernelContext& ctx) {
  const int64_t dtype = ctx.attr_int("dtype", static_cast<int64_t>(DType::kFloat32));
  if (dtype < 0 || dtype > INT32_MAX || !IsValidDType(static_cast<int32_t>(dtype)))
    return ctx.Error("dtype ", dtype, " is not a valid tensor type");
  ctx.set_output_value(0, Value::FromSequence({}, static_cast<DType>(dtype)));
  return Status::OK();
}

Status SequenceConstruct(KernelContext& ctx) {
  if (ctx.num_inputs() < 1) return ctx.Error("needs at least one input");
  std::vector<Tensor> seq;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(i));
    if (!seq.empty() && t->dtype() != seq[0].dtype())
      return ctx.Error("input ", i, " has type ", DTypeName(t->dtype()), ", expected ",
                       DTypeName(seq[0].dtype()), " like input 0");
    seq.push_back(*t);
  }
  ctx.set_output_value(0, Value::FromSequence(std::move(seq)));
  return Status::OK();
}

Status SequenceInsert(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Value* seq, RequireSequence(ctx, 0));
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(1));
  const DType elem = ElemType(*seq, t->dtype());
  if (t->dtype() != elem)
    return ctx.Error("cannot insert a ", DTypeName(t->dtype()), " tensor into a sequence of ",
                     DTypeName(elem));
  const int64_t size = static_cast<int64_t>(seq->sequence.size());
  int64_t pos = size;
  if (ctx.has_input(2)) {
    PE_ASSIGN_OR_RETURN(int64_t p, ReadScalarInt(ctx, 2, "position"));
    PE_ASSIGN_OR_RETURN(pos, NormalizePosition(ctx, p, size, /*allow_end=*/true));
  }
  std::vector<Tensor> out = seq->sequence;
  out.insert(out.begin() + pos, *t);
  ctx.set_output_value(0, Value::FromSequence(std::move(out), elem));
  return Status::OK();
}

Status SequenceAt(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Value* seq, RequireSequence(ctx, 0));
  PE_ASSIGN_OR_RETURN(int64_t p, ReadScalarInt(ctx, 1, "position"));
  PE_ASSIGN_OR_RETURN(int64_t pos, NormalizePosition(ctx, p,
                                                     static_cast<int64_t>(seq->sequence.size()),
                                                     /*allow_end=*/false));
  ctx.set_output(0, seq->sequence[pos]);
  return Status::OK();
}

Status SequenceErase(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Value* seq, RequireSequence(ctx, 0));
  int64_t p = -1;
  if (ctx.has_input(1)) {
    PE_ASSIGN_OR_RETURN(p, ReadScalarInt(ctx, 1, "position"));
  }
  PE_ASSIGN_OR_RETURN(int64_t pos, NormalizePosition(ctx, p,
                                                     static_cast<int64_t>(seq->sequence.size()),
                                                     /*allow_end=*/false));
  std::vector<Tensor> out = seq->sequence;
  out.erase(out.begin() + pos);
  ctx.set_output_value(0, Value::FromSequence(std::move(out), seq->sequence_elem_type));
  return Status::OK();
}

Status SequenceLength(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Value* seq, RequireSequence(ctx, 0));
  ctx.set_output(0, Tensor::Scalar<int64_t>(static_cast<int64_t>(seq->sequence.size())));
  return Status::OK();
}

// Chunk sizes along an axis of extent `dim`: from the optional `split` input (a scalar chunk
// size, the last chunk possibly shorter, or explicit sizes), or ones when it is absent.
Result<std::vector<int64_t>> SplitSizes(const KernelContext& ctx, int64_t dim) {
  // An empty tensor can have a huge extent, and every chunk costs a tensor, so the number of
  // chunks is held to the same bound as loop iterations.
  const int64_t max_chunks = ctx.limits().max_loop_iterations;
  auto too_many = [&](int64_t chunks) {
    return ctx.Error("splitting extent ", dim, " gives ", chunks,
                     " chunks, more than the limit of ", max_chunks,
                     " (SessionOptions::max_loop_iterations)");
  };
  if (!ctx.has_input(1)) {
    if (dim > max_chunks) return too_many(dim);
    return std::vector<int64_t>(static_cast<size_t>(dim), 1);
  }
  PE_ASSIGN_OR_RETURN(const Tensor* split, ctx.RequireInput(1));
  if (!IsIntegerDType(split->dtype()) || split->rank() > 1)
    return ctx.Error("split must be an integer scalar or 1-D tensor, got ",
                     DTypeName(split->dtype()), ShapeToString(split->shape()));
  std::vector<int64_t> sizes;
  if (split->rank() == 0) {
    const int64_t chunk = split->GetAsInt64(0);
    if (chunk <= 0) return ctx.Error("split chunk size must be positive, got ", chunk);
    const int64_t chunks = dim / chunk + (dim % chunk != 0 ? 1 : 0);
    if (chunks > max_chunks) return too_many(chunks);
    for (int64_t start = 0; start < dim; start += chunk)
      sizes.push_back(std::min(chunk, dim - start));
    return sizes;
  }
  sizes = ToInt64Vector(*split);
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0 || s > dim) return ctx.Error("split size ", s, " is outside [0, ", dim, "]");
    total += s;
  }
  if (total != dim) return ctx.Error("split sizes sum to ", total, ", expected ", dim);
  return sizes;
}

Status SplitToSequence(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(int64_t axis,
                      NormalizeAxis(ctx.attr_int("axis", 0), static_cast<int64_t>(x->rank())));
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, SplitSizes(ctx, x->dim(axis)));
  // keepdims only matters when no split is given (every chunk then has extent 1).
  const bool squeeze = !ctx.has_input(1) && ctx.attr_int("keepdims", 1) == 0;
  std::vector<Tensor> seq;
  int64_t start = 0;
  for (int64_t size : sizes) {
    if (squeeze) {
      PE_ASSIGN_OR_RETURN(Tensor t, TakeAlongAxis(ctx, *x, axis, start));
      seq.push_back(std::move(t));
    } else {
      PE_ASSIGN_OR_RETURN(Tensor t, SliceAlongAxis(ctx, *x, axis, start, size));
      seq.push_back(std::move(t));
    }
    start += size;
  }
  ctx.set_output_value(0, Value::FromSequence(std::move(seq), x->dtype()));
  return Status::OK();
}

Status ConcatFromSequence(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Value* seq, RequireSequence(ctx, 0));
  if (seq->sequence.empty()) return ctx.Error("cannot concatenate an empty sequence");
  if (!ctx.has_attr("axis")) return ctx.Error("attribute 'axis' is required");
  const bool new_axis = ctx.attr_int("new_axis", 0) != 0;
  const int64_t rank = static_cast<int64_t>(seq->sequence[0].rank());
  PE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.attr_int("axis", 0), rank + new_axis));
  PE_ASSIGN_OR_RETURN(Tensor out, new_axis ? StackAlongAxis(ctx, seq->sequence, axis)
                                           : ConcatAlongAxis(ctx, seq->sequence, axis));
  ctx.set_output(0, std::move(out));
  return Status::OK();
}

// Runs the body once per element of the input sequence; every other input is either a
// sequence of the same length (read element-wise) or a tensor passed to every iteration.
Status SequenceMap(KernelContext& ctx) {
  const Graph* body = ctx.attr_graph("body");
  if (!body) return ctx.Error("graph attribute 'body' is missing");
  PE_ASSIGN_OR_RETURN(const Value* first, RequireSequence(ctx, 0));
  const size_t length = first->sequence.size();
  std::vector<const Value*> ins;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Value* v = ctx.input_value(i);
    if (!v || v->is_none()) return ctx.Error("input ", i, " must be a sequence or a tensor");
    if (v->is_sequence() && v->sequence.size() != length)
      return ctx.Error("input sequence ", i, " has ", v->sequence.size(), " elements, input 0 has ",
                       length);
    ins.push_back(v);
  }
  if (body->inputs.size() != ins.size())
    return ctx.Error("body has ", body->inputs.size(), " inputs, the node supplies ", ins.size());
  if (static_cast<int>(body->outputs.size()) != ctx.num_outputs())
    return ctx.Error("body has ", body->outputs.size(), " outputs, the node has ",
                     ctx.num_outputs());

  std::vector<std::vector<Tensor>> results(body->outputs.size());
  for (size_t e = 0; e < length; ++e) {
    std::vector<Value> args;
    for (const Value* v : ins)
      args.push_back(v->is_sequence() ? Value::FromTensor(v->sequence[e]) : *v);
    PE_ASSIGN_OR_RETURN(std::vector<Value> outs, ctx.RunSubgraph(*body, std::move(args)));
    if (outs.size() != results.size())
      return ctx.Error("body returned ", outs.size(), " values, expected ", results.size());
    for (size_t k = 0; k < outs.size(); ++k) {
      if (!outs[k].is_tensor()) return ctx.Error("body output ", k, " must be a tensor");
      results[k].push_back(std::move(outs[k].tensor));
    }
  }
  for (size_t k = 0; k < results.size(); ++k)
    ctx.set_output_value(static_cast<int>(k), Value::FromSequence(std::move(results[k]),
                                                                  body->outputs[k].type.elem_type));
  return Status::OK();
}

// With an input the optional holds it; without one it is empty (its type comes from the
// `type` attribute, which only matters to static type inference).
Status OptionalOp(KernelContext& ctx) {
  const Value* v = ctx.input_value(0);
  ctx.set_output_value(0, v ? *v : Value());
  return Status::OK();
}

Status OptionalHasElement(KernelContext& ctx) {
  const Value* v = ctx.input_value(0);
  ctx.set_output(0, Tensor::Scalar<bool>(v != nullptr && !v->is_none()));
  return Status::OK();
}

Status OptionalGetElement(KernelContext& ctx) {
  const Value* v = ctx.input_value(0);
  if (!v || v->is_none()) return ctx.Error("the optional input holds no element");
  ctx.set_output_value(0, *v);
  return Status::OK();
}

}  // namespace

void RegisterControlFlowSequenceKernels(KernelRegistry& r) {
  r.Add("SequenceEmpty", SequenceEmpty);
  r.Add("SequenceConstruct", SequenceConstruct);
  r.Add("SequenceInsert", SequenceInsert);
  r.Add("SequenceAt", SequenceAt);
  r.Add("SequenceErase", SequenceErase);
  r.Add("SequenceLength", SequenceLength);
  r.Add("SplitToSequence", SplitToSequence);
  r.Add("ConcatFromSequence", ConcatFromSequence);
  r.Add("SequenceMap", SequenceMap);
  r.Add("Optional", OptionalOp);
  r.Add("OptionalHasElement", OptionalHasElement);
  r.Add("OptionalGetElement", OptionalGetElement);
}

}  // namespace privedge
