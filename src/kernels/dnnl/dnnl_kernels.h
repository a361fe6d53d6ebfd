// Fast kernels built on oneDNN (Debian's libdnnl, CPU engine). They override the reference
// kernels for the nodes they accept at session creation and decline (factory returns nullptr)
// everything else, which then runs on the reference kernel.
//
//   dnnl_f32_conv    float32 2-D Conv with constant weights (and bias): groups, depthwise,
//                    strides, dilations, pads, auto_pad. Winograd for 3x3 stride-1 layers.
//   dnnl_f32_gemm    float32 Gemm with a constant B (transA/transB, alpha, constant C row).
//   dnnl_f32_matmul  float32 MatMul with a constant 2-D right operand (any batch on the left).
//   dnnl_f32_conv_act  com.privedge.FusedConv: dnnl_f32_conv with its activation as a post-op.
//   dnnl_f32_eltwise float32 Relu, LeakyRelu, Sigmoid, Clip with constant bounds.
//   dnnl_f32_binary  float32 Add/Sub/Mul/Div where one operand broadcasts onto the other's
//                    shape (Sub/Div: the second onto the first).
//   dnnl_f32_matmul_relu  com.privedge.FusedMatMul: MatMul with a constant 2-D W, bias and an
//                    optional Relu post-op.
//   dnnl_f32_rnn, dnnl_f32_gru, dnnl_f32_lstm  RNN/GRU/LSTM with constant weights on oneDNN's
//                    RNN primitives; small-batch LSTM on AVX-512 steps (recurrent.cc).
//   dnnl_f32_batched_matmul, dnnl_f32_softmax, dnnl_transpose, dnnl_f32_layernorm, copy_slice
//                    attention-block operators (transformer.cc).
//
// Threads: Debian builds oneDNN with the OpenMP runtime (DNNL_CPU_RUNTIME == OMP). The kernels
// set omp_set_num_threads(PrepareContext::threads) around primitive creation and execution and
// restore the previous value afterwards. In libgomp that setting belongs to the calling thread
// only, so sessions with different thread counts may run side by side on different threads;
// OpenMP code of the caller in the same thread sees its own setting again after each kernel.
// Caveat: libgomp's wait policy is read from the environment at process start only. Its
// default spins idle workers for a long time; on an oversubscribed machine (load 8 on 2 cores)
// that made 2-thread runs 10-40x slower than 1-thread runs, and OMP_WAIT_POLICY=PASSIVE (or
// GOMP_SPINCOUNT=1000) brought them back to 1-thread speed. Launchers may set one of these.
#pragma once

#include "kernels/kernel.h"

namespace privedge {

void RegisterDnnlKernels(KernelRegistry& r);

// Initializes the OpenMP runtime and starts its pool of `threads` workers now instead of at the
// first parallel region (LLVM's libomp reads /proc and /sys then). The sandboxed worker calls
// it before it loses the right to open files.
void StartKernelThreads(int threads);

}  // namespace privedge
