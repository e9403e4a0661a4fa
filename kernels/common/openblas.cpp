#include "kernels/common/openblas.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "framework/core/error.h"
#include "framework/core/openblas_core.h"

namespace qmoe::kernels {
namespace {

// cblas enum values (cblas.h): row-major 101, no-trans 111, trans 112.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

void* OpenHandle(std::string* path) {
  // Already in the process (LibTorch loaded it): the library that defines openblas_get_corename.
  if (void* sym = dlsym(RTLD_DEFAULT, "openblas_get_corename")) {
    Dl_info info;
    if (dladdr(sym, &info) && info.dli_fname)
      if (void* h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD)) return *path = info.dli_fname, h;
  }
  for (const char* name : {"libopenblas.so.0", "libopenblas.so"})
    if (void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL)) {
      Dl_info info;
      void* sym = dlsym(h, "openblas_get_corename");
      *path = sym && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : name;
      return h;
    }
  return nullptr;
}

}  // namespace

const OpenBlas* OpenBlas::Get() {
  static const OpenBlas* lib = []() -> const OpenBlas* {
    std::string path;
    void* h = OpenHandle(&path);
    if (!h) return nullptr;
    auto* o = new OpenBlas();
    o->path_ = path;
    o->sgemv_ = reinterpret_cast<SgemvFn>(dlsym(h, "cblas_sgemv"));
    o->sgemm_ = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    o->set_threads_ = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"));
    o->get_threads_ = reinterpret_cast<int (*)()>(dlsym(h, "openblas_get_num_threads"));
    o->corename_ = reinterpret_cast<char* (*)()>(dlsym(h, "openblas_get_corename"));
    if (!o->sgemv_ || !o->sgemm_ || !o->set_threads_ || !o->get_threads_ || !o->corename_) {
      delete o;
      return nullptr;
    }
    return o;
  }();
  return lib;
}

std::string OpenBlas::CoreName() const {
  const char* n = corename_();
  return n ? n : "";
}

void OpenBlas::SetThreads(int n) const {
  QMOE_CHECK(n >= 1, "OpenBlas::SetThreads(", n, "): expected >= 1");
  set_threads_(n);
}

int OpenBlas::Threads() const { return get_threads_(); }

void OpenBlas::Gemm(const float* w, int64_t h, int64_t cols, const float* x, int64_t k, float* y) const {
  QMOE_CHECK(h >= 1 && cols >= 1 && k >= 1 && h < (int64_t{1} << 31) && cols < (int64_t{1} << 31) &&
                 k < (int64_t{1} << 31),
             "OpenBlas::Gemm: h = ", h, ", cols = ", cols, ", k = ", k, " (expected 1 .. 2^31-1)");
  if (k == 1) return sgemv_(kRowMajor, kNoTrans, int(h), int(cols), 1.0f, w, int(cols), x, 1, 0.0f, y, 1);
  // Y[k][h] = X[k][cols] * W[h][cols]^T.
  sgemm_(kRowMajor, kNoTrans, kTrans, int(k), int(h), int(cols), 1.0f, x, int(cols), w, int(cols), 0.0f, y, int(h));
}

std::string OpenBlas::BetterCore() const {
  return BetterOpenBlasCore(CoreName(), DetectCpuVectorFeatures(), std::getenv("OPENBLAS_CORETYPE"),
                            std::getenv("QMOE_OPENBLAS_AUTO"));
}

void MaybeReexecForBetterOpenBlasCore(char** argv) {
  const OpenBlas* lib = OpenBlas::Get();
  if (!lib) return;
  const std::string better = lib->BetterCore();
  if (better.empty()) return;
  std::cerr << "OpenBLAS chose its " << lib->CoreName() << " kernels; running with OPENBLAS_CORETYPE=" << better
            << " (QMOE_OPENBLAS_AUTO=0 keeps OpenBLAS's choice)\n";
  setenv("OPENBLAS_CORETYPE", better.c_str(), 1);  // also stops a second re-exec
  execv("/proc/self/exe", argv);
  std::cerr << "re-exec failed; continuing with the " << lib->CoreName() << " kernels\n";
  unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace qmoe::kernels
