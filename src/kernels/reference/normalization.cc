// Normalization operators: BatchNormalization, InstanceNormalization, LayerNormalization and
// MeanVarianceNormalization.
//
// All of them normalize groups of elements (the elements that share their coordinates on the
// kept axes) by the group's mean and variance. Statistics are computed in double with a
// two-pass variance, then results are converted to the output type.
#include <cmath>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/conv_pool_util.h"
#include "kernels/reference/families.h"

namespace privedge {
namespace {

using convpool::WriteDoubles;

// Assigns every element of a tensor to the group of elements sharing its coordinates on the
// axes that are not reduced. Groups are numbered row-major over the kept axes.
struct Grouping {
  std::vector<int64_t> group;  // per element
  int64_t groups = 1;
};

Grouping GroupByKeptAxes(const Shape& shape, const std::vector<bool>& reduced) {
  Grouping g;
  std::vector<int64_t> kept_stride(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    if (reduced[d]) continue;
    kept_stride[d] = g.groups;
    g.groups *= shape[d];
  }
  const int64_t total = ShapeElementCount(shape);
  g.group.resize(static_cast<size_t>(std::max<int64_t>(total, 0)));
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t current = 0;
  for (int64_t i = 0; i < total; ++i) {
    g.group[i] = current;
    for (size_t d = shape.size(); d-- > 0;) {
      current += kept_stride[d];
      if (++idx[d] < shape[d]) break;
      current -= kept_stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return g;
}

// Per-group mean and population variance.
struct Moments {
  std::vector<double> mean, var;
};

Moments GroupMoments(const std::vector<double>& x, const Grouping& g) {
  Moments m;
  m.mean.assign(static_cast<size_t>(g.groups), 0.0);
  m.var.assign(static_cast<size_t>(g.groups), 0.0);
  std::vector<int64_t> count(static_cast<size_t>(g.groups), 0);
  for (size_t i = 0; i < x.size(); ++i) {
    m.mean[g.group[i]] += x[i];
    ++count[g.group[i]];
  }
  for (int64_t k = 0; k < g.groups; ++k)
    m.mean[k] = count[k] > 0 ? m.mean[k] / static_cast<double>(count[k]) : 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double dev = x[i] - m.mean[g.group[i]];
    m.var[g.group[i]] += dev * dev;
  }
  for (int64_t k = 0; k < g.groups; ++k)
    m.var[k] = count[k] > 0 ? m.var[k] / static_cast<double>(count[k]) : 0.0;
  return m;
}

Status RequireFloat(const KernelContext& ctx, const Tensor& t, const char* name) {
  if (!IsFloatingDType(t.dtype()))
    return ctx.Error(name, " must be a float tensor, got ", DTypeName(t.dtype()));
  return Status::OK();
}

// A per-channel (or per-activation) parameter vector of BatchNorm/InstanceNorm, as double.
Result<std::vector<double>> ReadParam(const KernelContext& ctx, int input, const char* name,
                                      int64_t expected) {
  PE_ASSIGN_OR_RETURN(const Tensor* t, ctx.RequireInput(input));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *t, name));
  if (t->numel() != expected)
    return ctx.Error(name, " must have ", expected, " values, got shape ",
                     ShapeToString(t->shape()));
  return ToDoubleVector(*t);
}

Status BatchNormalization(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *x, "X"));
  if (x->rank() < 2)
    return ctx.Error("X must be [N, C, ...] (rank >= 2), got ", ShapeToString(x->shape()));
  const Shape& shape = x->shape();
  const int64_t c = shape[1];
  const int64_t inner = ShapeElementCount(Shape(shape.begin() + 2, shape.end()));
  // Before opset 9, spatial=0 gives every activation (C x spatial) its own statistics.
  const bool per_activation = ctx.opset() < 9 && ctx.attr_int("spatial", 1) == 0;
  const int64_t params = per_activation ? c * inner : c;
  auto param_of = [&](int64_t i) { return per_activation ? i % params : (i / inner) % c; };

  PE_ASSIGN_OR_RETURN(std::vector<double> scale, ReadParam(ctx, 1, "scale", params));
  PE_ASSIGN_OR_RETURN(std::vector<double> bias, ReadParam(ctx, 2, "B", params));
  PE_ASSIGN_OR_RETURN(std::vector<double> mean, ReadParam(ctx, 3, "input_mean", params));
  PE_ASSIGN_OR_RETURN(std::vector<double> var, ReadParam(ctx, 4, "input_var", params));
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  const double momentum = ctx.attr_float("momentum", 0.9f);

  // Opset 14 made training explicit; before, the extra statistics outputs implied it.
  bool training = false;
  if (ctx.opset() >= 14) {
    training = ctx.attr_int("training_mode", 0) != 0;
  } else {
    for (int i = 1; i < ctx.num_outputs(); ++i) training |= ctx.wants_output(i);
    if (ctx.opset() < 7 && ctx.attr_int("is_test", 0) != 0) training = false;
  }

  const std::vector<double> xs = ToDoubleVector(*x);
  std::vector<double> use_mean = mean, use_var = var;
  Moments batch;
  if (training) {
    std::vector<bool> reduced(shape.size(), true);
    reduced[1] = false;
    if (per_activation)
      for (size_t d = 2; d < shape.size(); ++d) reduced[d] = false;
    batch = GroupMoments(xs, GroupByKeptAxes(shape, reduced));
    use_mean = batch.mean;
    use_var = batch.var;
  }
  std::vector<double> y(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t k = param_of(static_cast<int64_t>(i));
    y[i] = scale[k] * (xs[i] - use_mean[k]) / std::sqrt(use_var[k] + eps) + bias[k];
  }
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, x->dtype(), shape));
  PE_RETURN_IF_ERROR(WriteDoubles(y, yt));
  if (!training) {
    // Without training the running statistics pass through unchanged.
    for (int i = 1; i <= 2; ++i)
      if (ctx.wants_output(i)) ctx.set_output(i, ctx.input(i + 2)->Clone());
    return Status::OK();
  }

  // Outputs 1 and 2: running statistics; (before opset 14) 3 and 4: the batch statistics.
  std::vector<double> running_mean(mean.size()), running_var(var.size());
  for (size_t k = 0; k < mean.size(); ++k) {
    running_mean[k] = mean[k] * momentum + batch.mean[k] * (1 - momentum);
    running_var[k] = var[k] * momentum + batch.var[k] * (1 - momentum);
  }
  const std::vector<double>* stats[] = {&running_mean, &running_var, &batch.mean, &batch.var};
  for (int i = 1; i <= 4; ++i) {
    if (!ctx.wants_output(i)) continue;
    const Tensor* like = ctx.input(i < 3 ? i + 2 : 3);
    PE_ASSIGN_OR_RETURN(Tensor * t, ctx.AllocateOutput(i, like->dtype(), like->shape()));
    PE_RETURN_IF_ERROR(WriteDoubles(*stats[i - 1], t));
  }
  return Status::OK();
}

Status InstanceNormalization(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *x, "X"));
  if (x->rank() < 2)
    return ctx.Error("X must be [N, C, ...] (rank >= 2), got ", ShapeToString(x->shape()));
  const int64_t c = x->dim(1);
  PE_ASSIGN_OR_RETURN(std::vector<double> scale, ReadParam(ctx, 1, "scale", c));
  PE_ASSIGN_OR_RETURN(std::vector<double> bias, ReadParam(ctx, 2, "B", c));
  const double eps = ctx.attr_float("epsilon", 1e-5f);
  std::vector<bool> reduced(x->rank(), true);
  reduced[0] = reduced[1] = false;
  const std::vector<double> xs = ToDoubleVector(*x);
  const Grouping g = GroupByKeptAxes(x->shape(), reduced);
  const Moments m = GroupMoments(xs, g);
  std::vector<double> y(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t k = g.group[i];  // n * C + c
    y[i] = scale[k % c] * (xs[i] - m.mean[k]) / std::sqrt(m.var[k] + eps) + bias[k % c];
  }
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  return WriteDoubles(y, yt);
}

// Offsets into a parameter of shape `param` broadcast (numpy style, to the right) over a
// block of shape `block`, for each element of the block in row-major order.
Result<std::vector<int64_t>> BroadcastOffsets(const KernelContext& ctx, const char* name,
                                              const Shape& param, const Shape& block) {
  Result<Shape> merged = BroadcastShapes({block, param});
  if (!merged.ok() || *merged != block)
    return ctx.Error(name, " of shape ", ShapeToString(param), " cannot broadcast to ",
                     ShapeToString(block));
  std::vector<int64_t> offsets(static_cast<size_t>(ShapeElementCount(block)));
  ForEachBroadcast(block, {BroadcastStrides(param, block)},
                   [&](int64_t o, const std::vector<int64_t>& off) { offsets[o] = off[0]; });
  return offsets;
}

Status LayerNormalization(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* scale, ctx.RequireInput(1));
  const Tensor* bias = ctx.input(2);
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *x, "X"));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *scale, "Scale"));
  if (bias) PE_RETURN_IF_ERROR(RequireFloat(ctx, *bias, "B"));
  const int64_t rank = static_cast<int64_t>(x->rank());
  if (rank == 0) return ctx.Error("X must have rank >= 1");
  PE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx.attr_int("axis", -1), rank));
  const DType stash = static_cast<DType>(ctx.attr_int("stash_type", 1));
  if (!IsValidDType(static_cast<int32_t>(stash)) || !IsFloatingDType(stash))
    return ctx.Error("stash_type must be a float type, got ", ctx.attr_int("stash_type", 1));
  const double eps = ctx.attr_float("epsilon", 1e-5f);

  const Shape block(x->shape().begin() + axis, x->shape().end());
  const int64_t block_size = ShapeElementCount(block);
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> s_off,
                      BroadcastOffsets(ctx, "Scale", scale->shape(), block));
  std::vector<int64_t> b_off;
  if (bias) {
    PE_ASSIGN_OR_RETURN(b_off, BroadcastOffsets(ctx, "B", bias->shape(), block));
  }
  const std::vector<double> sv = ToDoubleVector(*scale);
  const std::vector<double> bv = bias ? ToDoubleVector(*bias) : std::vector<double>();

  std::vector<bool> reduced(x->rank(), false);
  for (int64_t d = axis; d < rank; ++d) reduced[d] = true;
  const std::vector<double> xs = ToDoubleVector(*x);
  const Grouping g = GroupByKeptAxes(x->shape(), reduced);
  const Moments m = GroupMoments(xs, g);
  std::vector<double> inv_std(m.var.size());
  for (size_t k = 0; k < m.var.size(); ++k) inv_std[k] = 1.0 / std::sqrt(m.var[k] + eps);
  std::vector<double> y(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t j = static_cast<int64_t>(i) % block_size;  // position within the block
    const int64_t k = g.group[i];
    y[i] = (xs[i] - m.mean[k]) * inv_std[k] * sv[s_off[j]] + (bias ? bv[b_off[j]] : 0.0);
  }
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  PE_RETURN_IF_ERROR(WriteDoubles(y, yt));

  Shape stat_shape(x->shape().begin(), x->shape().begin() + axis);
  stat_shape.resize(x->rank(), 1);
  if (ctx.wants_output(1)) {
    PE_ASSIGN_OR_RETURN(Tensor * t, ctx.AllocateOutput(1, stash, stat_shape));
    PE_RETURN_IF_ERROR(WriteDoubles(m.mean, t));
  }
  if (ctx.wants_output(2)) {
    PE_ASSIGN_OR_RETURN(Tensor * t, ctx.AllocateOutput(2, stash, stat_shape));
    PE_RETURN_IF_ERROR(WriteDoubles(inv_std, t));
  }
  return Status::OK();
}

Status MeanVarianceNormalization(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  PE_RETURN_IF_ERROR(RequireFloat(ctx, *x, "X"));
  const int64_t rank = static_cast<int64_t>(x->rank());
  std::vector<bool> reduced(x->rank(), false);
  for (int64_t a : ctx.attr_ints("axes", {0, 2, 3})) {
    PE_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank));
    if (rank == 0) return ctx.Error("X must have rank >= 1");
    reduced[axis] = true;
  }
  const std::vector<double> xs = ToDoubleVector(*x);
  const Grouping g = GroupByKeptAxes(x->shape(), reduced);
  const Moments m = GroupMoments(xs, g);
  // The ONNX function adds this epsilon to the standard deviation, not to the variance.
  constexpr double kEpsilon = 1e-9;
  std::vector<double> y(xs.size());
  for (size_t i = 0; i < xs.size(); ++i)
    y[i] = (xs[i] - m.mean[g.group[i]]) / (std::sqrt(m.var[g.group[i]]) + kEpsilon);
  PE_ASSIGN_OR_RETURN(Tensor * yt, ctx.AllocateOutput(0, x->dtype(), x->shape()));
  return WriteDoubles(y, yt);
}

}  // namespace

void RegisterNormalizationKernels(KernelRegistry& r) {
  r.Add("BatchNormalization", BatchNormalization);
  r.Add("InstanceNormalization", InstanceNormalization);
  r.Add("LayerNormalization", LayerNormalization);
  // The same operator under privedge's domain: the LayerNorm fusion pass writes it into models
  // whose opset predates LayerNormalization (17).
  r.Add("LayerNormalization", LayerNormalization, "com.privedge");
  r.Add("MeanVarianceNormalization", MeanVarianceNormalization);
}

}  // namespace privedge
