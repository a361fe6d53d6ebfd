// Fast kernels built on oneDNN (Debian's libdnnl, CPU engine). They override the reference
// kernels for the nodes they accept at session creation and decline (factory returns nullptr)
// everything else, which then runs on the reference kernel.
//
//   dnnl_f32_conv    float32 2-D Conv with constant weights (and bias): groups, depthwise,
//                    strides, dilations, pads, auto_pad. Winograd for 3x3 stride-1 layers.
//   dnnl_f32_gemm    float32 Gemm with a constant B (transA/transB, alpha, constant C row).
//   dnnl_f32_matmul  float32 MatMul with a constant 2-D right operand (any batch on the left).
//   dnnl_f32_conv_act  com.privedge.FusedConv: dnnl_f32_conv with its residual summand Z as a sum
//                    post-op and its activation as an eltwise post-op.
//   dnnl_f32_pool    float32 4-D MaxPool (without Indices), AveragePool, GlobalAveragePool,
//                    GlobalMaxPool.
//   dnnl_f32_transpose, dnnl_f32_slice (unit steps), dnnl_f32_concat: float32 data movement
//                    (oneDNN reorders; Concat by memcpy).
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
// set omp_set_num_threads around primitive creation and execution and restore the previous
// value afterwards: PrepareContext::threads, or 1 for operations too small to gain from a second
// thread (ThreadsFor in dnnl_util.h). In libgomp that setting belongs to the calling thread
// only, so sessions with different thread counts may run side by side on different threads;
// OpenMP code of the caller in the same thread sees its own setting again after each kernel.
// Caveat: libgomp's wait policy is read from the environment at process start only. Its
// default spins idle workers for a long time; on an oversubscribed machine (load 8 on 2 cores)
// that made 2-thread runs 10-40x slower than 1-thread runs. OMP_WAIT_POLICY=PASSIVE (set by the
// CLI and the isolated worker) fixes that but wakes workers through the kernel at every
// parallel region: on an idle machine SqueezeNet took 7.6 ms at 2 threads against 4.6 ms with
// GOMP_SPINCOUNT=10000 (about 0.1 ms of spinning, then sleep); at load 5 on 2 cores the short
// spin took 20 ms and passive 6.6 ms. Launchers on a dedicated device may prefer the spin.
#pragma once

#include "kernels/kernel.h"

namespace privedge {

void RegisterDnnlKernels(KernelRegistry& r);

// Initializes the OpenMP runtime and starts its pool of `threads` workers now instead of at the
// first parallel region (LLVM's libomp reads /proc and /sys then). The sandboxed worker calls
// it before it loses the right to open files.
void StartKernelThreads(int threads);

}  // namespace privedge
