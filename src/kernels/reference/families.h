// One registration function per operator family; each lives in the family's own file and
// adds one line per operator. The list in kernels/registry.cc calls them all.
#pragma once

#include "kernels/kernel.h"

namespace privedge {

void RegisterElementwiseKernels(KernelRegistry& r);   // elementwise.cc: math, logic, activations, Cast
void RegisterReductionKernels(KernelRegistry& r);     // reduction.cc: Reduce*, ArgMax/Min, CumSum, TopK
void RegisterMatMulKernels(KernelRegistry& r);        // matmul.cc: Gemm, MatMul, Einsum, Det, MatMulInteger
void RegisterSoftmaxLossKernels(KernelRegistry& r);   // softmax_loss.cc: Softmax family, NLL, SCE losses
void RegisterConvPoolKernels(KernelRegistry& r);      // conv_pool.cc: Conv, ConvTranspose, pools
void RegisterNormalizationKernels(KernelRegistry& r); // normalization.cc: BatchNorm, LayerNorm, ...
void RegisterQuantizationKernels(KernelRegistry& r);  // quantization.cc: (De)QuantizeLinear, QLinear*
void RegisterShapeKernels(KernelRegistry& r);         // shape_ops.cc: Reshape, Transpose, Concat, ...
void RegisterIndexingKernels(KernelRegistry& r);      // indexing.cc: Gather*, Scatter*, Pad, Tile, ...
void RegisterImageKernels(KernelRegistry& r);         // image.cc: Resize, GridSample, RoiAlign, NMS, ...
void RegisterRecurrentKernels(KernelRegistry& r);     // recurrent.cc: RNN, GRU, LSTM
void RegisterControlFlowKernels(KernelRegistry& r);   // control_flow.cc: If, Loop, Scan, sequences, optionals
void RegisterSignalKernels(KernelRegistry& r);        // signal.cc: DFT, STFT, windows, MelWeightMatrix
void RegisterMiscKernels(KernelRegistry& r);          // misc.cc: random, strings, TfIdfVectorizer, ...

}  // namespace privedge
