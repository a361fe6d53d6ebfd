// ModelCache: keeps the models an application uses loaded within a memory budget.
//
//   privedge::ModelCacheOptions options;
//   options.memory_budget_bytes = 64 << 20;
//   options.idle_timeout = std::chrono::minutes(5);
//   privedge::ModelCache cache(options);
//   PE_ASSIGN_OR_RETURN(std::shared_ptr<privedge::Session> s, cache.Get("keyboard.onnx"));
//   auto outputs = s->Run({{"input", x}});
//
// Get loads a model on first use (Session::Load with the cache's SessionOptions) and returns
// the loaded session afterwards. When the models held exceed the budget, the least recently
// used ones are unloaded; a model not used for `idle_timeout` is unloaded too. A later Get of
// an unloaded model loads it again, transparently.
//
// Ownership: the cache hands out shared_ptrs. A caller holding one keeps that session alive
// and usable even after the cache unloads it; its memory is then freed when the last holder
// lets go (and is no longer counted in resident_bytes).
//
// What resident_bytes counts: for each loaded model, the bytes of its weights (every
// initializer tensor the session holds, subgraphs included, shared storage counted once).
// Not counted: copies fast kernels make when they repack weights at load, per-Run working
// memory, and the graph structure; for typical models the weights dominate. The budget is
// soft for the newest model: a single model larger than the budget is still loaded and
// returned (every other model is unloaded to make room).
//
// Memory release: after unloading, the cache calls glibc's malloc_trim(0) so that the freed
// weights go back to the OS instead of staying in the allocator's free lists (the process RSS
// drops by about the model's size; tests/runtime/model_cache_test.cc checks it).
//
// Idle unloading runs on a background thread that sleeps on a condition variable until the
// next model's idle deadline (no polling); it exists only when idle_timeout > 0. Trim() applies
// the timeout and the budget at once, e.g. from an application's low-memory callback.
//
// The cache keys models by path as given; a model file changed on disk is picked up when the
// model is next loaded. Loading the same path from several threads at once loads it once: the
// other callers wait for that load.
//
// Thread-safety: every method may be called from any thread. Loads run outside the cache's
// lock, so a slow load does not block hits on other models.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "privedge/session.h"
#include "privedge/status.h"

namespace privedge {

struct ModelCacheOptions {
  // Budget for the weights of the models held (see resident_bytes above).
  size_t memory_budget_bytes = size_t{256} << 20;
  // Unload a model not returned by Get for this long; zero keeps models until evicted.
  std::chrono::milliseconds idle_timeout{0};
  // Options every model is loaded with.
  SessionOptions session_options;
};

struct ModelCacheStats {
  uint64_t hits = 0;           // Get found the model loaded
  uint64_t misses = 0;         // Get found it not loaded (it loaded it or waited for a load)
  uint64_t loads = 0;          // successful Session::Load calls
  uint64_t load_failures = 0;  // failed ones (the error went to the caller; nothing cached)
  uint64_t unloads = 0;        // models dropped by the budget, the idle timeout, Trim or Clear
  uint64_t resident_models = 0;
  uint64_t resident_bytes = 0;
};

class ModelCache {
 public:
  explicit ModelCache(const ModelCacheOptions& options = {});
  // Stops the idle thread and drops the cache's references to its sessions.
  ~ModelCache();
  ModelCache(const ModelCache&) = delete;
  ModelCache& operator=(const ModelCache&) = delete;

  // The session for the model at `path`, loading it if needed. Errors: those of Session::Load
  // (also returned to every caller that waited for the same failed load).
  Result<std::shared_ptr<Session>> Get(const std::string& path);
  // Unloads models idle for longer than the timeout, then least recently used ones until the
  // budget holds.
  void Trim();
  // Unloads `path` if loaded; returns whether it was.
  bool Unload(const std::string& path);
  // Unloads every model.
  void Clear();
  ModelCacheStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace privedge
