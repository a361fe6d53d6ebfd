#include "privedge/model_cache.h"

#include <malloc.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/session_impl.h"

namespace privedge {
namespace {

using Clock = std::chrono::steady_clock;

void AddTensorBytes(const Tensor& tensor, std::unordered_set<const void*>& seen, size_t& bytes) {
  if (tensor.raw_data() != nullptr && seen.insert(tensor.raw_data()).second) {
    bytes += tensor.nbytes();
  }
}

void AddWeightBytes(const Graph& graph, std::unordered_set<const void*>& seen, size_t& bytes) {
  for (const auto& [name, tensor] : graph.initializers) AddTensorBytes(tensor, seen, bytes);
  for (const Node& node : graph.nodes) {
    for (const auto& [name, attr] : node.attributes) {
      AddTensorBytes(attr.t, seen, bytes);
      for (const Tensor& t : attr.tensors) AddTensorBytes(t, seen, bytes);
      if (attr.g) AddWeightBytes(*attr.g, seen, bytes);
      for (const auto& g : attr.graphs) AddWeightBytes(*g, seen, bytes);
    }
  }
}

size_t WeightBytes(const Session& session) {
  std::unordered_set<const void*> seen;
  size_t bytes = 0;
  AddWeightBytes(session.impl().model.graph, seen, bytes);
  return bytes;
}

}  // namespace

struct ModelCache::Impl {
  // Shared by the thread loading a model and the threads waiting for that load.
  struct LoadState {
    bool done = false;
    Status error;
  };
  struct Entry {
    std::shared_ptr<Session> session;  // null while loading
    std::shared_ptr<LoadState> load;
    size_t bytes = 0;
    Clock::time_point last_used;
    std::list<std::string>::iterator lru;  // valid once loaded
  };

  ModelCacheOptions options;
  mutable std::mutex mu;
  std::condition_variable loaded;  // a load finished (or failed)
  std::condition_variable wake;    // the idle thread's next deadline may have changed
  std::unordered_map<std::string, Entry> entries;
  std::list<std::string> lru;  // most recently used first; loaded models only
  ModelCacheStats stats;
  bool stopping = false;
  std::thread idle_thread;

  // Removes `it` and hands its session to `dropped` (destroyed outside the lock).
  void UnloadLocked(std::unordered_map<std::string, Entry>::iterator it,
                    std::vector<std::shared_ptr<Session>>& dropped) {
    dropped.push_back(std::move(it->second.session));
    lru.erase(it->second.lru);
    stats.resident_bytes -= it->second.bytes;
    --stats.resident_models;
    ++stats.unloads;
    entries.erase(it);
  }

  // Unloads idle models, then least recently used ones (sparing `keep`) until the budget holds.
  void TrimLocked(const std::string* keep, std::vector<std::shared_ptr<Session>>& dropped) {
    if (options.idle_timeout.count() > 0) {
      const Clock::time_point cutoff = Clock::now() - options.idle_timeout;
      while (!lru.empty() && entries.at(lru.back()).last_used <= cutoff) {
        UnloadLocked(entries.find(lru.back()), dropped);
      }
    }
    // `keep`, just loaded, is the most recently used: it is last in line, alone.
    while (stats.resident_bytes > options.memory_budget_bytes && !lru.empty() &&
           (keep == nullptr || lru.back() != *keep)) {
      UnloadLocked(entries.find(lru.back()), dropped);
    }
  }

  void IdleLoop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (lru.empty()) {
        wake.wait(lock);
        continue;
      }
      const Clock::time_point deadline = entries.at(lru.back()).last_used + options.idle_timeout;
      if (Clock::now() < deadline) {
        wake.wait_until(lock, deadline);
        continue;
      }
      std::vector<std::shared_ptr<Session>> dropped;
      TrimLocked(nullptr, dropped);
      lock.unlock();
      Release(dropped);
      lock.lock();
    }
  }

  // Destroys the sessions (unless callers still hold them) and returns their memory to the OS:
  // without malloc_trim, glibc keeps freed mid-sized blocks in its heap.
  static void Release(std::vector<std::shared_ptr<Session>>& dropped) {
    if (dropped.empty()) return;
    dropped.clear();
    malloc_trim(0);
  }
};

ModelCache::ModelCache(const ModelCacheOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (options.idle_timeout.count() > 0) {
    impl_->idle_thread = std::thread([impl = impl_.get()] { impl->IdleLoop(); });
  }
}

ModelCache::~ModelCache() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->idle_thread.joinable()) impl_->idle_thread.join();
  Clear();
}

Result<std::shared_ptr<Session>> ModelCache::Get(const std::string& path) {
  std::unique_lock lock(impl_->mu);
  bool counted = false;
  for (auto it = impl_->entries.find(path); it != impl_->entries.end();
       it = impl_->entries.find(path)) {
    Impl::Entry& e = it->second;
    if (e.session) {
      if (!counted) ++impl_->stats.hits;
      e.last_used = Clock::now();
      impl_->lru.splice(impl_->lru.begin(), impl_->lru, e.lru);
      return e.session;
    }
    if (!counted) ++impl_->stats.misses;
    counted = true;
    // Another thread is loading it: wait for that load rather than loading twice. If the model
    // is unloaded again before this thread wakes, the loop loads it.
    std::shared_ptr<Impl::LoadState> load = e.load;
    impl_->loaded.wait(lock, [&] { return load->done; });
    if (!load->error.ok()) return load->error;
  }
  if (!counted) ++impl_->stats.misses;
  auto load = std::make_shared<Impl::LoadState>();
  impl_->entries[path].load = load;
  lock.unlock();

  Result<std::unique_ptr<Session>> loaded = Session::Load(path, impl_->options.session_options);

  std::vector<std::shared_ptr<Session>> dropped;
  lock.lock();
  auto it = impl_->entries.find(path);
  load->done = true;
  if (!loaded.ok()) {
    ++impl_->stats.load_failures;
    load->error = loaded.status();
    impl_->entries.erase(it);
    impl_->loaded.notify_all();
    return loaded.status();
  }
  Impl::Entry& e = it->second;
  e.session = std::shared_ptr<Session>(std::move(loaded).value());
  e.bytes = WeightBytes(*e.session);
  e.last_used = Clock::now();
  impl_->lru.push_front(path);
  e.lru = impl_->lru.begin();
  ++impl_->stats.loads;
  ++impl_->stats.resident_models;
  impl_->stats.resident_bytes += e.bytes;
  std::shared_ptr<Session> session = e.session;
  impl_->TrimLocked(&path, dropped);
  impl_->loaded.notify_all();
  impl_->wake.notify_all();
  lock.unlock();
  dropped.clear();
  malloc_trim(0);  // the load's temporary buffers (file bytes, parsed protobuf) go back too
  return session;
}

void ModelCache::Trim() {
  std::vector<std::shared_ptr<Session>> dropped;
  {
    std::lock_guard lock(impl_->mu);
    impl_->TrimLocked(nullptr, dropped);
  }
  Impl::Release(dropped);
}

bool ModelCache::Unload(const std::string& path) {
  std::vector<std::shared_ptr<Session>> dropped;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->entries.find(path);
    if (it == impl_->entries.end() || !it->second.session) return false;
    impl_->UnloadLocked(it, dropped);
  }
  Impl::Release(dropped);
  return true;
}

void ModelCache::Clear() {
  std::vector<std::shared_ptr<Session>> dropped;
  {
    std::lock_guard lock(impl_->mu);
    for (auto it = impl_->entries.begin(); it != impl_->entries.end();) {
      auto next = std::next(it);
      if (it->second.session) impl_->UnloadLocked(it, dropped);
      it = next;
    }
  }
  Impl::Release(dropped);
}

ModelCacheStats ModelCache::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace privedge
