// Tests for kernels/common/thread_pool.h: every task index runs exactly once per region, on the
// caller and the workers, across repeated regions, growing worker counts, concurrent callers and
// exceptions.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/common/thread_pool.h"

namespace qmoe::kernels {
namespace {

TEST(ThreadPool, EveryIndexOnceAcrossRegions) {
  ThreadPool pool;
  for (int round = 0; round < 200; ++round) {
    const int n = 1 + round % 5;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.Run(n, [&](int t) { hits[size_t(t)].fetch_add(1); });
    for (int t = 0; t < n; ++t) ASSERT_EQ(hits[size_t(t)].load(), 1) << "round " << round << " index " << t;
  }
  EXPECT_EQ(pool.workers(), 4);  // grew to n - 1 = 4, never more
}

TEST(ThreadPool, TaskZeroRunsOnTheCaller) {
  ThreadPool pool;
  std::thread::id zero;
  std::atomic<int> others_on_caller{0};
  const auto caller = std::this_thread::get_id();
  pool.Run(3, [&](int t) {
    if (t == 0) zero = std::this_thread::get_id();
    else if (std::this_thread::get_id() == caller) others_on_caller.fetch_add(1);
  });
  EXPECT_EQ(zero, caller);
  EXPECT_EQ(others_on_caller.load(), 0);
}

TEST(ThreadPool, ConcurrentCallersBothComplete) {
  ThreadPool pool;
  std::atomic<int64_t> total{0};
  auto caller = [&] {
    for (int i = 0; i < 100; ++i) pool.Run(3, [&](int t) { total.fetch_add(t + 1); });
  };
  std::thread a(caller), b(caller);
  a.join(), b.join();
  EXPECT_EQ(total.load(), 2 * 100 * (1 + 2 + 3));
}

TEST(ThreadPool, ExceptionFromAWorkerReachesTheCaller) {
  ThreadPool pool;
  EXPECT_THROW(pool.Run(3, [](int t) {
    if (t == 2) throw std::runtime_error("task 2");
  }), std::runtime_error);
  std::atomic<int> ran{0};  // still usable afterwards
  pool.Run(3, [&](int) { ran.fetch_add(1); });
  EXPECT_EQ(ran.load(), 3);
}

}  // namespace
}  // namespace qmoe::kernels
