// Matrix products: MatMul, MatMulInteger, Gemm, and Det. Einsum lives in matmul_einsum.cc.
#include <cmath>
#include <utility>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"
#include "kernels/reference/reduction_common.h"

namespace privedge {
namespace {

// numpy.matmul shape rules: 1-D operands are promoted to matrices and the promoted axis is
// dropped from the result; leading (batch) axes broadcast.
struct MatMulPlan {
  int64_t m = 0, k = 0, n = 0;
  Shape out_shape;
  std::vector<int64_t> a_offsets, b_offsets;  // per output matrix, offset of its A and B matrix
};

Result<MatMulPlan> PlanMatMul(const KernelContext& ctx, Shape a, Shape b) {
  if (a.empty() || b.empty())
    return ctx.Error("MatMul operands must have rank >= 1, got ", ShapeToString(a), " and ",
                     ShapeToString(b));
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  MatMulPlan p;
  p.m = a[a.size() - 2];
  p.k = a.back();
  p.n = b.back();
  if (b[b.size() - 2] != p.k)
    return ctx.Error("inner dimensions differ: A is ", ShapeToString(a), " and B is ",
                     ShapeToString(b), " (expected A[-1] == B[-2])");
  Shape a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  Result<Shape> batch = BroadcastShapes({a_batch, b_batch});
  if (!batch.ok()) return ctx.Error("batch dimensions: ", batch.status().message());
  p.out_shape = *batch;
  if (!a_vec) p.out_shape.push_back(p.m);
  if (!b_vec) p.out_shape.push_back(p.n);
  ForEachBroadcast(*batch, {BroadcastStrides(a_batch, *batch), BroadcastStrides(b_batch, *batch)},
                   [&](int64_t, const std::vector<int64_t>& off) {
                     p.a_offsets.push_back(off[0] * p.m * p.k);
                     p.b_offsets.push_back(off[1] * p.k * p.n);
                   });
  return p;
}

// out[batch, i, j] = sum_l a[batch, i, l] * b[batch, l, j], accumulated in Acc.
template <class Acc>
std::vector<Acc> BatchedMatMul(const MatMulPlan& p, const std::vector<Acc>& a,
                               const std::vector<Acc>& b) {
  std::vector<Acc> out(p.a_offsets.size() * p.m * p.n, Acc(0));
  for (size_t batch = 0; batch < p.a_offsets.size(); ++batch) {
    const Acc* am = a.data() + p.a_offsets[batch];
    const Acc* bm = b.data() + p.b_offsets[batch];
    Acc* om = out.data() + batch * p.m * p.n;
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t l = 0; l < p.k; ++l)
        for (int64_t j = 0; j < p.n; ++j) om[i * p.n + j] += am[i * p.k + l] * bm[l * p.n + j];
  }
  return out;
}

template <class Acc, class T>
std::vector<Acc> ToAcc(const Tensor& t) {
  const T* d = t.data<T>();
  std::vector<Acc> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = CastValue<Acc>(d[i]);
  return v;
}

Status MatMul(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequireInput(1));
  if (a->dtype() != b->dtype())
    return ctx.Error("A and B must have the same type, got ", DTypeName(a->dtype()), " and ",
                     DTypeName(b->dtype()));
  PE_ASSIGN_OR_RETURN(MatMulPlan p, PlanMatMul(ctx, a->shape(), b->shape()));
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, a->dtype(), p.out_shape));
  return DispatchNumeric(a->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using Acc = AccOf<T>;
    std::vector<Acc> r = BatchedMatMul(p, ToAcc<Acc, T>(*a), ToAcc<Acc, T>(*b));
    T* o = out->data<T>();
    for (size_t i = 0; i < r.size(); ++i) o[i] = CastValue<T>(r[i]);
    return Status::OK();
  });
}

// com.privedge.FusedMatMul(A, W, b), written by the optimizer: MatMul(A, W) + b over the last
// axis, then the activation ("Relu" or "" for none). Float types only.
Status FusedMatMul(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* bias, ctx.RequireInput(2));
  const std::string act = ctx.attr_string("activation", "");
  if (act != "" && act != "Relu") return ctx.Error("unsupported activation '", act, "'");
  PE_RETURN_IF_ERROR(MatMul(ctx));
  Tensor& out = ctx.outputs()[0].tensor;
  if (!IsFloatingDType(out.dtype()) || bias->dtype() != out.dtype())
    return ctx.Error("A, W and b must have one float type, got ", DTypeName(out.dtype()), " and ",
                     DTypeName(bias->dtype()));
  const int64_t n = out.rank() == 0 ? 1 : out.dim(-1);
  if (bias->numel() != n)
    return ctx.Error("b has ", bias->numel(), " values, expected ", n, " (the output's last axis)");
  return DispatchFloat(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T* b = bias->data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) {
      const double v = CastValue<double>(o[i]) + CastValue<double>(b[i % n]);
      o[i] = CastValue<T>(act == "Relu" && v < 0 ? 0.0 : v);
    }
    return Status::OK();
  });
}

// Subtracts an optional zero point from an 8-bit operand. The zero point is a scalar (per
// tensor), a 1-D vector (per row of A / per column of B), or an N-D tensor broadcastable to
// the operand ([..., M, 1] for A, [..., 1, N] for B).
Result<std::vector<int64_t>> ShiftByZeroPoint(const KernelContext& ctx, const Tensor& x,
                                              int zp_index, bool per_row) {
  std::vector<int64_t> v = ToInt64Vector(x);
  const Tensor* zp = ctx.input(zp_index);
  if (zp == nullptr) return v;
  if (zp->dtype() != x.dtype())
    return ctx.Error("zero point ", zp_index, " must have the operand's type ",
                     DTypeName(x.dtype()), ", got ", DTypeName(zp->dtype()));
  Shape zp_shape = zp->shape();
  if (zp_shape.size() == 1 && zp->numel() != 1 && x.rank() >= 2)
    zp_shape = per_row ? Shape{zp_shape[0], 1} : Shape{1, zp_shape[0]};
  Result<Shape> both = BroadcastShapes({x.shape(), zp_shape});
  if (zp->numel() != 1 && (!both.ok() || *both != x.shape()))
    return ctx.Error("zero point ", zp_index, " of shape ", ShapeToString(zp->shape()),
                     " does not fit operand of shape ", ShapeToString(x.shape()));
  std::vector<int64_t> zv = ToInt64Vector(*zp);
  if (zp->numel() == 1) {
    for (int64_t& e : v) e -= zv[0];
    return v;
  }
  ForEachBroadcast(x.shape(), {BroadcastStrides(zp_shape, x.shape())},
                   [&](int64_t i, const std::vector<int64_t>& off) { v[i] -= zv[off[0]]; });
  return v;
}

Status MatMulInteger(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequireInput(1));
  for (const Tensor* t : {a, b}) {
    if (t->dtype() != DType::kInt8 && t->dtype() != DType::kUInt8)
      return ctx.Error("A and B must be int8 or uint8, got ", DTypeName(t->dtype()));
  }
  PE_ASSIGN_OR_RETURN(MatMulPlan p, PlanMatMul(ctx, a->shape(), b->shape()));
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> av, ShiftByZeroPoint(ctx, *a, 2, true));
  PE_ASSIGN_OR_RETURN(std::vector<int64_t> bv, ShiftByZeroPoint(ctx, *b, 3, false));
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, DType::kInt32, p.out_shape));
  std::vector<int64_t> r = BatchedMatMul(p, av, bv);
  int32_t* o = out->data<int32_t>();
  for (size_t i = 0; i < r.size(); ++i) o[i] = static_cast<int32_t>(r[i]);
  return Status::OK();
}

// Y = alpha * op(A) * op(B) + beta * C, with C unidirectionally broadcast to [M, N].
Status Gemm(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* a, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* b, ctx.RequireInput(1));
  const Tensor* c = ctx.input(2);
  if (a->rank() != 2 || b->rank() != 2)
    return ctx.Error("A and B must be 2-D, got ", ShapeToString(a->shape()), " and ",
                     ShapeToString(b->shape()));
  for (const Tensor* t : {b, c}) {
    if (t != nullptr && t->dtype() != a->dtype())
      return ctx.Error("inputs must share A's type ", DTypeName(a->dtype()), ", got ",
                       DTypeName(t->dtype()));
  }
  const bool ta = ctx.attr_int("transA", 0) != 0, tb = ctx.attr_int("transB", 0) != 0;
  const double alpha = ctx.attr_float("alpha", 1.0f), beta = ctx.attr_float("beta", 1.0f);
  const int64_t m = ta ? a->dim(1) : a->dim(0), k = ta ? a->dim(0) : a->dim(1);
  const int64_t kb = tb ? b->dim(1) : b->dim(0), n = tb ? b->dim(0) : b->dim(1);
  if (k != kb)
    return ctx.Error("inner dimensions differ: op(A) is [", m, ",", k, "] and op(B) is [", kb,
                     ",", n, "]");
  const Shape out_shape = {m, n};
  std::vector<int64_t> c_strides;
  if (c != nullptr) {
    Result<Shape> bc = BroadcastShapes({c->shape(), out_shape});
    if (c->rank() > 2 || !bc.ok() || *bc != out_shape)
      return ctx.Error("C of shape ", ShapeToString(c->shape()),
                       " cannot be broadcast to [", m, ",", n, "]");
    c_strides = BroadcastStrides(c->shape(), out_shape);
  }
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, a->dtype(), out_shape));
  return DispatchNumeric(a->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using Acc = AccOf<T>;
    const T* ad = a->data<T>();
    const T* bd = b->data<T>();
    T* o = out->data<T>();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        Acc sum = 0;
        for (int64_t l = 0; l < k; ++l) {
          const T av = ta ? ad[l * m + i] : ad[i * k + l];
          const T bv = tb ? bd[j * k + l] : bd[l * n + j];
          sum += CastValue<Acc>(av) * CastValue<Acc>(bv);
        }
        double y = alpha * static_cast<double>(sum);
        if (c != nullptr)
          y += beta * CastValue<double>(c->data<T>()[i * c_strides[0] + j * c_strides[1]]);
        o[i * n + j] = CastValue<T>(y);
      }
    }
    return Status::OK();
  });
}

// Determinant by LU decomposition with partial pivoting, in double.
double Determinant(std::vector<double> a, int64_t n) {
  double det = 1.0;
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r * n + col]) > std::fabs(a[pivot * n + col])) pivot = r;
    if (a[pivot * n + col] == 0.0) return 0.0;
    if (pivot != col) {
      for (int64_t j = 0; j < n; ++j) std::swap(a[col * n + j], a[pivot * n + j]);
      det = -det;
    }
    const double d = a[col * n + col];
    det *= d;
    for (int64_t r = col + 1; r < n; ++r) {
      const double f = a[r * n + col] / d;
      for (int64_t j = col + 1; j < n; ++j) a[r * n + j] -= f * a[col * n + j];
    }
  }
  return det;
}

Status Det(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->rank() < 2 || x->dim(-1) != x->dim(-2))
    return ctx.Error("input must be [*, M, M], got ", ShapeToString(x->shape()));
  const int64_t n = x->dim(-1);
  const Shape out_shape(x->shape().begin(), x->shape().end() - 2);
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, x->dtype(), out_shape));
  return DispatchFloat(x->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* in = x->data<T>();
    T* o = out->data<T>();
    std::vector<double> m(static_cast<size_t>(n * n));
    for (int64_t batch = 0; batch < out->numel(); ++batch) {
      for (int64_t i = 0; i < n * n; ++i) m[i] = CastValue<double>(in[batch * n * n + i]);
      o[batch] = CastValue<T>(Determinant(m, n));
    }
    return Status::OK();
  });
}

}  // namespace

void RegisterMatMulKernels(KernelRegistry& r) {
  r.Add("MatMul", MatMul);
  r.Add("MatMulInteger", MatMulInteger);
  r.Add("Gemm", Gemm);
  r.Add("Det", Det);
  r.Add("FusedMatMul", FusedMatMul, "com.privedge");
  RegisterEinsumKernel(r);
}

}  // namespace privedge
