// Operators that permute elements: Transpose, DepthToSpace, SpaceToDepth. The block
// rearrangements are expressed as reshape -> transpose -> reshape, as in the spec.
#include "kernels/reference/shape_ops_util.h"

namespace privedge {
namespace {

// Transposes `x` viewed as `view` by `perm` and outputs it reshaped to `out_shape`.
Status PermuteView(KernelContext& ctx, const Tensor& x, const Shape& view,
                   const std::vector<int64_t>& perm, const Shape& out_shape) {
  Shape permuted(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) permuted[i] = view[perm[i]];
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x.dtype(), permuted));
  Tensor viewed = x.Reshaped(view);
  TransposeInto(viewed, perm, *out);
  ctx.set_output(0, out->Reshaped(out_shape));
  return Status::OK();
}

Status Transpose(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  const size_t rank = x->rank();
  std::vector<int64_t> perm = ctx.attr_ints("perm");
  if (!ctx.has_attr("perm")) {
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  }
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank;
  for (size_t i = 0; valid && i < perm.size(); ++i) {
    valid = perm[i] >= 0 && perm[i] < static_cast<int64_t>(rank) && !seen[perm[i]];
    if (valid) seen[perm[i]] = true;
  }
  if (!valid)
    return ctx.Error("perm ", ShapeToString(perm), " is not a permutation of ", rank, " axes");
  Shape out_shape(rank);
  for (size_t i = 0; i < rank; ++i) out_shape[i] = x->shape()[perm[i]];
  return PermuteView(ctx, *x, x->shape(), perm, out_shape);
}

// Reads blocksize and checks the input is NCHW; fills n, c, h, w.
Status BlockParams(KernelContext& ctx, const Tensor& x, int64_t& b, int64_t& n, int64_t& c,
                   int64_t& h, int64_t& w) {
  if (x.rank() != 4)
    return ctx.Error("input must be 4-D NCHW, got ", ShapeToString(x.shape()));
  b = ctx.attr_int("blocksize", 0);
  if (b <= 0 || b > (int64_t{1} << 31)) return ctx.Error("blocksize must be in [1, 2^31], got ", b);
  n = x.shape()[0];
  c = x.shape()[1];
  h = x.shape()[2];
  w = x.shape()[3];
  return Status::OK();
}

Status DepthToSpace(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  int64_t b, n, c, h, w;
  PE_RETURN_IF_ERROR(BlockParams(ctx, *x, b, n, c, h, w));
  if (c % (b * b) != 0)
    return ctx.Error("channels ", c, " must be divisible by blocksize^2 = ", b * b);
  const int64_t oc = c / (b * b);
  const std::string mode = ctx.attr_string("mode", "DCR");
  const Shape out_shape = {n, oc, h * b, w * b};
  // DCR: depth is (row offset, column offset, channel); CRD: (channel, row, column).
  if (mode == "DCR")
    return PermuteView(ctx, *x, {n, b, b, oc, h, w}, {0, 3, 4, 1, 5, 2}, out_shape);
  if (mode == "CRD")
    return PermuteView(ctx, *x, {n, oc, b, b, h, w}, {0, 1, 4, 2, 5, 3}, out_shape);
  return ctx.Error("mode must be DCR or CRD, got '", mode, "'");
}

Status SpaceToDepth(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  int64_t b, n, c, h, w;
  PE_RETURN_IF_ERROR(BlockParams(ctx, *x, b, n, c, h, w));
  if (h % b != 0 || w % b != 0)
    return ctx.Error("height ", h, " and width ", w, " must be divisible by blocksize ", b);
  return PermuteView(ctx, *x, {n, c, h / b, b, w / b, b}, {0, 3, 5, 1, 2, 4},
                     {n, c * b * b, h / b, w / b});
}

}  // namespace

void RegisterShapeLayoutKernels(KernelRegistry& r) {
  r.Add("Transpose", Transpose);
  r.Add("DepthToSpace", DepthToSpace);
  r.Add("SpaceToDepth", SpaceToDepth);
}

}  // namespace privedge
