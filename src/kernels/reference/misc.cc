// Misc family: registration, StringNormalizer and TfIdfVectorizer. The random generators live
// in misc_random.cc.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kernels/kernel_util.h"
#include "kernels/reference/families.h"
#include "kernels/reference/misc_kernels.h"

namespace privedge {
namespace {

// ---- Case mapping ----
// Simple one-to-one case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic;
// other code points (and bytes that are not valid UTF-8) pass through unchanged. The 'locale'
// attribute is accepted but not consulted.

// Decodes the UTF-8 sequence at s[i]; returns its length, or 0 when it is not valid UTF-8.
size_t DecodeUtf8(const std::string& s, size_t i, char32_t* cp) {
  const unsigned char b0 = static_cast<unsigned char>(s[i]);
  size_t len = b0 < 0x80           ? 1
               : (b0 >> 5) == 0x6  ? 2
               : (b0 >> 4) == 0xE  ? 3
               : (b0 >> 3) == 0x1E ? 4
                                   : 0;
  if (len == 0 || i + len > s.size()) return 0;
  char32_t c = len == 1 ? b0 : b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    const unsigned char b = static_cast<unsigned char>(s[i + k]);
    if ((b >> 6) != 0x2) return 0;
    c = (c << 6) | (b & 0x3F);
  }
  *cp = c;
  return len;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// Latin Extended-A alternates upper/lower in pairs; the parity flips in 0139-0148 and 0179-017E.
bool LatinExtAIsUpper(char32_t c) {
  const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
  return odd_upper ? (c & 1) == 1 : (c & 1) == 0;
}
bool InLatinExtAPairs(char32_t c) {
  return (c >= 0x100 && c <= 0x137) || (c >= 0x139 && c <= 0x148) || (c >= 0x14A && c <= 0x177) ||
         (c >= 0x179 && c <= 0x17E);
}

char32_t MapCase(char32_t c, bool upper) {
  auto shift = [&](char32_t lo_first, char32_t lo_last, char32_t up_first, char32_t up_last,
                   char32_t delta, char32_t* r) {
    if (upper && c >= lo_first && c <= lo_last) {
      *r = c - delta;
    } else if (!upper && c >= up_first && c <= up_last) {
      *r = c + delta;
    } else {
      return false;
    }
    return true;
  };
  char32_t r = c;
  if (c == 0xD7 || c == 0xF7 || c == 0x3A2 || c == 0x3C2) return c;  // x, /, final sigma gap
  if (shift(U'a', U'z', U'A', U'Z', 0x20, &r) || shift(0xE0, 0xFE, 0xC0, 0xDE, 0x20, &r) ||
      shift(0x3B1, 0x3C9, 0x391, 0x3A9, 0x20, &r) || shift(0x430, 0x44F, 0x410, 0x42F, 0x20, &r) ||
      shift(0x450, 0x45F, 0x400, 0x40F, 0x50, &r))
    return r;
  if (InLatinExtAPairs(c)) {
    const bool is_upper = LatinExtAIsUpper(c);
    // Each pair is (upper, lower) in that order.
    if (upper && !is_upper) return c - 1;
    if (!upper && is_upper) return c + 1;
  }
  return c;
}

std::string ChangeCase(const std::string& s, bool upper) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const size_t len = DecodeUtf8(s, i, &cp);
    if (len == 0) {
      out.push_back(s[i++]);
      continue;
    }
    AppendUtf8(MapCase(cp, upper), &out);
    i += len;
  }
  return out;
}

// ---- StringNormalizer ----

Status StringNormalizer(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->dtype() != DType::kString)
    return ctx.Error("input must be a string tensor, got ", DTypeName(x->dtype()));
  const bool two_d = x->rank() == 2;
  if (!(x->rank() == 1 || (two_d && x->dim(0) == 1)))
    return ctx.Error("input must be [C] or [1, C], got ", ShapeToString(x->shape()));
  const std::string action = ctx.attr_string("case_change_action", "NONE");
  if (action != "NONE" && action != "LOWER" && action != "UPPER")
    return ctx.Error("case_change_action must be NONE, LOWER or UPPER, got '", action, "'");
  const bool case_sensitive = ctx.attr_int("is_case_sensitive", 0) != 0;
  std::set<std::string> stopwords;
  for (const std::string& w : ctx.attr_strings("stopwords"))
    stopwords.insert(case_sensitive ? w : ChangeCase(w, false));

  std::vector<std::string> kept;
  const std::string* in = x->data<std::string>();
  for (int64_t i = 0; i < x->numel(); ++i) {
    const std::string& s = in[i];
    if (stopwords.count(case_sensitive ? s : ChangeCase(s, false))) continue;
    kept.push_back(action == "NONE" ? s : ChangeCase(s, action == "UPPER"));
  }
  // An all-dropped input still yields one empty string.
  if (kept.empty()) kept.emplace_back();
  const int64_t n = static_cast<int64_t>(kept.size());
  ctx.set_output(0, Tensor::FromVector(kept, two_d ? Shape{1, n} : Shape{n}));
  return Status::OK();
}

// ---- TfIdfVectorizer ----

enum class TfIdfMode { kTf, kIdf, kTfIdf };

struct TfIdfParams {
  TfIdfMode mode = TfIdfMode::kTf;
  int64_t min_n = 1, max_n = 1, max_skip = 0;
  std::vector<int64_t> ngram_indexes;
  std::vector<float> weights;
  int64_t width = 0;  // output columns: max(ngram_indexes) + 1
};

// n-gram -> id (its position in the pool), one map per n-gram length (index n - 1).
template <class K>
using NgramPool = std::vector<std::map<std::vector<K>, int64_t>>;

template <class K>
Result<NgramPool<K>> BuildPool(const KernelContext& ctx, const std::vector<K>& items,
                               const std::vector<int64_t>& starts, size_t num_ids) {
  NgramPool<K> pool(starts.size());
  int64_t id = 0;
  const int64_t total = static_cast<int64_t>(items.size());
  for (size_t g = 0; g < starts.size(); ++g) {
    const int64_t n = static_cast<int64_t>(g) + 1;
    const int64_t begin = starts[g];
    const int64_t end = g + 1 < starts.size() ? starts[g + 1] : total;
    if (begin < 0 || begin > end || end > total || (end - begin) % n != 0)
      return ctx.Error("ngram_counts ", g, " gives pool range [", begin, ", ", end,
                       ") which is not a whole number of ", n, "-grams inside the pool of ", total);
    for (int64_t p = begin; p < end; p += n)
      pool[g][std::vector<K>(items.begin() + p, items.begin() + p + n)] = id++;
  }
  if (static_cast<size_t>(id) != num_ids)
    return ctx.Error("the pool holds ", id, " n-grams but ngram_indexes has ", num_ids, " entries");
  return pool;
}

template <class K>
void TfIdfRows(const std::vector<K>& x, int64_t rows, int64_t cols, const NgramPool<K>& pool,
               const TfIdfParams& p, float* out) {
  std::vector<double> counts(p.ngram_indexes.size());
  std::vector<K> key;
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(counts.begin(), counts.end(), 0.0);
    const K* row = x.data() + r * cols;
    const int64_t last_n = std::min<int64_t>(p.max_n, static_cast<int64_t>(pool.size()));
    for (int64_t n = p.min_n; n <= last_n; ++n) {
      const auto& grams = pool[n - 1];
      if (grams.empty()) continue;
      // Unigrams do not depend on the skip, so count them once; skips wider than the row
      // cannot fit a second item.
      const int64_t max_skip = n == 1 ? 0 : std::min(p.max_skip, cols);
      for (int64_t skip = 0; skip <= max_skip; ++skip) {
        const int64_t stride = skip + 1;
        for (int64_t start = 0; start + (n - 1) * stride < cols; ++start) {
          key.clear();
          for (int64_t k = 0; k < n; ++k) key.push_back(row[start + k * stride]);
          auto it = grams.find(key);
          if (it != grams.end()) counts[it->second] += 1;
        }
      }
    }
    for (size_t id = 0; id < counts.size(); ++id) {
      const double w = p.weights.empty() ? 1.0 : p.weights[id];
      double v = counts[id];
      if (p.mode == TfIdfMode::kIdf) v = v > 0 ? w : 0;
      if (p.mode == TfIdfMode::kTfIdf) v *= w;
      out[r * p.width + p.ngram_indexes[id]] = static_cast<float>(v);
    }
  }
}

Result<TfIdfParams> ParseTfIdf(const KernelContext& ctx) {
  TfIdfParams p;
  const std::string mode = ctx.attr_string("mode", "");
  if (mode == "TF") {
    p.mode = TfIdfMode::kTf;
  } else if (mode == "IDF") {
    p.mode = TfIdfMode::kIdf;
  } else if (mode == "TFIDF") {
    p.mode = TfIdfMode::kTfIdf;
  } else {
    return ctx.Error("mode must be TF, IDF or TFIDF, got '", mode, "'");
  }
  p.min_n = ctx.attr_int("min_gram_length", 0);
  p.max_n = ctx.attr_int("max_gram_length", 0);
  p.max_skip = ctx.attr_int("max_skip_count", 0);
  if (p.min_n < 1 || p.max_n < p.min_n || p.max_skip < 0 || p.max_skip > (int64_t{1} << 31))
    return ctx.Error("need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0, got ",
                     p.min_n, ", ", p.max_n, ", ", p.max_skip);
  p.ngram_indexes = ctx.attr_ints("ngram_indexes");
  for (int64_t i : p.ngram_indexes) {
    if (i < 0 || i > (int64_t{1} << 31))
      return ctx.Error("ngram_indexes value ", i, " is out of range");
    p.width = std::max(p.width, i + 1);
  }
  p.weights = ctx.attr_floats("weights");
  if (!p.weights.empty() && p.weights.size() != p.ngram_indexes.size())
    return ctx.Error("weights has ", p.weights.size(), " entries, expected ",
                     p.ngram_indexes.size());
  return p;
}

template <class K>
Status RunTfIdf(KernelContext& ctx, const TfIdfParams& p, const std::vector<K>& items,
                const std::vector<K>& x, const Shape& in_shape) {
  PE_ASSIGN_OR_RETURN(NgramPool<K> pool,
                      BuildPool(ctx, items, ctx.attr_ints("ngram_counts"), p.ngram_indexes.size()));
  const bool batched = in_shape.size() == 2;
  const int64_t rows = batched ? in_shape[0] : 1;
  const int64_t cols = in_shape.back();
  PE_ASSIGN_OR_RETURN(
      Tensor * y,
      ctx.AllocateOutput(0, DType::kFloat32, batched ? Shape{rows, p.width} : Shape{p.width}));
  TfIdfRows(x, rows, cols, pool, p, y->data<float>());
  return Status::OK();
}

Status TfIdfVectorizer(KernelContext& ctx) {
  PE_ASSIGN_OR_RETURN(const Tensor* x, ctx.RequireInput(0));
  if (x->rank() != 1 && x->rank() != 2)
    return ctx.Error("input must be [C] or [N, C], got ", ShapeToString(x->shape()));
  PE_ASSIGN_OR_RETURN(TfIdfParams p, ParseTfIdf(ctx));
  const bool has_ints = ctx.has_attr("pool_int64s"), has_strings = ctx.has_attr("pool_strings");
  if (has_ints == has_strings)
    return ctx.Error("exactly one of pool_int64s and pool_strings must be set");
  if (has_strings) {
    if (x->dtype() != DType::kString)
      return ctx.Error("pool_strings needs a string input, got ", DTypeName(x->dtype()));
    const std::string* d = x->data<std::string>();
    return RunTfIdf(ctx, p, ctx.attr_strings("pool_strings"),
                    std::vector<std::string>(d, d + x->numel()), x->shape());
  }
  if (!IsIntegerDType(x->dtype()))
    return ctx.Error("pool_int64s needs an integer input, got ", DTypeName(x->dtype()));
  return RunTfIdf(ctx, p, ctx.attr_ints("pool_int64s"), ToInt64Vector(*x), x->shape());
}

}  // namespace

void RegisterMiscKernels(KernelRegistry& r) {
  r.Add("StringNormalizer", StringNormalizer);
  r.Add("TfIdfVectorizer", TfIdfVectorizer);
  r.Add("Bernoulli", Bernoulli);
  r.Add("RandomUniform", RandomUniform);
  r.Add("RandomNormal", RandomNormal);
  r.Add("RandomUniformLike", RandomUniformLike);
  r.Add("RandomNormalLike", RandomNormalLike);
  r.Add("Multinomial", Multinomial);
}

}  // namespace privedge
