#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "framework/core/hash.h"
#include "framework/core/memory_stats.h"
#include "framework/core/openblas_core.h"
#include "framework/core/params.h"
#include "framework/core/repo_path.h"
#include "framework/core/strings.h"

namespace qmoe {
namespace {

TEST(Strings, NearestNameFindsTypo) {
  EXPECT_EQ(NearestName("bitz", {"bits", "group_size", "sym"}), "bits");
  EXPECT_EQ(NearestName("zzzzzzzz", {"bits", "sym"}), "");
}

// Touching 64 MiB raises the current RSS by about that much (the allocator may hand back pages
// touched before, hence the slack of 16 MiB), and the peak never falls below the current.
TEST(MemoryStats, CurrentRssFollowsTouchedPagesAndPeakBoundsIt) {
  const int64_t before = CurrentRssBytes();
  ASSERT_GT(before, 0);
  constexpr size_t kBytes = size_t(64) << 20;
  std::unique_ptr<char[]> block(new char[kBytes]);
  std::memset(block.get(), 1, kBytes);
  const int64_t during = CurrentRssBytes();
  EXPECT_GE(during - before, int64_t(kBytes) - (int64_t(16) << 20)) << "before " << before << " during " << during;
  EXPECT_GE(PeakRssBytes(), during);
  EXPECT_EQ(block[kBytes - 1], 1);
}

TEST(MemoryStats, PeakResetsToCurrentAndRamBoundsRss) {
  {
    constexpr size_t kBytes = size_t(64) << 20;
    std::unique_ptr<char[]> block(new char[kBytes]);
    std::memset(block.get(), 1, kBytes);
    ASSERT_EQ(block[kBytes / 2], 1);
  }  // freed: the peak stays 64 MiB above the current RSS until reset
  const int64_t peak_before = PeakRssBytes();
  if (!ResetPeakRss()) GTEST_SKIP() << "/proc/self/clear_refs is not writable here";
  const int64_t peak_after = PeakRssBytes(), now = CurrentRssBytes();
  EXPECT_LT(peak_after, peak_before - (int64_t(32) << 20)) << "the peak did not reset";
  EXPECT_GE(peak_after, now - (int64_t(1) << 20));
  EXPECT_GT(PhysicalMemoryBytes(), now);
}

TEST(Hash, Sha256KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

struct P {
  int64_t bits = 4;
  double damp = 0.1;
  bool sym = false;
  std::string grid = "minmax";
  template <class V>
  void Visit(V&& v) {
    v(bits, "bits", "bits per weight", Range{2, 8});
    v(damp, "damp", "damping");
    v(sym, "sym", "symmetric");
    v(grid, "grid", "grid kind", Choices{{"minmax", "ternary"}});
  }
};

TEST(Params, SpecsRoundTrip) {
  auto specs = SpecsOf<P>();
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0].default_text, "4");
  EXPECT_EQ(specs[1].default_text, "0.1");
  ParamMap m{{"bits", int64_t{2}}, {"grid", std::string("ternary")}};
  P p = FromParamMap<P>(m);
  EXPECT_EQ(p.bits, 2);
  EXPECT_EQ(p.grid, "ternary");
  EXPECT_DOUBLE_EQ(p.damp, 0.1);
  EXPECT_EQ(std::get<int64_t>(ToParamMap(p)["bits"]), 2);
}

TEST(Params, ParseRejectsBadValues) {
  auto specs = SpecsOf<P>();
  EXPECT_EQ(std::get<int64_t>(ParseParamValue(specs[0], "3", "x")), 3);
  EXPECT_THROW(ParseParamValue(specs[0], "9", "x"), Error);     // out of range
  EXPECT_THROW(ParseParamValue(specs[0], "two", "x"), Error);   // wrong type
  EXPECT_THROW(ParseParamValue(specs[2], "maybe", "x"), Error);
  try {
    ParseParamValue(specs[3], "ternery", "configs/method/rtn.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'ternary'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("configs/method/rtn.yaml"), std::string::npos);
  }
}

}  // namespace
TEST(OpenBlasCore, ChoosesTheWidestKernelsTheCpuRunsOnlyWhenUnset) {
  const CpuVectorFeatures avx512{true, true}, avx2{true, false}, sse{false, false};
  // Misdetected CPUs (the Prescott fallback) get the kernels their ISA allows.
  EXPECT_EQ(BetterOpenBlasCore("Prescott", avx512, nullptr, nullptr), "SKYLAKEX");
  EXPECT_EQ(BetterOpenBlasCore("Haswell", avx512, nullptr, nullptr), "SKYLAKEX");
  EXPECT_EQ(BetterOpenBlasCore("Sandybridge", avx2, nullptr, nullptr), "HASWELL");
  EXPECT_EQ(BetterOpenBlasCore("Prescott", avx2, nullptr, nullptr), "HASWELL");
  // Already as good as the CPU allows, or better than we know: untouched.
  EXPECT_EQ(BetterOpenBlasCore("SkylakeX", avx512, nullptr, nullptr), "");
  EXPECT_EQ(BetterOpenBlasCore("SapphireRapids", avx512, nullptr, nullptr), "");
  EXPECT_EQ(BetterOpenBlasCore("Zen", avx2, nullptr, nullptr), "");
  // Wider than the (QMOE_CPU_ISA-capped) CPU allows: step down.
  EXPECT_EQ(BetterOpenBlasCore("SkylakeX", avx2, nullptr, nullptr), "HASWELL");
  EXPECT_EQ(BetterOpenBlasCore("Haswell", sse, nullptr, nullptr), "PRESCOTT");
  EXPECT_EQ(BetterOpenBlasCore("Prescott", sse, nullptr, nullptr), "");
  EXPECT_EQ(BetterOpenBlasCore("SomeFutureCore", avx512, nullptr, nullptr), "");
  EXPECT_EQ(BetterOpenBlasCore("", avx512, nullptr, nullptr), "");  // no OpenBLAS in the process
  // A set OPENBLAS_CORETYPE (the user's or the machine's) wins; QMOE_OPENBLAS_AUTO=0 turns it off.
  EXPECT_EQ(BetterOpenBlasCore("Prescott", avx512, "Haswell", nullptr), "");
  EXPECT_EQ(BetterOpenBlasCore("Prescott", avx512, "", nullptr), "");
  EXPECT_EQ(BetterOpenBlasCore("Prescott", avx512, nullptr, "0"), "");
  EXPECT_EQ(BetterOpenBlasCore("Prescott", avx512, nullptr, "1"), "SKYLAKEX");
}

// Relative config paths: as given when present from the working directory, else from the source
// tree, else unchanged (so the caller's error names what the user wrote).
TEST(RepoPath, WorkingDirectoryThenSourceTree) {
  namespace fs = std::filesystem;
  const fs::path old = fs::current_path();
  const fs::path tmp = fs::path(::testing::TempDir()) / ("qmoe_repo_path_" + std::to_string(getpid()));
  fs::create_directories(tmp / "configs");
  fs::current_path(tmp);
  EXPECT_EQ(ResolveRepoPath("configs"), "configs");                               // here
  EXPECT_EQ(ResolveRepoPath("data/tokenizer"), SourceDir() + "/data/tokenizer");  // source tree
  EXPECT_EQ(ResolveRepoPath("no/such/thing"), "no/such/thing");                   // neither
  EXPECT_EQ(ResolveRepoPath("/abs/olute"), "/abs/olute");
  EXPECT_EQ(ResolveRepoPath(""), "");
  EXPECT_EQ(RepoRootFor("configs"), fs::current_path().string());
  EXPECT_EQ(RepoRootFor("data/tokenizer"), SourceDir());
  fs::current_path(old);
  fs::remove_all(tmp);
}

}  // namespace qmoe
