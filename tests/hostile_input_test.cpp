// Hostile files and crashing writers, across the readers and writers of framework/:
//  - pickle safety: hand-made malicious pickles (os.system, builtins.eval, INST, ...) are refused
//    with the global's or opcode's name before anything runs, directly and inside a .bin archive;
//  - resource limits: files that claim a terabyte (header lengths, shapes, record sizes, string
//    lengths, memo slots, sparse 1 TB files, a results shard claiming 2^31 pages) are refused with
//    peak RSS (VmHWM, in a child process) staying flat;
//  - crash safety: a safetensors file, a compressed model and an exported CSV, saved over an old
//    one with an injected ENOSPC at many points or a kill -9 at random moments, leave the old one
//    intact or the new one complete, with one clear error.
#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "serving/compressed_model.h"
#include "framework/config/config.h"
#include "framework/core/error.h"
#include "framework/io/atomic_file.h"
#include "framework/io/checkpoint.h"
#include "framework/io/pickle_parser.h"
#include "framework/io/safetensors.h"
#include "framework/io/torch_bin.h"
#include "framework/model/switch_config.h"
#include "framework/results/results_cli.h"
#include "framework/results/schema.h"
#include "framework/results/shard.h"
#include "framework/results/test_db.h"
#include "methods/method.h"

namespace qmoe {
namespace {
namespace fs = std::filesystem;
using namespace std::string_literals;  // pickles contain NUL bytes

fs::path Fresh(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("qmoe_hostile_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no qmoe::Error>";
}

std::string ReadBytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void WriteBytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

std::string U(const std::string& s) {  // BINUNICODE
  std::string r = "X";
  for (int i = 0; i < 4; ++i) r += static_cast<char>((s.size() >> (8 * i)) & 0xff);
  return r + s;
}

// A torch zip archive holding `pkl` as data.pkl and one 24-byte storage data/0.
void WriteArchive(const fs::path& p, const std::string& pkl) {
  caffe2::serialize::PyTorchStreamWriter w(p.string());
  w.writeRecord("data.pkl", pkl.data(), pkl.size());
  const std::string storage(24, '\0');
  w.writeRecord("data/0", storage.data(), storage.size());
  w.writeEndOfFile();
}

// A well-formed state dict {"w": float tensor [2, 3] of storage data/0}: the positive control.
std::string GoodPickle() {
  return "\x80\x02}q\x00("s + U("w") + "ctorch._utils\n_rebuild_tensor_v2\n(("s + U("storage") +
         "ctorch\nFloatStorage\n"s + U("0") + U("cpu") + "K\x06tQK\x00K\x02K\x03\x86K\x03K\x01\x86\x89tRu."s;
}

// ---------------------------------------------------------------------------------------------
// Pickle safety

TEST(PickleSafety, RefusesEveryNonStateDictGlobalNamingIt) {
  const fs::path dir = Fresh("pickle_globals");
  const fs::path marker = dir / "pwned";
  const std::string cmd = "touch " + marker.string();
  // A well-formed state dict is read (so the refusals below are about the globals, not the framing).
  ASSERT_EQ(ParseStateDictPickle(GoodPickle(), "good.pkl").size(), 1u);
  for (const std::string global : {"os.system", "posix.system", "builtins.eval", "builtins.exec", "__builtin__.eval",
                                   "subprocess.Popen", "builtins.getattr", "torch.load", "numpy.core.multiarray._reconstruct"}) {
    const size_t dot = global.rfind('.');
    const std::string mod = global.substr(0, dot), name = global.substr(dot + 1);
    // Protocol 2 GLOBAL + REDUCE, and protocol 4 STACK_GLOBAL + REDUCE.
    const std::string p2 = "\x80\x02"s + "c" + mod + "\n" + name + "\n" + U(cmd) + "\x85R."s;
    const std::string p4 = "\x80\x04\x8c"s + char(mod.size()) + mod + "\x8c"s + char(name.size()) + name + "\x93"s +
                           U(cmd) + "\x85R."s;
    // Hidden where a state dict has a global: as the storage type of a tensor.
    std::string hidden = GoodPickle();
    hidden.replace(hidden.find("torch\nFloatStorage\n"), 19, mod + "\n" + name + "\n");
    for (const std::string& pkl : {p2, p4, hidden}) {
      const std::string msg = ErrorOf([&] { ParseStateDictPickle(pkl, "evil.pkl"); });
      EXPECT_NE(msg.find("global '" + global + "' is not allowed"), std::string::npos) << msg;
      EXPECT_NE(msg.find("evil.pkl"), std::string::npos) << msg;
    }
    // The same inside a pytorch_model.bin, opened as a checkpoint.
    WriteArchive(dir / "pytorch_model.bin", p2);
    const std::string msg = ErrorOf([&] { Checkpoint::Open(dir); });
    EXPECT_NE(msg.find("global '" + global + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find((dir / "pytorch_model.bin").string()), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(marker)) << "a pickle ran a command";
}

TEST(PickleSafety, RefusesCodeRunningOpcodesNamingThem) {
  const std::pair<std::string, std::string> cases[] = {
      {"INST", "\x80\x02(" + U("touch x") + "ios\nsystem\n."},
      {"OBJ", "\x80\x02(o."s},
      {"EXT1", "\x80\x02\x82\x01."s},
      {"NEWOBJ_EX", "\x80\x04)}\x92."s},
      {"PERSID", "\x80\x02P0\n."s},
  };
  for (const auto& [name, pkl] : cases) {
    const std::string msg = ErrorOf([&] { ParseStateDictPickle(pkl, "evil.pkl"); });
    EXPECT_NE(msg.find("opcode " + name), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find("is not allowed"), std::string::npos) << msg;
  }
}

TEST(PickleSafety, AllowListIsTheStateDictVocabulary) {
  const auto globals = AllowedPickleGlobals();
  EXPECT_NE(std::find(globals.begin(), globals.end(), "torch._utils._rebuild_tensor_v2"), globals.end());
  EXPECT_NE(std::find(globals.begin(), globals.end(), "collections.OrderedDict"), globals.end());
  for (const auto& g : globals) EXPECT_TRUE(g.rfind("torch.", 0) == 0 || g == "collections.OrderedDict") << g;
  // Recursive structures are fine (no hang, no leak): a list appended to itself, a dict in itself.
  EXPECT_NE(ErrorOf([] { ParseStateDictPickle("\x80\x02]q\x00h\x00h\x00a."s, "r.pkl"); }), "<no qmoe::Error>");
  EXPECT_TRUE(ParseStateDictPickle("\x80\x02}q\x00h\x00"s + U("k") + "h\x00s."s, "r.pkl").empty());
}

// ---------------------------------------------------------------------------------------------
// Resource limits: claims of a terabyte

int64_t VmHwmKb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

// Runs `open` in a child process; returns its error message, and in *growth_kb how far the child's
// peak RSS rose above its RSS at the start (the peak is reset there through /proc/self/clear_refs).
std::string ErrorInChild(const std::function<void()>& open, int64_t* growth_kb) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::ofstream("/proc/self/clear_refs") << "5";  // reset VmHWM to the current RSS
    const int64_t before = VmHwmKb();
    std::string msg = "<no qmoe::Error>";
    try {
      open();
    } catch (const Error& e) {
      msg = e.what();
    } catch (const std::exception& e) {
      msg = std::string("<other exception> ") + e.what();
    }
    const std::string out = std::to_string(VmHwmKb() - before) + "\n" + msg;
    if (::write(fds[1], out.data(), out.size()) < 0) ::_exit(2);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child died (status " << status << ")";
  const size_t nl = out.find('\n');
  if (nl == std::string::npos) return "<child wrote nothing>";
  *growth_kb = std::stoll(out.substr(0, nl));
  return out.substr(nl + 1);
}

std::string SafetensorsClaiming(uint64_t header_len, const std::string& header) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);
  return s + header;
}

void SparseFile(const fs::path& p, const std::string& head, uint64_t size) {
  WriteBytes(p, head);
  fs::resize_file(p, size);
}

TEST(ResourceLimits, TerabyteClaimsAreRefusedWithFlatPeakRss) {
  const fs::path dir = Fresh("terabyte");
  constexpr uint64_t kTB = 1ull << 40;
  struct Case {
    std::string what, expect;
    std::function<void()> open;
  };
  std::vector<Case> cases;
  // safetensors: header length, a shape of 2^40 elements, data_offsets past the end.
  WriteBytes(dir / "len.safetensors", SafetensorsClaiming(kTB, "{}"));
  cases.push_back({"safetensors header length 2^40", "bad safetensors header length",
                   [&] { SafetensorsFile::Open(dir / "len.safetensors"); }});
  const std::string shape = R"({"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}})";
  WriteBytes(dir / "shape.safetensors", SafetensorsClaiming(shape.size(), shape));
  cases.push_back({"safetensors tensor of 4 TiB", "truncated or corrupt", [&] { SafetensorsFile::Open(dir / "shape.safetensors"); }});
  // .bin: a storage of 2^38 floats; a string of 2^40 bytes; a memo slot 2^32-1; a 4 GiB record.
  std::string big_storage = GoodPickle();
  big_storage.replace(big_storage.find("K\x06tQ"s), 4, "\x8a\x05\x00\x00\x00\x00\x40tQ"s);  // numel 2^38
  WriteArchive(dir / "storage.bin", big_storage);
  cases.push_back({"storage of 2^38 floats", "has 24 bytes", [&] { TorchBinFile::Open(dir / "storage.bin"); }});
  WriteArchive(dir / "string.bin", "\x80\x02\x8d\x00\x00\x00\x00\x00\x01\x00\x00x."s);
  cases.push_back({"pickle string of 2^40 bytes", "unexpected end of pickle", [&] { TorchBinFile::Open(dir / "string.bin"); }});
  WriteArchive(dir / "memo.bin", "\x80\x02}r\xff\xff\xff\xff."s);
  cases.push_back({"memo slot 2^32-1", "above the cap", [&] { TorchBinFile::Open(dir / "memo.bin"); }});
  {
    WriteArchive(dir / "record.bin", GoodPickle());
    std::string zip = ReadBytes(dir / "record.bin");
    size_t entry = zip.find("PK\x01\x02"s);  // the central directory entry of .../data.pkl
    while (entry != std::string::npos && zip.compare(entry + 46, 15, "record/data.pkl") != 0)
      entry = zip.find("PK\x01\x02"s, entry + 4);
    ASSERT_NE(entry, std::string::npos);
    for (int k = 20; k < 28; ++k) zip[entry + k] = '\xff';  // compressed and uncompressed size: 4 GiB
    WriteBytes(dir / "record.bin", zip);
    cases.push_back({"data.pkl record of 4 GiB", "claims 4294967295 bytes", [&] { TorchBinFile::Open(dir / "record.bin"); }});
  }
  // Whole-file reads: sparse 1 TB config.json, YAML config, checkpoint index and qmoe.json.
  fs::create_directories(dir / "hf");
  SparseFile(dir / "hf" / "config.json", "{", kTB);
  cases.push_back({"1 TB config.json", "more than the cap", [&] { ReadHfConfig(dir / "hf"); }});
  fs::create_directories(dir / "configs");
  SparseFile(dir / "configs" / "config.yaml", "seed: 0\n", kTB);
  cases.push_back({"1 TB config.yaml", "more than the cap", [&] { ComposeConfig(dir / "configs", {}); }});
  fs::create_directories(dir / "ckpt");
  SparseFile(dir / "ckpt" / "model.safetensors.index.json", "{", kTB);
  cases.push_back({"1 TB index.json", "more than the cap", [&] { Checkpoint::Open(dir / "ckpt"); }});
  fs::create_directories(dir / "compressed");
  SparseFile(dir / "compressed" / "qmoe.json", "{", kTB);
  cases.push_back({"1 TB qmoe.json", "more than the cap", [&] { CompressedWeights::Open(dir / "compressed"); }});
  // A results shard whose header claims 2^31 pages of 512 bytes (SQLite's quick_check would size a
  // page map of 256 MiB by the claim): a valid empty shard, its page count patched, grown sparsely.
  fs::create_directories(dir / "shards");
  const std::string shard = (dir / "shards" / "0.1.db").string();
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(shard.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA page_size=512", nullptr, nullptr, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, kSchemaSql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
    std::string bytes = ReadBytes(shard);
    const uint32_t pages = 1u << 31;
    for (int i = 0; i < 4; ++i) bytes[28 + i] = static_cast<char>(pages >> (24 - 8 * i));  // big-endian
    SparseFile(shard, bytes, kTB);
  }
  cases.push_back({"1 TB results shard", "more than a shard may be", [&] {
                     ResultsDb main((dir / "main.db").string());
                     MergeShard(main, shard);
                   }});
  // Expansion: YAML aliases of aliases (8^7 leaves) and a shape of 2^40 in config.json.
  fs::create_directories(dir / "laughs");
  std::string laughs = "a0: &a0 [x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 8; ++i) {
    laughs += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 8; ++k) laughs += (k ? ", *a" : "*a") + std::to_string(i - 1);
    laughs += "]\n";
  }
  WriteBytes(dir / "laughs" / "config.yaml", laughs);
  cases.push_back({"YAML alias bomb", "expands to more than", [&] { ComposeConfig(dir / "laughs", {}); }});
  fs::create_directories(dir / "hf_big");
  WriteBytes(dir / "hf_big" / "config.json",
             R"({"d_model":768,"d_ff":1099511627776,"num_heads":12,"d_kv":64,"num_layers":12,"num_experts":8,)"
             R"("vocab_size":32128,"encoder_sparse_step":2,"decoder_sparse_step":2})");
  cases.push_back({"d_ff of 2^40", "outside the supported range", [&] { ReadHfConfig(dir / "hf_big"); }});

  for (const Case& c : cases) {
    int64_t growth_kb = -1;
    const std::string msg = ErrorInChild(c.open, &growth_kb);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.what << ": " << msg;
    // Flat: far below any claim above (the smallest is 4 GiB); the readers' own working memory for
    // these small files is a few MiB.
    EXPECT_GE(growth_kb, 0) << c.what;
    EXPECT_LT(growth_kb, 64 * 1024) << c.what << ": peak RSS grew by " << growth_kb << " KiB";
  }
}

// ---------------------------------------------------------------------------------------------
// Crash-safe writers

std::vector<std::string> TempFilesIn(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(e.path().string());
  return out;
}

TEST(CrashSafety, SafetensorsOverwriteUnderInjectedEnospcKeepsOldOrNew) {
  const fs::path dir = Fresh("st_enospc");
  const fs::path p = dir / "model.safetensors";
  WriteSafetensors(p, {{"a", at::zeros({256})}});
  const std::string old_bytes = ReadBytes(p);
  const std::vector<std::pair<std::string, at::Tensor>> next = {{"a", at::ones({256})}, {"b", at::arange(100.0)}};
  WriteSafetensors(dir / "expected.safetensors", next);
  const std::string new_bytes = ReadBytes(dir / "expected.safetensors");
  int failed = 0;
  for (uint64_t k = 0; k <= new_bytes.size() + 8; k += 97) {
    SetWriteFaultForTest(static_cast<int64_t>(k));
    const std::string msg = ErrorOf([&] { WriteSafetensors(p, next); });
    SetWriteFaultForTest(-1);
    const std::string now = ReadBytes(p);
    if (msg == "<no qmoe::Error>") {
      EXPECT_EQ(now, new_bytes) << "fault after " << k << " bytes";
      WriteBytes(p, old_bytes);
    } else {
      ++failed;
      EXPECT_EQ(now, old_bytes) << "fault after " << k << " bytes: " << msg;
      EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
    }
    EXPECT_TRUE(TempFilesIn(dir).empty());
  }
  EXPECT_GT(failed, 10);  // the fault really hit most points
}

// Two different compressed models of the same shape (method rtn) and the writer for either.
struct CompressedPair {
  std::vector<std::string> names = {"encoder.block.1.layer.1.mlp.experts.expert_0.wi.weight",
                                    "encoder.block.1.layer.1.mlp.experts.expert_1.wi.weight"};
  QuantOutput q[2];
  at::Tensor dense[2];
  int version = 0;
  CompressedPair() {
    const MethodInfo& info = Methods().Get("rtn");
    version = info.version;
    for (int v = 0; v < 2; ++v) {
      QuantTarget t;
      t.weight = at::randn({2, 8, 16}, at::TensorOptions().dtype(at::kFloat)) * (v + 1);
      t.names = names;
      q[v] = info.make({})->Quantize(t);
      dense[v] = at::full({8, 4}, float(v + 1));
    }
  }
  void Save(const fs::path& dir, int v) const {
    CompressedModelWriter w(dir, "rtn", {}, version, "{\"v\": " + std::to_string(v) + "}");
    w.WriteExpertBlock("encoder-1", {{names[0], &q[v].matrices[0]}, {names[1], &q[v].matrices[1]}}, {{8, 16}, {8, 16}});
    w.Finish({{"shared.weight", dense[v]}});
  }
  // Which of the two `dir` holds, checking every tensor; -1 when it is neither (torn).
  int Which(const fs::path& dir) const {
    auto w = CompressedWeights::Open(dir);
    for (int v = 0; v < 2; ++v) {
      bool all = at::equal(w->Get("shared.weight"), dense[v]) && w->hf_config_json() == "{\"v\": " + std::to_string(v) + "}";
      for (size_t i = 0; i < names.size(); ++i) all = all && at::equal(w->Get(names[i]), q[v].weight[i]);
      if (all) return v;
    }
    return -1;
  }
};

TEST(CrashSafety, CompressedModelSaveUnderInjectedEnospcKeepsPreviousModel) {
  const fs::path root = Fresh("compressed_enospc");
  const fs::path dir = root / "model";
  CompressedPair m;
  m.Save(dir, 0);
  ASSERT_EQ(m.Which(dir), 0);
  uint64_t total = 0;  // bytes one save writes
  for (const auto& e : fs::recursive_directory_iterator(dir)) total += e.is_regular_file() ? e.file_size() : 0;
  int failed = 0;
  for (uint64_t k = 0; k <= total + 64; k += std::max<uint64_t>(1, total / 40)) {
    SetWriteFaultForTest(static_cast<int64_t>(k));
    const std::string msg = ErrorOf([&] { m.Save(dir, 1); });
    SetWriteFaultForTest(-1);
    if (msg == "<no qmoe::Error>") {
      EXPECT_EQ(m.Which(dir), 1) << "fault after " << k << " of " << total << " bytes";
      m.Save(dir, 0);
    } else {
      ++failed;
      EXPECT_EQ(m.Which(dir), 0) << "fault after " << k << " of " << total << " bytes: " << msg;
      EXPECT_NE(msg.find("disk full"), std::string::npos) << msg;
    }
    EXPECT_TRUE(TempFilesIn(root).empty()) << "staging folder left behind after fault at " << k;
  }
  EXPECT_GT(failed, 20);
}

TEST(CrashSafety, CompressedModelSaveNeverReplacesAFolderOfOtherFiles) {
  const fs::path dir = Fresh("compressed_foreign") / "notes";
  fs::create_directories(dir);
  WriteBytes(dir / "thesis.tex", "precious");
  CompressedPair m;
  const std::string msg = ErrorOf([&] { m.Save(dir, 0); });
  EXPECT_NE(msg.find("exists and is not a compressed model"), std::string::npos) << msg;
  EXPECT_EQ(ReadBytes(dir / "thesis.tex"), "precious");
  m.Save(dir / "model", 0);  // a new folder inside is fine
  EXPECT_EQ(m.Which(dir / "model"), 0);
}

TEST(CrashSafety, CompressedModelSaveKilledAtRandomMomentsKeepsAWholeModel) {
  const fs::path root = Fresh("compressed_kill");
  const fs::path dir = root / "model";
  CompressedPair m;
  m.Save(dir, 0);
  std::mt19937 rng(1234);
  std::vector<int> seen(2, 0);
  for (int round = 0; round < 12; ++round) {
    const pid_t pid = ::fork();
    if (pid == 0) {  // saves the two models in turn until killed
      for (int v = 1;; v ^= 1) m.Save(dir, v);
    }
    ::usleep(std::uniform_int_distribution<int>(2000, 60000)(rng));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saving child exited by itself (status " << status << ")";
    const int which = m.Which(dir);
    ASSERT_NE(which, -1) << "round " << round << ": the model at " << dir << " is a torn mix";
    ++seen[which];
    fs::remove_all(dir.string() + ".tmp." + std::to_string(pid));  // the killed writer's staging folder
  }
  EXPECT_GT(seen[0] + seen[1], 0);
}

TEST(CrashSafety, ResultsExportUnderInjectedEnospcKeepsOldCsv) {
  const std::string db_path = testing_results::FreshDbPath("export_enospc");
  {
    ResultsDb db(db_path);
    for (int i = 0; i < 50; ++i)
      testing_results::AddRun(db, "key" + std::to_string(i), "rtn", {{"bits", std::to_string(i % 4 + 2)}},
                              {{"val_loss", 1.0 + i}});
  }
  const fs::path dir = Fresh("export_enospc");
  const fs::path csv = dir / "runs.csv";
  WriteBytes(csv, "old,csv\n1,2\n");
  std::ostringstream out;
  const std::vector<std::string> args = {"export", "--csv", csv.string(), "--table", "runs"};
  ASSERT_EQ(RunResultsCommand(args, db_path, out), 0);
  const std::string full = ReadBytes(csv);
  ASSERT_GT(full.size(), 1000u);
  WriteBytes(csv, "old,csv\n1,2\n");
  for (uint64_t k : {uint64_t{0}, uint64_t{1}, full.size() / 2, full.size() - 1}) {
    SetWriteFaultForTest(static_cast<int64_t>(k));
    const std::string msg = ErrorOf([&] { RunResultsCommand(args, db_path, out); });
    SetWriteFaultForTest(-1);
    EXPECT_NE(msg.find("qmoe results export: " + csv.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("disk full"), std::string::npos) << msg;
    EXPECT_EQ(ReadBytes(csv), "old,csv\n1,2\n") << "fault after " << k << " bytes";
    EXPECT_TRUE(TempFilesIn(dir).empty());
  }
  ASSERT_EQ(RunResultsCommand(args, db_path, out), 0);
  EXPECT_EQ(ReadBytes(csv), full);
}

}  // namespace
}  // namespace qmoe
