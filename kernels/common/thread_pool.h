// A small persistent thread pool for the row-parallel CPU kernels: starting std::threads per call
// costs tens of microseconds, a sizeable part of one 768x3072 matvec (~0.1-0.2 ms). Workers are
// started on first need and kept; after a task they spin for a short while (kSpinMicros) so that
// back-to-back kernel calls (an expert's wi then wo) find them awake, then sleep on a condition
// variable. One parallel region runs at a time: a caller that finds the pool busy (another thread
// inside Run) runs its tasks itself, serially, which is correct and never deadlocks.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qmoe::kernels {

class ThreadPool {
 public:
  // How long an idle worker polls for the next task before it sleeps.
  static constexpr int kSpinMicros = 50;

  ThreadPool() = default;
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Calls fn(t) once for every t in [0, n) and returns when all calls have returned: t = 0 on the
  // calling thread, the others on workers (started here when fewer than n - 1 exist). An exception
  // thrown by any fn(t) is rethrown here after all calls finished.
  void Run(int n, const std::function<void(int)>& fn);

  // Workers started so far.
  int workers() const;

  // The process-wide pool the kernels use.
  static ThreadPool& Shared();

 private:
  void Worker(int index);
  void Finish();

  std::mutex run_mu_;  // one parallel region at a time
  mutable std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* fn_ = nullptr;
  int n_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace qmoe::kernels
