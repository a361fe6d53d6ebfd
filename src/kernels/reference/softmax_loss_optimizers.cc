// Training optimizers of the ai.onnx.preview.training domain: Adagrad, Adam, Momentum.
// Each updates any number of tensors X1..Xn at once; inputs are R (learning rate), T (update
// count), then In groups of n tensors (X..., G..., state...), and outputs are Out groups of n.
#include <array>
#include <cmath>
#include <string>

#include "kernels/kernel_util.h"
#include "kernels/reference/reduction_common.h"

namespace privedge {
namespace {

constexpr char kTrainingDomain[] = "ai.onnx.preview.training";

// Calls update(r, t, inputs) -> outputs for every element of every optimized tensor.
template <size_t In, size_t Out, class F>
Status RunOptimizer(KernelContext& ctx, F&& update) {
  const int groups = ctx.num_inputs() - 2;
  if (groups <= 0 || groups % static_cast<int>(In) != 0)
    return ctx.Error("expected R, T and ", In, " groups of equally many tensors, got ",
                     ctx.num_inputs(), " inputs");
  const int n = groups / static_cast<int>(In);
  if (ctx.num_outputs() > static_cast<int>(Out) * n)
    return ctx.Error("expected at most ", Out * n, " outputs, got ", ctx.num_outputs());
  PE_ASSIGN_OR_RETURN(const Tensor* r_in, ctx.RequireInput(0));
  PE_ASSIGN_OR_RETURN(const Tensor* t_in, ctx.RequireInput(1));
  if (!IsFloatingDType(r_in->dtype()) || r_in->numel() != 1)
    return ctx.Error("R must be a float scalar, got ", DTypeName(r_in->dtype()), " ",
                     ShapeToString(r_in->shape()));
  if (!IsIntegerDType(t_in->dtype()) || t_in->numel() != 1)
    return ctx.Error("T must be an integer scalar, got ", DTypeName(t_in->dtype()), " ",
                     ShapeToString(t_in->shape()));
  const double r = r_in->GetAsDouble(0);
  const int64_t t = t_in->GetAsInt64(0);
  for (int j = 0; j < n; ++j) {
    std::array<const Tensor*, In> in{};
    for (size_t q = 0; q < In; ++q) {
      PE_ASSIGN_OR_RETURN(in[q], ctx.RequireInput(2 + static_cast<int>(q) * n + j));
      if (!IsFloatingDType(in[q]->dtype()) || in[q]->shape() != in[0]->shape())
        return ctx.Error("input ", 2 + q * n + j, " must be a float tensor of shape ",
                         ShapeToString(in[0]->shape()), ", got ", DTypeName(in[q]->dtype()),
                         " ", ShapeToString(in[q]->shape()));
    }
    const int64_t count = in[0]->numel();
    std::array<std::vector<double>, Out> results;
    for (auto& v : results) v.resize(static_cast<size_t>(count));
    for (int64_t e = 0; e < count; ++e) {
      std::array<double, In> values;
      for (size_t q = 0; q < In; ++q) values[q] = in[q]->GetAsDouble(e);
      const std::array<double, Out> res = update(r, t, values);
      for (size_t q = 0; q < Out; ++q) results[q][e] = res[q];
    }
    for (size_t q = 0; q < Out; ++q) {
      const int index = static_cast<int>(q) * n + j;
      if (!ctx.wants_output(index)) continue;
      PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(index, in[0]->dtype(), in[0]->shape()));
      PE_RETURN_IF_ERROR(StoreDoubles(results[q], out));
    }
  }
  return Status::OK();
}

// Inputs per tensor: X, G, H (accumulated squared gradient). Outputs: X_new, H_new.
Status Adagrad(KernelContext& ctx) {
  const double decay = ctx.attr_float("decay_factor", 0.0f);
  const double epsilon = ctx.attr_float("epsilon", 1e-6f);
  const double norm = ctx.attr_float("norm_coefficient", 0.0f);
  return RunOptimizer<3, 2>(ctx, [&](double r, int64_t t, const std::array<double, 3>& v) {
    const auto [x, g, h] = v;
    const double rate = r / (1.0 + static_cast<double>(t) * decay);
    const double g_reg = norm * x + g;
    const double h_new = h + g_reg * g_reg;
    return std::array<double, 2>{x - rate * g_reg / (std::sqrt(h_new) + epsilon), h_new};
  });
}

// Inputs per tensor: X, G, V (first moment), H (second moment). Outputs: X_new, V_new, H_new.
Status Adam(KernelContext& ctx) {
  const double alpha = ctx.attr_float("alpha", 0.9f);
  const double beta = ctx.attr_float("beta", 0.999f);
  const double epsilon = ctx.attr_float("epsilon", 1e-6f);
  const double norm = ctx.attr_float("norm_coefficient", 0.0f);
  const double norm_post = ctx.attr_float("norm_coefficient_post", 0.0f);
  return RunOptimizer<4, 3>(ctx, [&](double r, int64_t t, const std::array<double, 4>& in) {
    const auto [x, g, v, h] = in;
    const double g_reg = norm * x + g;
    const double v_new = alpha * v + (1 - alpha) * g_reg;
    const double h_new = beta * h + (1 - beta) * g_reg * g_reg;
    // Bias correction only once at least one update has happened.
    const double td = static_cast<double>(t);
    const double rate =
        t > 0 ? r * std::sqrt(1 - std::pow(beta, td)) / (1 - std::pow(alpha, td)) : r;
    const double x_new = x - rate * v_new / (std::sqrt(h_new) + epsilon);
    return std::array<double, 3>{(1 - norm_post) * x_new, v_new, h_new};
  });
}

// Inputs per tensor: X, G, V (momentum). Outputs: X_new, V_new.
Status Momentum(KernelContext& ctx) {
  for (const char* name : {"alpha", "beta", "mode", "norm_coefficient"})
    if (!ctx.has_attr(name)) return ctx.Error("attribute ", name, " is required");
  const double alpha = ctx.attr_float("alpha", 0.0f);
  const double beta = ctx.attr_float("beta", 0.0f);
  const double norm = ctx.attr_float("norm_coefficient", 0.0f);
  const std::string mode = ctx.attr_string("mode", "");
  if (mode != "standard" && mode != "nesterov")
    return ctx.Error("mode must be standard or nesterov, got '", mode, "'");
  const bool nesterov = mode == "nesterov";
  return RunOptimizer<3, 2>(ctx, [&](double r, int64_t t, const std::array<double, 3>& in) {
    const auto [x, g, v] = in;
    const double g_reg = norm * x + g;
    // The gradient enters with coefficient 1 on the first update.
    const double v_new = alpha * v + (t > 0 ? beta : 1.0) * g_reg;
    const double step = nesterov ? g_reg + alpha * v_new : v_new;
    return std::array<double, 2>{x - r * step, v_new};
  });
}

}  // namespace

void RegisterOptimizerKernels(KernelRegistry& r) {
  r.Add("Adagrad", Adagrad, kTrainingDomain);
  r.Add("Adam", Adam, kTrainingDomain);
  r.Add("Momentum", Momentum, kTrainingDomain);
}

}  // namespace privedge
