// Cast and CastLike: between every numeric type, bool and string. Numbers print like numpy's
// str() of a scalar (shortest round-trip digits), which is what the ONNX test data holds.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/reference/elementwise_common.h"

namespace privedge {
namespace {

using namespace elementwise;  // NOLINT: this file's own helper namespace

// Shortest scientific notation that reads back as `v` ("4.7892547e-01").
template <class T>
std::string ShortestScientific(T v) {
  char buf[64];
  if constexpr (std::is_floating_point_v<T>) {
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    return std::string(buf, res.ptr);
  } else {
    // 16-bit floats: to_chars does not know them; try more digits until the text reads back.
    const float f = static_cast<float>(v);
    for (int digits = 0; digits < 9; ++digits) {
      std::snprintf(buf, sizeof buf, "%.*e", digits, static_cast<double>(f));
      if (T(std::strtof(buf, nullptr)).bits == v.bits) break;
    }
    return buf;
  }
}

// numpy's scalar str(): positional for 0 and 1e-4 <= |v| < 1e16, scientific otherwise, with
// the shortest digits; "NaN", "INF" and "-INF" as in the ONNX test data.
template <class T>
std::string FormatFloat(T value) {
  const double d = static_cast<double>(Widen(value));
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "INF" : "-INF";
  const std::string sci = ShortestScientific(value);
  // Split "-d.ddde+XX" into sign, digits and decimal exponent.
  const size_t e_pos = sci.find('e');
  bool negative = false;
  std::string digits;
  for (size_t i = 0; i < e_pos; ++i) {
    if (sci[i] == '-') negative = true;
    else if (sci[i] != '.') digits += sci[i];
  }
  const int exp = std::atoi(sci.c_str() + e_pos + 1);
  const double mag = std::fabs(d);
  const int n = static_cast<int>(digits.size());
  // Appended piecewise: some std::string assignments trip a GCC 12 -Wrestrict false alarm.
  std::string out;
  if (negative) out += '-';
  if (mag == 0 || (mag >= 1e-4 && mag < 1e16)) {
    if (exp < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
      return out;
    }
    out.append(digits, 0, static_cast<size_t>(std::min(n, exp + 1)));
    out.append(static_cast<size_t>(std::max(0, exp + 1 - n)), '0');
    out += '.';
    if (n > exp + 1) out.append(digits, static_cast<size_t>(exp + 1));
    else out += '0';
    return out;
  }
  out += digits[0];
  if (n > 1) {
    out += '.';
    out.append(digits, 1);
  }
  out += exp < 0 ? "e-" : "e+";
  if (std::abs(exp) < 10) out += '0';
  out += std::to_string(std::abs(exp));
  return out;
}

template <class T>
std::string ToText(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "True" : "False";
  } else if constexpr (kIsFloat<T>) {
    return FormatFloat(v);
  } else {
    return std::to_string(v);
  }
}

// Parses a whole string (surrounding blanks allowed) as a number of type P.
template <class P>
bool ParseAs(const char* begin, const char* end, P& out) {
  auto res = std::from_chars(begin, end, out);
  if (res.ec == std::errc::result_out_of_range && std::is_floating_point_v<P>) {
    // from_chars leaves `out` alone on overflow / underflow; strtod gives +-inf or 0.
    std::string s(begin, end);
    char* stop = nullptr;
    out = static_cast<P>(std::strtod(s.c_str(), &stop));
    return stop == s.c_str() + s.size();
  }
  return res.ec == std::errc() && res.ptr == end;
}

template <class To>
bool ParseText(const std::string& text, To& out) {
  size_t b = text.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return false;
  size_t e = text.find_last_not_of(" \t\n\r") + 1;
  if (text[b] == '+' && b + 1 < e && text[b + 1] != '-') ++b;  // from_chars takes no '+'
  const char* first = text.data() + b;
  const char* last = text.data() + e;
  if constexpr (std::is_same_v<To, bool>) {
    std::string word(first, last);
    if (word == "True" || word == "true") return out = true, true;
    if (word == "False" || word == "false") return out = false, true;
  }
  if constexpr (std::is_same_v<To, float> || std::is_same_v<To, double> || kIsInt<To>) {
    if (ParseAs(first, last, out)) return true;
  }
  // Everything else (and integers written as "1e3" or "2.5") reads as double, then converts.
  double d = 0;
  if (!ParseAs(first, last, d)) return false;
  out = Convert<To>(d);
  return true;
}

Status CastFromString(KernelContext& ctx, const Tensor& x, DType to) {
  const std::string* in = x.data<std::string>();
  return Named(ctx, DispatchPod(to, [&](auto tag) -> Status {
    using To = decltype(tag);
    for (int64_t i = 0; i < x.numel(); ++i) {
      To v{};
      if (!ParseText(in[i], v))
        return ctx.Error("string element ", i, " ('", in[i], "') is not a ", DTypeName(to),
                         " number");
    }
    return UnaryMap<std::string, To>(ctx, x, [](const std::string& s) {
      To v{};
      ParseText(s, v);
      return v;
    });
  }));
}

Status CastTo(KernelContext& ctx, const Tensor& x, DType to) {
  if (to == DType::kString && x.dtype() == DType::kString) {
    ctx.set_output(0, x);
    return Status::OK();
  }
  if (x.dtype() == DType::kString) return CastFromString(ctx, x, to);
  return Named(ctx, DispatchPod(x.dtype(), [&](auto in_tag) -> Status {
    using From = decltype(in_tag);
    if (to == DType::kString)
      return UnaryMap<From, std::string>(ctx, x, [](From v) { return ToText(v); });
    return DispatchPod(to, [&](auto out_tag) -> Status {
      using To = decltype(out_tag);
      return UnaryMap<From, To>(ctx, x, [](From v) { return Convert<To>(v); });
    });
  }));
}

Status Cast(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (!ctx.has_attr("to")) return ctx.Error("attribute 'to' is required");
  const int64_t to = ctx.attr_int("to", 0);
  if (to < 0 || to > 1000 || !IsValidDType(static_cast<int32_t>(to)))
    return ctx.Error("attribute 'to' is ", to, ", which is not a supported tensor type");
  return CastTo(ctx, *x, static_cast<DType>(to));
}

Status CastLike(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(std::vector<const Tensor*> in, RequireInputs(ctx, 2));
  return CastTo(ctx, *in[0], in[1]->dtype());
}

}  // namespace

void RegisterElementwiseCastKernels(KernelRegistry& r) {
  r.Add("Cast", Cast);
  r.Add("CastLike", CastLike);
}

}  // namespace privedge
