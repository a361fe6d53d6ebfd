// Slice and Pad. Both are written as "per axis, which input coordinate feeds each output
// coordinate" maps, applied by one shared routine.
#include <algorithm>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/shape_ops_util.h"

namespace privedge {
namespace {

// Number of elements k >= 0 with first + k * step strictly before `stop` (in the step's
// direction); unsigned arithmetic so extreme steps cannot overflow.
int64_t StepCount(int64_t first, int64_t stop, int64_t step) {
  const bool up = step > 0;
  if (up ? stop <= first : stop >= first) return 0;
  const uint64_t span = up ? static_cast<uint64_t>(stop) - static_cast<uint64_t>(first)
                           : static_cast<uint64_t>(first) - static_cast<uint64_t>(stop);
  const uint64_t mag = up ? static_cast<uint64_t>(step) : uint64_t{0} - static_cast<uint64_t>(step);
  return static_cast<int64_t>(1 + (span - 1) / mag);
}

// Allocates output 0 of `out_shape` and fills it with
// out[o_0, ..., o_n] = in[map(0, o_0), ..., map(n, o_n)], or fill[0] when any map entry is -1.
// The maps are only built once the output is known to be allocatable.
template <class MapFn>
Status ApplyAxisMaps(KernelContext& ctx, const Tensor& in, const Shape& out_shape, MapFn map,
                     const Tensor* fill) {
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, in.dtype(), out_shape));
  if (out->numel() == 0) return Status::OK();
  std::vector<std::vector<int64_t>> maps(out_shape.size());
  for (size_t a = 0; a < out_shape.size(); ++a)
    for (int64_t o = 0; o < out_shape[a]; ++o) maps[a].push_back(map(a, o));
  const std::vector<int64_t> strides = ContiguousStrides(in.shape());
  ElementCopier copy(in, *out);
  int64_t o = 0;
  ForEachIndex(out_shape, [&](const std::vector<int64_t>& idx) {
    int64_t src = 0;
    bool inside = true;
    for (size_t a = 0; a < idx.size() && inside; ++a) {
      const int64_t c = maps[a][idx[a]];
      inside = c >= 0;
      src += c * strides[a];
    }
    if (inside) {
      copy(o, src);
    } else if (fill) {
      ElementCopier(*fill, *out)(o, 0);
    }
    ++o;
  });
  return Status::OK();
}

Status Slice(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const int64_t rank = static_cast<int64_t>(x->rank());
  std::vector<int64_t> starts, ends, axes, steps;
  bool has_axes = false, has_steps = false;
  if (ctx.opset() < 10) {
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    has_axes = ctx.has_attr("axes");
    axes = ctx.attr_ints("axes");
  } else {
    PE_ASSIGN_OR_RETURN(starts, ReadIntInput(ctx, 1));
    PE_ASSIGN_OR_RETURN(ends, ReadIntInput(ctx, 2));
    PE_ASSIGN_OR_RETURN(axes, ReadOptionalIntInput(ctx, 3, has_axes));
    PE_ASSIGN_OR_RETURN(steps, ReadOptionalIntInput(ctx, 4, has_steps));
  }
  const size_t n = starts.size();
  if (!has_axes)
    for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
  if (!has_steps) steps.assign(n, 1);
  if (ends.size() != n || axes.size() != n || steps.size() != n)
    return ctx.Error("starts, ends, axes and steps must have the same length, got ", n, ", ",
                     ends.size(), ", ", axes.size(), ", ", steps.size());
  PE_ASSIGN_OR_RETURN(axes, NormalizeAxes(ctx, axes, rank));
  std::vector<int64_t> start(rank, 0), step(rank, 1), count(x->shape());
  for (size_t i = 0; i < n; ++i) {
    const int64_t a = axes[i], d = x->shape()[a], s = steps[i];
    if (s == 0) return ctx.Error("step for axis ", a, " must not be 0");
    int64_t b = starts[i], e = ends[i];
    // Clamp like numpy: for negative steps the valid range shifts down by one.
    if (b < 0) b += d;
    if (e < 0) e += d;
    if (s > 0) {
      b = std::clamp<int64_t>(b, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      count[a] = StepCount(b, e, s);
    } else if (d == 0) {
      count[a] = 0;
    } else {
      b = std::clamp<int64_t>(b, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      count[a] = StepCount(b, e, s);
    }
    start[a] = b;
    step[a] = s;
  }
  return ApplyAxisMaps(
      ctx, *x, count, [&](size_t a, int64_t k) { return start[a] + k * step[a]; }, nullptr);
}

// Source coordinate for output coordinate `o` along an axis of extent `d` padded by `begin`
// in front; -1 means "use the constant".
int64_t PadSource(int64_t o, int64_t begin, int64_t d, const std::string& mode) {
  int64_t i;
  // Only a hugely negative `begin` can overflow, which puts i far past the end.
  if (__builtin_sub_overflow(o, begin, &i)) i = INT64_MAX;
  if (i >= 0 && i < d) return i;
  if (mode == "edge") return std::clamp<int64_t>(i, 0, d - 1);
  if (mode == "reflect") {
    if (d == 1) return 0;
    const int64_t period = 2 * (d - 1);
    i %= period;
    if (i < 0) i += period;
    return i < d ? i : period - i;
  }
  return -1;
}

Status Pad(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const int64_t rank = static_cast<int64_t>(x->rank());
  const std::string mode = ctx.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge")
    return ctx.Error("mode must be constant, reflect or edge, got '", mode, "'");
  std::vector<int64_t> pads;
  Tensor fill = ScalarOfType(x->dtype(), 0);
  if (ctx.opset() < 11) {
    pads = ctx.attr_ints(ctx.opset() < 2 ? "paddings" : "pads");
    fill = ScalarOfType(x->dtype(), ctx.attr_float("value", 0));
  } else {
    PE_ASSIGN_OR_RETURN(pads, ReadIntInput(ctx, 1));
    if (const Tensor* c = ctx.input(2)) {
      if (c->dtype() != x->dtype() || c->numel() != 1)
        return ctx.Error("constant_value must be one ", DTypeName(x->dtype()), " element, got ",
                         DTypeName(c->dtype()), " ", ShapeToString(c->shape()));
      fill = c->Reshaped({});
    }
  }
  // Opset 18 adds an optional axes input naming the padded axes; default is all of them.
  std::vector<int64_t> axes;
  bool has_axes = false;
  if (ctx.opset() >= 18) {
    PE_ASSIGN_OR_RETURN(axes, ReadOptionalIntInput(ctx, 3, has_axes));
  }
  if (!has_axes)
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  PE_ASSIGN_OR_RETURN(axes, NormalizeAxes(ctx, axes, rank));
  const size_t n = axes.size();
  if (pads.size() != 2 * n)
    return ctx.Error("pads has ", pads.size(), " entries, expected ", 2 * n, " for ", n,
                     " axes");
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t i = 0; i < n; ++i) {
    begin[axes[i]] = pads[i];
    end[axes[i]] = pads[i + n];
  }
  Shape out_shape(rank);
  for (int64_t a = 0; a < rank; ++a) {
    const int64_t d = x->shape()[a];
    int64_t& size = out_shape[a];
    if (__builtin_add_overflow(d, begin[a], &size) || __builtin_add_overflow(size, end[a], &size))
      return ctx.Error("pads ", begin[a], " and ", end[a], " overflow axis ", a);
    if (size < 0)
      return ctx.Error("pads ", begin[a], " and ", end[a], " remove more than the extent ", d,
                       " of axis ", a);
    if (mode != "constant" && d == 0 && size > 0)
      return ctx.Error("cannot ", mode, "-pad axis ", a, " of extent 0");
  }
  return ApplyAxisMaps(
      ctx, *x, out_shape,
      [&](size_t a, int64_t o) { return PadSource(o, begin[a], x->shape()[a], mode); }, &fill);
}

}  // namespace

void RegisterIndexingSliceKernels(KernelRegistry& r) {
  r.Add("Slice", Slice);
  r.Add("Pad", Pad);
}

}  // namespace privedge
