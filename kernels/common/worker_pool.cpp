#include "kernels/common/worker_pool.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "framework/core/error.h"

namespace qmoe::kernels {
namespace {

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      ++gen_;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void Run(int n, const std::function<void(int)>& fn) {
    std::lock_guard<std::mutex> one_call(call_mu_);
    while (int(workers_.size()) < n - 1) {
      const int id = int(workers_.size()) + 1;
      workers_.emplace_back([this, id] { Loop(id); });
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      fn_ = &fn;
      active_ = n;
      pending_.store(n - 1);
      error_ = nullptr;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    std::exception_ptr mine;
    try {
      fn(0);
    } catch (...) {
      mine = std::current_exception();
    }
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin > 2000) std::this_thread::yield();
#if defined(__x86_64__)
      else _mm_pause();
#endif
    }
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void Loop(int id) {
    int64_t seen = 0;
    for (;;) {
      // Spin a little (the next call of a benchmark or a layer usually comes at once), then sleep.
      for (int spin = 0; spin < 20000 && gen_.load(std::memory_order_acquire) == seen; ++spin) {
#if defined(__x86_64__)
        _mm_pause();
#endif
      }
      const std::function<void(int)>* fn;
      int active;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return gen_.load() != seen; });
        seen = gen_.load();
        if (stop_) return;
        fn = fn_;
        active = active_;
      }
      if (id >= active) continue;
      try {
        (*fn)(id);
      } catch (...) {
        std::lock_guard<std::mutex> l(mu_);
        error_ = std::current_exception();
      }
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::mutex call_mu_, mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* fn_ = nullptr;
  int active_ = 0;
  bool stop_ = false;
  std::atomic<int64_t> gen_{0};
  std::atomic<int> pending_{0};
  std::exception_ptr error_;
};

}  // namespace

void RunOnThreads(int n, const std::function<void(int)>& fn) {
  QMOE_CHECK(n >= 1 && n <= 1024, "RunOnThreads: n = ", n, " (expected 1..1024)");
  if (n == 1) return fn(0);
  static Pool pool;
  pool.Run(n, fn);
}

}  // namespace qmoe::kernels
