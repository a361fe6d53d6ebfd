// The recurrent half of a small-batch float32 LSTM, hand-written for AVX-512: per time step,
// gates = proj[t] + h * R (a batch of GEMVs with the accumulators in registers), then the
// fused gate activations and the state update. At batch 1-8 this beats oneDNN's RNN primitive,
// whose per-step GEMM calls dominate there (0.17-0.23 ms against about 0.12 ms per 50-step
// layer of hidden 128, measured on a busy 2-CPU machine).
#pragma once

#include <cstdint>

namespace privedge::dnnl_kernels {

struct LstmStepArgs {
  int64_t seq = 0, batch = 0, hidden = 0;
  bool reverse = false;
  // Input projection plus both biases, one row of 4*hidden per (step, batch row): the row of
  // (t, n) is proj + (t * proj_t_stride + n * proj_n_stride) * 4 * hidden. Gates i, f, c, o.
  const float* proj = nullptr;
  int64_t proj_t_stride = 0, proj_n_stride = 0;
  const float* r = nullptr;  // recurrent weights as PackLstmRecurrent writes them
  float* h = nullptr;        // [batch][hidden] state, updated in place
  float* c = nullptr;        // [batch][hidden] cell state, updated in place
  // Where h of (t, n) goes: y + t * y_t_stride + n * y_n_stride (nullptr: nowhere).
  float* y = nullptr;
  int64_t y_t_stride = 0, y_n_stride = 0;
  float* scratch = nullptr;  // 4 * hidden floats, 64-byte aligned
};

// True when this CPU runs the AVX-512 code and `hidden` suits it (a multiple of 16).
bool LstmStepsSupported(int64_t hidden);

// Repacks recurrent weights [hidden][4 * hidden] (gates i, f, c, o) column block by column
// block (256 gates, then 64), each block's rows contiguous, so a step streams them in order.
// `out` holds hidden * 4 * hidden floats.
void PackLstmRecurrent(const float* r, int64_t hidden, float* out);

// Runs every step of one direction. Requires LstmStepsSupported(args.hidden).
void RunLstmSteps(const LstmStepArgs& args);

}  // namespace privedge::dnnl_kernels
