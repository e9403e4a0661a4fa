// Streaming benchmark for qmoe_io: writes a synthetic sharded checkpoint (default 24 layers x
// 128 MiB = 3 GiB, one shard per layer) to a temp dir, then streams it layer by layer (load a
// layer's tensors, touch every page, verify the values, drop them) and reports peak RSS against
// one layer and the whole checkpoint, and read GB/s against a plain read() of the same files
// (the baseline, measured in the same run). Temp files are deleted at the end.
//
//   io_bench [--layers 24] [--layer_mib 128] [--format st|bin] [--dir /tmp]
#include "framework/core/error.h"
#include "framework/io/checkpoint.h"
#include "framework/io/safetensors.h"
#include "framework/io/torch_bin.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace qmoe;

namespace {

constexpr int kTensorsPerLayer = 16;  // e.g. 8 experts x (wi, wo)

struct Options {
  int layers = 24;
  int64_t layer_mib = 128;
  std::string format = "st";
  fs::path dir = fs::temp_directory_path();
};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A value from /proc/self/status in KiB ("VmRSS", "VmHWM").
int64_t StatusKiB(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  return -1;
}

int64_t MaxRssKiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so each pass reports its own peak.
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

std::string TensorName(int layer, int j) {
  return "encoder.block." + std::to_string(layer) + ".layer.1.mlp.experts.expert_" + std::to_string(j / 2) +
         (j % 2 ? ".wo.weight" : ".wi.weight");
}
// The value every element of tensor (layer, j) holds; exact in F32.
float Expected(int layer, int j) { return static_cast<float>(layer * 100 + j + 1); }

std::string ShardName(const Options& o, int layer) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s-%05d-of-%05d.%s", o.format == "st" ? "model" : "pytorch_model",
                layer + 1, o.layers, o.format == "st" ? "safetensors" : "bin");
  return buf;
}

// Writes one shard per layer, generating only that layer in memory, then the index.
void WriteSynthetic(const Options& o, const fs::path& dir) {
  const int64_t elems = o.layer_mib * (1 << 20) / 4 / kTensorsPerLayer;
  nlohmann::json weight_map = nlohmann::json::object();
  for (int l = 0; l < o.layers; ++l) {
    std::vector<std::pair<std::string, at::Tensor>> layer;
    for (int j = 0; j < kTensorsPerLayer; ++j) {
      layer.emplace_back(TensorName(l, j), at::full({elems / 1024, 1024}, Expected(l, j)));
      weight_map[TensorName(l, j)] = ShardName(o, l);
    }
    if (o.format == "st") WriteSafetensors(dir / ShardName(o, l), layer);
    else WriteTorchBin(dir / ShardName(o, l), layer);
  }
  nlohmann::json index = {{"metadata", {{"total_size", o.layer_mib * (1 << 20) * o.layers}}},
                          {"weight_map", weight_map}};
  std::ofstream(dir / (o.format == "st" ? "model.safetensors.index.json" : "pytorch_model.bin.index.json"))
      << index.dump(1);
}

// Drops the files' clean pages from the page cache so the next pass reads from disk.
void DropCache(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    int fd = ::open(e.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Baseline: read() every shard through one small reused buffer, touching each page.
double RawReadSeconds(const fs::path& dir, uint64_t* bytes) {
  std::vector<char> buf(4 << 20);  // small, so it barely counts in the peak RSS
  volatile char sink = 0;
  *bytes = 0;
  const double t0 = Now();
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".json") continue;
    int fd = ::open(e.path().c_str(), O_RDONLY);
    QMOE_CHECK(fd >= 0, e.path().string(), ": cannot open");
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) {
      for (ssize_t i = 0; i < n; i += 4096) sink = sink + buf[i];
      *bytes += static_cast<uint64_t>(n);
    }
    ::close(fd);
  }
  return Now() - t0;
}

// Baseline 2: the same allocation work as Load, without the checkpoint code: pread() each shard
// in tensor-sized pieces into freshly allocated tensors, touching each page, one layer held at a time.
double FreshReadSeconds(const fs::path& dir, int64_t piece, uint64_t* bytes) {
  *bytes = 0;
  volatile char sink = 0;
  const double t0 = Now();
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".json") continue;
    int fd = ::open(e.path().c_str(), O_RDONLY);
    QMOE_CHECK(fd >= 0, e.path().string(), ": cannot open");
    const int64_t size = static_cast<int64_t>(fs::file_size(e.path()));
    std::vector<at::Tensor> layer;  // a shard is a layer: hold it until the next, like StreamLayers
    for (int64_t off = 0; off < size; off += piece) {
      at::Tensor t = at::empty({std::min(piece, size - off)}, at::kByte);
      const ssize_t n = ::pread(fd, t.data_ptr(), t.numel(), off);
      QMOE_CHECK(n == t.numel(), e.path().string(), ": short read");
      const char* p = static_cast<const char*>(t.data_ptr());
      for (ssize_t i = 0; i < n; i += 4096) sink = sink + p[i];
      *bytes += static_cast<uint64_t>(n);
      layer.push_back(std::move(t));
    }
    ::close(fd);
  }
  return Now() - t0;
}

struct StreamResult {
  double seconds = 0;
  uint64_t bytes = 0;
  int64_t rss_before_kib = 0, hwm_kib = 0;
};

// Loads each layer's tensors, touches every page and checks values, then drops the layer.
StreamResult StreamLayers(const Options& o, const Checkpoint& ckpt) {
  StreamResult r;
  ResetPeakRss();
  r.rss_before_kib = StatusKiB("VmRSS");
  const double t0 = Now();
  for (int l = 0; l < o.layers; ++l) {
    std::vector<at::Tensor> layer;  // the pipeline holds one layer at a time
    for (int j = 0; j < kTensorsPerLayer; ++j) {
      at::Tensor t = ckpt.Load(TensorName(l, j));
      const float* p = t.data_ptr<float>();
      const int64_t n = t.numel();
      for (int64_t i = 0; i < n; i += 1024)  // one float per 4 KiB page
        QMOE_CHECK(p[i] == Expected(l, j), "value mismatch in ", TensorName(l, j), " at ", i);
      QMOE_CHECK(p[n - 1] == Expected(l, j), "value mismatch at the end of ", TensorName(l, j));
      r.bytes += t.nbytes();
      layer.push_back(std::move(t));
    }
  }
  r.seconds = Now() - t0;
  r.hwm_kib = StatusKiB("VmHWM");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i], v = i + 1 < argc ? argv[i + 1] : "";
    if (k == "--layers") o.layers = std::stoi(v);
    else if (k == "--layer_mib") o.layer_mib = std::stoll(v);
    else if (k == "--format") o.format = v;
    else if (k == "--dir") o.dir = v;
    else {
      std::fprintf(stderr, "unknown flag %s (expected --layers, --layer_mib, --format st|bin, --dir)\n", k.c_str());
      return 2;
    }
  }
  if (o.format != "st" && o.format != "bin") {
    std::fprintf(stderr, "--format must be st or bin, got %s\n", o.format.c_str());
    return 2;
  }
  const fs::path dir = o.dir / ("qmoe_io_bench_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const double total_gib = o.layer_mib / 1024.0 * o.layers;
  std::printf("io_bench: %d layers x %lld MiB (%s) = %.2f GiB in %s\n", o.layers,
              static_cast<long long>(o.layer_mib), o.format.c_str(), total_gib, dir.c_str());
  try {
    // Write in a child process so this process's ru_maxrss reflects only the reading.
    const double tw = Now();
    pid_t pid = ::fork();
    if (pid == 0) {
      try {
        WriteSynthetic(o, dir);
        std::_Exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "write failed: %s\n", e.what());
        std::_Exit(1);
      }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    QMOE_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writing the synthetic checkpoint failed");
    const double write_s = Now() - tw;
    std::printf("write: %.1f s, %.2f GB/s (incl. fsync)\n", write_s, total_gib * 1.073741824 / write_s);

    auto ckpt = Checkpoint::Open(dir);
    const int64_t idle_kib = StatusKiB("VmRSS");
    for (const std::string pass : {"cold", "warm"}) {
      if (pass == "cold") DropCache(dir);
      // Checkpoint first, so its peak RSS is not inflated by memory the baselines leave in the heap.
      const StreamResult s = StreamLayers(o, *ckpt);
      uint64_t raw_bytes = 0, fresh_bytes = 0;
      if (pass == "cold") DropCache(dir);
      const double raw_s = RawReadSeconds(dir, &raw_bytes);
      if (pass == "cold") DropCache(dir);
      const double fresh_s = FreshReadSeconds(dir, o.layer_mib * (1 << 20) / kTensorsPerLayer, &fresh_bytes);
      const double raw_gbs = raw_bytes / raw_s / 1e9, fresh_gbs = fresh_bytes / fresh_s / 1e9,
                   ck_gbs = s.bytes / s.seconds / 1e9;
      std::printf("%s: baseline read() into a reused 4 MiB buffer %.2f GB/s | pread() into fresh tensors %.2f GB/s"
                  " | Checkpoint::Load %.2f GB/s | ratio vs fresh %.2f, vs reused %.2f\n",
                  pass.c_str(), raw_gbs, fresh_gbs, ck_gbs, ck_gbs / fresh_gbs, ck_gbs / raw_gbs);
      const double above = (s.hwm_kib - idle_kib) / 1024.0;
      std::printf("%s: RSS idle %.0f MiB, peak (VmHWM) %.0f MiB, peak above idle %.0f MiB = %.2f layers = "
                  "%.3f of the checkpoint\n",
                  pass.c_str(), idle_kib / 1024.0, s.hwm_kib / 1024.0, above, above / o.layer_mib,
                  above / (o.layer_mib * o.layers));
    }
    const double maxrss = MaxRssKiB() / 1024.0;
    std::printf("process ru_maxrss %.0f MiB = %.2f layers = %.3f of the checkpoint (RSS idle now %.0f MiB)\n",
                maxrss, maxrss / o.layer_mib, maxrss / (o.layer_mib * o.layers), StatusKiB("VmRSS") / 1024.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "io_bench: %s\n", e.what());
    fs::remove_all(dir);
    return 1;
  }
  fs::remove_all(dir);
  return 0;
}
