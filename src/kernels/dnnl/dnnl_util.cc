#include "kernels/dnnl/dnnl_util.h"

#include <omp.h>

#include <cstdlib>
#include <new>

#include "kernels/dnnl/dnnl_kernels.h"

namespace privedge {
namespace dnnl_kernels {

const dnnl::engine& CpuEngine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

ThreadScope::ThreadScope(int threads) : previous_(omp_get_max_threads()) {
  if (threads != previous_) omp_set_num_threads(threads);
}

ThreadScope::~ThreadScope() {
  if (omp_get_max_threads() != previous_) omp_set_num_threads(previous_);
}

}  // namespace dnnl_kernels

void StartKernelThreads(int threads) {
  dnnl_kernels::ThreadScope scope(threads);
#pragma omp parallel
  {
  }
}

namespace dnnl_kernels {

dnnl::memory PackedWeights::Get(const dnnl::memory::desc& want) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [desc, mem] : packed_)
    if (desc == want) return mem;
  const dnnl::engine& engine = CpuEngine();
  dnnl::memory src(source_, engine, const_cast<float*>(data_));
  dnnl::memory dst;
  if (sensitive_) {
    // The buffer is page-aligned; if it cannot even be mapped, oneDNN's own allocation is
    // the only way to run (still wiped by nothing, so say so in docs/container.md).
    auto buf = SecureBuffer::Allocate(std::max<size_t>(want.get_size(), 1));
    if (buf.ok()) {
      dst = dnnl::memory(want, engine, buf->data());
      secure_.push_back(std::move(buf).value());
    }
  }
  if (!dst) dst = dnnl::memory(want, engine);
  dnnl::stream stream(engine);
  dnnl::reorder(src, dst).execute(stream, src, dst);
  stream.wait();
  packed_.emplace_back(want, dst);
  return dst;
}

dnnl::memory ThreadScratchpad(const dnnl::memory::desc& desc) {
  struct Aligned {
    void operator()(void* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<void, Aligned> buffer;
  thread_local size_t capacity = 0;
  const size_t size = desc.get_size();
  if (size > capacity) {
    buffer.reset();
    capacity = 0;
    const size_t rounded = (size + 4095) / 4096 * 4096;
    buffer.reset(std::aligned_alloc(4096, rounded));
    if (!buffer) throw std::bad_alloc();
    capacity = rounded;
  }
  return dnnl::memory(desc, CpuEngine(), size ? buffer.get() : nullptr);
}

Result<Tensor*> AllocateUninitialized(KernelContext& ctx, int i, const Shape& shape) {
  if (i < 0 || i >= ctx.num_outputs()) return ctx.Error("output ", i, " is not declared");
  PE_RETURN_IF_ERROR(ctx.CheckTensorShape(DType::kFloat32, shape));
  const int64_t n = ShapeElementCount(shape);
  const size_t bytes = (std::max<size_t>(static_cast<size_t>(n) * sizeof(float), 1) + 63) / 64 * 64;
  void* data = std::aligned_alloc(64, bytes);
  if (!data) return OutOfRange(ctx.node().Describe(), ": out of memory");
  std::shared_ptr<void> owner(data, std::free);
  ctx.set_output(i, Tensor::Borrow(DType::kFloat32, shape, data, std::move(owner)));
  return &ctx.outputs()[i].tensor;
}

dnnl::memory::dims Dims(const std::vector<int64_t>& v) {
  return dnnl::memory::dims(v.begin(), v.end());
}

Status RunReference(KernelContext& ctx) {
  KernelFn fn = KernelRegistry::Global().Find(ctx.node().op_type, ctx.node().domain);
  if (!fn) return Internal(ctx.node().Describe(), ": no reference kernel");
  return fn(ctx);
}

}  // namespace dnnl_kernels

void RegisterDnnlKernels(KernelRegistry& r) {
  r.AddFast("Conv", dnnl_kernels::MakeConv);
  r.AddFast("FusedConv", dnnl_kernels::MakeConv, "com.privedge");
  r.AddFast("Gemm", dnnl_kernels::MakeGemm);
  r.AddFast("MatMul", dnnl_kernels::MakeMatMul);
  r.AddFast("MatMul", dnnl_kernels::MakeBatchedMatMul);
  r.AddFast("FusedMatMul", dnnl_kernels::MakeFusedMatMul, "com.privedge");
  r.AddFast("Softmax", dnnl_kernels::MakeSoftmax);
  r.AddFast("Transpose", dnnl_kernels::MakeTranspose);
  r.AddFast("Slice", dnnl_kernels::MakeSlice);
  r.AddFast("LayerNormalization", dnnl_kernels::MakeLayerNorm);
  r.AddFast("LayerNormalization", dnnl_kernels::MakeLayerNorm, "com.privedge");
  r.AddFast("RNN", dnnl_kernels::MakeRnn);
  r.AddFast("GRU", dnnl_kernels::MakeGru);
  r.AddFast("LSTM", dnnl_kernels::MakeLstm);
  for (const char* op : {"Relu", "LeakyRelu", "Sigmoid", "Clip"})
    r.AddFast(op, dnnl_kernels::MakeEltwise);
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) r.AddFast(op, dnnl_kernels::MakeBinary);
  for (const char* op : {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"})
    r.AddFast(op, dnnl_kernels::MakePool);
  r.AddFast("Concat", dnnl_kernels::MakeConcat);
}

}  // namespace privedge
