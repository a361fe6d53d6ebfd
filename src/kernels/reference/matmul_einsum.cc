// Einsum: a general Einstein summation over any number of operands, with explicit or implicit
// output, repeated labels (diagonals), and ellipsis broadcasting.
#include <algorithm>
#include <string>

#include "core/dispatch.h"
#include "kernels/kernel_util.h"
#include "kernels/reference/reduction_common.h"

namespace privedge {
namespace {

// Labels are numbered so that their order matches ASCII order ('A'..'Z' then 'a'..'z'), which
// is the order of an implicit output; ellipsis axes get the numbers after the letters.
constexpr int kLetterCount = 52;

int LetterLabel(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

std::string LabelName(int label) {
  if (label >= kLetterCount) return "...";
  return std::string(1, static_cast<char>(label < 26 ? 'A' + label : 'a' + label - 26));
}

// One side of a term: its letters, and where the ellipsis sits (-1 when there is none).
struct Term {
  std::vector<int> letters;
  int ellipsis_at = -1;  // index into `letters` before which the ellipsis axes go
};

Result<Term> ParseTerm(const KernelContext& ctx, const std::string& s) {
  Term t;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 3, "...") == 0) {
      if (t.ellipsis_at >= 0) return ctx.Error("term '", s, "' has more than one ellipsis");
      t.ellipsis_at = static_cast<int>(t.letters.size());
      i += 2;
      continue;
    }
    const int label = LetterLabel(s[i]);
    if (label < 0) return ctx.Error("invalid character '", s[i], "' in equation term '", s, "'");
    t.letters.push_back(label);
  }
  return t;
}

// The equation resolved against the operand shapes: a label per operand axis and per output
// axis, and the extent of every label.
struct EinsumPlan {
  std::vector<std::vector<int>> operand_labels;
  std::vector<int> output_labels;
  std::vector<int64_t> extent;  // per label, -1 when unused
};

Result<EinsumPlan> PlanEinsum(const KernelContext& ctx, std::string eq,
                              const std::vector<const Tensor*>& xs) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    PE_ASSIGN_OR_RETURN(Term t, ParseTerm(ctx, lhs.substr(start, comma - start)));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != xs.size())
    return ctx.Error("equation '", eq, "' has ", terms.size(), " terms but ", xs.size(),
                     " inputs were given");
  // Ellipsis axes are right-aligned across operands, like numpy broadcasting.
  int64_t ellipsis_rank = 0;
  std::vector<int64_t> operand_ellipsis(xs.size(), 0);
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t extra = static_cast<int64_t>(xs[i]->rank()) -
                          static_cast<int64_t>(terms[i].letters.size());
    if (extra < 0 || (extra > 0 && terms[i].ellipsis_at < 0))
      return ctx.Error("term ", i, " has ", terms[i].letters.size(), " labels but input ", i,
                       " has shape ", ShapeToString(xs[i]->shape()));
    operand_ellipsis[i] = extra;
    ellipsis_rank = std::max(ellipsis_rank, extra);
  }
  EinsumPlan p;
  p.extent.assign(kLetterCount + ellipsis_rank, -1);
  std::vector<int> count(p.extent.size(), 0);
  for (size_t i = 0; i < xs.size(); ++i) {
    std::vector<int>& labels = p.operand_labels.emplace_back();
    const Term& t = terms[i];
    for (size_t j = 0; j <= t.letters.size(); ++j) {
      if (static_cast<int>(j) == t.ellipsis_at)
        for (int64_t e = ellipsis_rank - operand_ellipsis[i]; e < ellipsis_rank; ++e)
          labels.push_back(static_cast<int>(kLetterCount + e));
      if (j < t.letters.size()) labels.push_back(t.letters[j]);
    }
    for (size_t axis = 0; axis < labels.size(); ++axis) {
      const int label = labels[axis];
      const int64_t d = xs[i]->dim(static_cast<int64_t>(axis));
      int64_t& ext = p.extent[label];
      ++count[label];
      const bool broadcastable = label >= kLetterCount && (ext == 1 || d == 1);
      if (ext < 0 || (broadcastable && ext == 1)) {
        ext = d;
      } else if (ext != d && !broadcastable) {
        return ctx.Error("label '", LabelName(label), "' (axis ", axis, " of input ", i,
                         ") has extent ", d, " but extent ", ext, " elsewhere");
      }
    }
  }
  if (arrow == std::string::npos) {
    for (int64_t e = 0; e < ellipsis_rank; ++e)
      p.output_labels.push_back(static_cast<int>(kLetterCount + e));
    for (int label = 0; label < kLetterCount; ++label)
      if (count[label] == 1) p.output_labels.push_back(label);
  } else {
    PE_ASSIGN_OR_RETURN(Term out, ParseTerm(ctx, eq.substr(arrow + 2)));
    for (size_t j = 0; j <= out.letters.size(); ++j) {
      if (static_cast<int>(j) == out.ellipsis_at)
        for (int64_t e = 0; e < ellipsis_rank; ++e)
          p.output_labels.push_back(static_cast<int>(kLetterCount + e));
      if (j == out.letters.size()) break;
      const int label = out.letters[j];
      if (count[label] == 0)
        return ctx.Error("output label '", LabelName(label),
                         "' does not appear in any input term");
      if (std::count(out.letters.begin(), out.letters.end(), label) > 1)
        return ctx.Error("output term '", eq.substr(arrow + 2), "' repeats a label");
      p.output_labels.push_back(label);
    }
  }
  return p;
}

// Walks every combination of label values (output labels outermost) and accumulates the
// product of the operands into the output element it belongs to.
template <class T>
Status RunEinsum(const KernelContext& ctx, const EinsumPlan& p,
                 const std::vector<const Tensor*>& xs, T* out, int64_t out_count) {
  using Acc = AccOf<T>;
  std::vector<int> loop = p.output_labels;
  for (int label = 0; label < static_cast<int>(p.extent.size()); ++label)
    if (p.extent[label] >= 0 && std::find(loop.begin(), loop.end(), label) == loop.end())
      loop.push_back(label);
  // Stride of each loop label in each operand; a repeated label adds its strides (diagonal),
  // and broadcast (extent 1) ellipsis axes do not move.
  std::vector<std::vector<int64_t>> strides(xs.size(), std::vector<int64_t>(loop.size(), 0));
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::vector<int64_t> cs = ContiguousStrides(xs[i]->shape());
    for (size_t axis = 0; axis < p.operand_labels[i].size(); ++axis) {
      if (xs[i]->dim(static_cast<int64_t>(axis)) == 1) continue;
      const size_t pos = std::find(loop.begin(), loop.end(), p.operand_labels[i][axis]) -
                         loop.begin();
      strides[i][pos] += cs[axis];
    }
  }
  std::vector<int64_t> sizes;
  for (int label : loop) sizes.push_back(p.extent[label]);
  // The loop visits every label combination; refuse counts that would overflow or never end.
  constexpr int64_t kMaxSteps = int64_t{1} << 40;
  int64_t total = 1;
  for (int64_t s : sizes) {
    if (s == 0) {
      total = 0;
      break;
    }
    if (total > kMaxSteps / s)
      return ctx.Error("the equation needs more than 2^40 multiply-adds; refusing");
    total *= s;
  }
  const int64_t per_output = out_count > 0 ? total / out_count : 0;
  std::vector<Acc> acc(static_cast<size_t>(out_count), Acc(0));
  std::vector<int64_t> idx(loop.size(), 0), off(xs.size(), 0);
  for (int64_t flat = 0; flat < total; ++flat) {
    Acc prod = 1;
    for (size_t i = 0; i < xs.size(); ++i) prod *= CastValue<Acc>(xs[i]->data<T>()[off[i]]);
    acc[flat / per_output] += prod;
    for (int64_t ax = static_cast<int64_t>(loop.size()) - 1; ax >= 0; --ax) {
      if (++idx[ax] < sizes[ax]) {
        for (size_t i = 0; i < xs.size(); ++i) off[i] += strides[i][ax];
        break;
      }
      for (size_t i = 0; i < xs.size(); ++i) off[i] -= strides[i][ax] * (sizes[ax] - 1);
      idx[ax] = 0;
    }
  }
  for (int64_t o = 0; o < out_count; ++o) out[o] = CastValue<T>(acc[o]);
  return Status::OK();
}

Status Einsum(KernelContext& ctx) {
  if (ctx.num_inputs() < 1) return ctx.Error("Einsum needs at least one input");
  std::vector<const Tensor*> xs;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(i));
    if (!xs.empty() && x->dtype() != xs[0]->dtype())
      return ctx.Error("all inputs must share one type, got ", DTypeName(xs[0]->dtype()),
                       " and ", DTypeName(x->dtype()));
    xs.push_back(x);
  }
  if (!ctx.has_attr("equation")) return ctx.Error("attribute equation is required");
  PE_ASSIGN_OR_RETURN(EinsumPlan p, PlanEinsum(ctx, ctx.attr_string("equation", ""), xs));
  Shape out_shape;
  for (int label : p.output_labels) out_shape.push_back(p.extent[label]);
  PE_ASSIGN_OR_RETURN(Tensor * out, ctx.AllocateOutput(0, xs[0]->dtype(), out_shape));
  return DispatchNumeric(xs[0]->dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    return RunEinsum<T>(ctx, p, xs, out->data<T>(), out->numel());
  });
}

}  // namespace

void RegisterEinsumKernel(KernelRegistry& r) { r.Add("Einsum", Einsum); }

}  // namespace privedge
