// Pieces shared by the oneDNN kernels: the engine, the thread-count scope, packed-weight and
// per-input-shape caches.
#pragma once

#include <dnnl.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "kernels/kernel.h"
#include "privedge/secure_buffer.h"

namespace privedge::dnnl_kernels {

// The process-wide CPU engine (engines are thread-safe and cheap to share).
const dnnl::engine& CpuEngine();

// Sets the OpenMP thread count of the calling thread for its lifetime, then restores it.
class ThreadScope {
 public:
  explicit ThreadScope(int threads);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_;
};

// The threads worth giving an operation of about `work` element operations (elements touched, or
// multiply-adds / 16 for vectorized arithmetic): 1 below kMinParallelWork, where waking and
// joining a second thread (tens of microseconds when it sleeps, a scheduler tick or more when
// the other core is busy) costs more than it saves. Primitives are built and run
// under the same count, since some partition their work when they are built.
// `work` is a double so that products of extents cannot overflow.
inline constexpr double kMinParallelWork = 131072;  // 2^17
inline int ThreadsFor(int threads, double work) { return work < kMinParallelWork ? 1 : threads; }

// A constant weight tensor reordered, once per layout, into the layout a primitive asks for.
// Primitives built for different input shapes usually share one layout, hence one copy.
class PackedWeights {
 public:
  // `source` describes the plain weights at `data`, which must outlive this object. With
  // `sensitive` (decrypted weights), packed copies live in locked, non-dumpable memory.
  PackedWeights(dnnl::memory::desc source, const float* data, bool sensitive)
      : source_(std::move(source)), data_(data), sensitive_(sensitive) {}
  // The weights in layout `want`, packing them on first use. Thread-safe.
  dnnl::memory Get(const dnnl::memory::desc& want);

 private:
  dnnl::memory::desc source_;
  const float* data_;
  bool sensitive_;
  std::mutex mu_;
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed_;
  std::vector<SecureBuffer> secure_;  // backing store of packed_ when sensitive_
};

// Per-input-shape plans, built on first use of a shape and kept for the session's lifetime.
template <class Plan>
class ShapeCache {
 public:
  // The plan for `key`, calling build() (which returns Result<std::shared_ptr<Plan>>) when
  // there is none yet. Concurrent first calls with one shape may both build; one result wins.
  template <class Build>
  Result<std::shared_ptr<const Plan>> Get(const std::vector<int64_t>& key, Build&& build) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = plans_.find(key);
      if (it != plans_.end()) return it->second;
    }
    PE_ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, build());
    std::lock_guard<std::mutex> lock(mu_);
    return plans_.emplace(key, std::move(plan)).first->second;
  }

 private:
  std::mutex mu_;
  std::map<std::vector<int64_t>, std::shared_ptr<const Plan>> plans_;
};

// A scratchpad for one primitive execution on the calling thread: a per-thread buffer that
// grows to the largest size asked for and is reused, so runs neither allocate nor fault in
// fresh pages. Valid until the calling thread's next call.
dnnl::memory ThreadScratchpad(const dnnl::memory::desc& desc);
// Output `i` as a float32 tensor of `shape` whose storage is not zeroed (the kernels here write
// every element; zeroing cost up to 8% of a CNN's run). Size-checked like AllocateOutput.
Result<Tensor*> AllocateUninitialized(KernelContext& ctx, int i, const Shape& shape);

// oneDNN's dims from ours.
dnnl::memory::dims Dims(const std::vector<int64_t>& v);

// Runs the registered reference kernel for the node: the fallback for inputs a fast kernel
// was not prepared for (other dtypes or ranks at run time), which also reports bad input
// exactly as the reference does.
Status RunReference(KernelContext& ctx);

// Factories (conv.cc, gemm.cc, elementwise.cc, recurrent.cc, transformer.cc).
Result<std::unique_ptr<PreparedKernel>> MakeConv(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeEltwise(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeBinary(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeGemm(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeMatMul(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeFusedMatMul(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeRnn(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeGru(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeLstm(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeBatchedMatMul(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeSoftmax(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeTranspose(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeLayerNorm(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakeSlice(const PrepareContext& ctx);
Result<std::unique_ptr<PreparedKernel>> MakePool(const PrepareContext& ctx);    // pool.cc
Result<std::unique_ptr<PreparedKernel>> MakeConcat(const PrepareContext& ctx);  // layout.cc

}  // namespace privedge::dnnl_kernels
