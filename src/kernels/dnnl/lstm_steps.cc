// AVX-512 LSTM steps (see lstm_steps.h). Compiled for AVX-512F through function attributes
// and called only after a run-time CPU check, so the binary still runs on any x86-64.
#include "kernels/dnnl/lstm_steps.h"

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() as the unused merge source, which
// -Wmaybe-uninitialized flags in every caller: a known false positive of the header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

namespace privedge::dnnl_kernels {
namespace {

#define PE_AVX512 __attribute__((target("avx512f")))

// exp(x) for x in [-88, 88] (clamped): 2^n * p(r) with r = x - n ln2, |r| <= ln2/2 and p the
// degree-6 Taylor polynomial (relative error below 2e-7).
PE_AVX512 inline __m512 Exp(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

PE_AVX512 inline __m512 Sigmoid(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, Exp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// tanh(x) = 2 sigmoid(2x) - 1 (absolute error about 1e-7).
PE_AVX512 inline __m512 Tanh(__m512 x) {
  const __m512 two = _mm512_set1_ps(2.0f);
  return _mm512_fmsub_ps(two, Sigmoid(_mm512_mul_ps(two, x)), _mm512_set1_ps(1.0f));
}

// out[0, 16*R) = base[0, 16*R) + sum_i h[i] * r[i * ld + (0, 16*R)], accumulators in registers.
template <int R>
PE_AVX512 inline void GemvBlock(const float* base, const float* h, const float* r, int64_t k,
                                int64_t ld, float* out) {
  __m512 acc[R];
  for (int j = 0; j < R; ++j) acc[j] = _mm512_loadu_ps(base + 16 * j);
  for (int64_t i = 0; i < k; ++i) {
    const __m512 hi = _mm512_set1_ps(h[i]);
    const float* row = r + i * ld;
    for (int j = 0; j < R; ++j) acc[j] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(row + 16 * j), acc[j]);
  }
  for (int j = 0; j < R; ++j) _mm512_storeu_ps(out + 16 * j, acc[j]);
}

PE_AVX512 void Steps(const LstmStepArgs& a) {
  const int64_t hidden = a.hidden, width = 4 * hidden;
  for (int64_t step = 0; step < a.seq; ++step) {
    const int64_t t = a.reverse ? a.seq - 1 - step : step;
    for (int64_t n = 0; n < a.batch; ++n) {
      const float* proj = a.proj + (t * a.proj_t_stride + n * a.proj_n_stride) * width;
      float* h = a.h + n * hidden;
      float* c = a.c + n * hidden;
      float* pre = a.scratch;
      int64_t col = 0;
      for (; col + 256 <= width; col += 256)
        GemvBlock<16>(proj + col, h, a.r + hidden * col, hidden, 256, pre + col);
      for (; col < width; col += 64)
        GemvBlock<4>(proj + col, h, a.r + hidden * col, hidden, 64, pre + col);
      for (int64_t k = 0; k < hidden; k += 16) {
        const __m512 i_gate = Sigmoid(_mm512_loadu_ps(pre + k));
        const __m512 f_gate = Sigmoid(_mm512_loadu_ps(pre + hidden + k));
        const __m512 cand = Tanh(_mm512_loadu_ps(pre + 2 * hidden + k));
        const __m512 o_gate = Sigmoid(_mm512_loadu_ps(pre + 3 * hidden + k));
        const __m512 c_new =
            _mm512_fmadd_ps(f_gate, _mm512_loadu_ps(c + k), _mm512_mul_ps(i_gate, cand));
        _mm512_storeu_ps(c + k, c_new);
        _mm512_storeu_ps(h + k, _mm512_mul_ps(o_gate, Tanh(c_new)));
      }
      if (a.y) std::copy(h, h + hidden, a.y + t * a.y_t_stride + n * a.y_n_stride);
    }
  }
}

}  // namespace

bool LstmStepsSupported(int64_t hidden) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512 && hidden > 0 && hidden % 16 == 0;
}

void PackLstmRecurrent(const float* r, int64_t hidden, float* out) {
  const int64_t width = 4 * hidden;
  for (int64_t col = 0; col < width;) {
    const int64_t block = col + 256 <= width ? 256 : 64;
    for (int64_t i = 0; i < hidden; ++i)
      out = std::copy(r + i * width + col, r + i * width + col + block, out);
    col += block;
  }
}

void RunLstmSteps(const LstmStepArgs& args) { Steps(args); }

}  // namespace privedge::dnnl_kernels
