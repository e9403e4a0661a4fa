#include "kernels/common/worker_pool.h"

#include "framework/core/error.h"
#include "kernels/common/thread_pool.h"

namespace qmoe::kernels {

void RunOnThreads(int n, const std::function<void(int)>& fn) {
  QMOE_CHECK(n >= 1 && n <= 1024, "RunOnThreads: n = ", n, " (expected 1..1024)");
  if (n == 1) return fn(0);
  ThreadPool::Shared().Run(n, fn);
}

}  // namespace qmoe::kernels
