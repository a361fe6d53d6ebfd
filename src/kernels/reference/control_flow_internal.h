// Helpers shared by the control-flow kernels (control_flow*.cc): cutting tensors along an axis
// and gluing them back, which Loop, Scan and the sequence operators all need.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel.h"

namespace privedge {

// Registers the sequence and optional operators and SequenceMap (control_flow_sequence.cc).
void RegisterControlFlowSequenceKernels(KernelRegistry& r);

// t[..., start:start+len, ...] along `axis` (a valid, non-negative axis; range checked).
Result<Tensor> SliceAlongAxis(const KernelContext& ctx, const Tensor& t, int64_t axis,
                              int64_t start, int64_t len);

// t[..., index, ...] with `axis` removed.
Result<Tensor> TakeAlongAxis(const KernelContext& ctx, const Tensor& t, int64_t axis,
                             int64_t index);

// Concatenates `parts` (non-empty; same dtype and rank, equal extents except `axis`).
Result<Tensor> ConcatAlongAxis(const KernelContext& ctx, const std::vector<Tensor>& parts,
                               int64_t axis);

// Stacks `parts` (non-empty; same dtype and shape) along a new axis `axis` in [0, rank].
Result<Tensor> StackAlongAxis(const KernelContext& ctx, const std::vector<Tensor>& parts,
                              int64_t axis);

// An empty stack for a scan output that never produced an element: extent 0 at `axis`, the
// other extents from the declared type of the body output when it is fully known.
Result<Tensor> EmptyStack(const KernelContext& ctx, const ValueInfo& element_info, int64_t axis);

// Reads input `i` as a single integer (a scalar or a one-element integer tensor).
Result<int64_t> ReadScalarInt(const KernelContext& ctx, int i, const char* what);

// Reads a tensor as a single boolean (one element of any numeric or bool type).
Result<bool> ReadScalarBool(const KernelContext& ctx, const Value& v, const char* what);

}  // namespace privedge
