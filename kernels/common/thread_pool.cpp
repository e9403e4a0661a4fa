#include "kernels/common/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QMOE_PAUSE() _mm_pause()
#else
#define QMOE_PAUSE() std::this_thread::yield()
#endif

namespace qmoe::kernels {
namespace {
using Clock = std::chrono::steady_clock;

// Polls cond() for up to `micros`; true once it holds.
template <class Cond>
bool SpinFor(int micros, Cond&& cond) {
  const auto until = Clock::now() + std::chrono::microseconds(micros);
  for (int i = 0;; ++i) {
    if (cond()) return true;
    QMOE_PAUSE();
    if ((i & 63) == 63 && Clock::now() >= until) return cond();
  }
}
}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

ThreadPool& ThreadPool::Shared() {
  static ThreadPool pool;
  return pool;
}

int ThreadPool::workers() const {
  std::lock_guard<std::mutex> lk(mu_);
  return int(threads_.size());
}

void ThreadPool::Run(int n, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  std::unique_lock<std::mutex> region(run_mu_, std::try_to_lock);
  if (n == 1 || !region.owns_lock()) {  // nothing to share, or the pool is busy: run here
    for (int t = 0; t < n; ++t) fn(t);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    while (int(threads_.size()) < n - 1) {
      const int index = int(threads_.size());
      threads_.emplace_back([this, index] { Worker(index); });
    }
    fn_ = &fn;
    n_ = n;
    error_ = nullptr;
    pending_.store(n - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  try {
    fn(0);
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!error_) error_ = std::current_exception();
  }
  if (!SpinFor(kSpinMicros, [&] { return pending_.load(std::memory_order_acquire) == 0; })) {
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }
  std::exception_ptr err;
  {
    std::lock_guard<std::mutex> lk(mu_);
    fn_ = nullptr;
    std::swap(err, error_);
  }
  if (err) std::rethrow_exception(err);
}

void ThreadPool::Worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    if (!SpinFor(kSpinMicros, [&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    const std::function<void(int)>* fn;
    int n;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return;
      seen = generation_.load(std::memory_order_acquire);
      fn = fn_;
      n = n_;
    }
    if (fn == nullptr || index + 1 >= n) continue;  // not part of this region
    try {
      (*fn)(index + 1);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lk(mu_);  // pairs with the caller's predicate check
      done_.notify_all();
    }
  }
}

}  // namespace qmoe::kernels
