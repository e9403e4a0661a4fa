// Tests for framework/io: round trips for every layout x dtype, sharding, the lazy .bin reader
// against torch::pickle_load, error messages, and Switch aliases. Storage is a byte copy, so
// every comparison here is exact (at::equal), never a tolerance.
#include "framework/core/error.h"
#include "framework/io/checkpoint.h"
#include "framework/io/pickle_parser.h"
#include "framework/io/safetensors.h"
#include "framework/io/switch_alias.h"
#include "framework/io/torch_bin.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace qmoe {
namespace {
namespace fs = std::filesystem;
using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    static int counter = 0;
    std::string n = StrCat("qmoe_io_test_", ::getpid(), "_", info->test_suite_name(), "_", info->name(), "_",
                           counter++);
    for (char& c : n)
      if (c == '/') c = '_';
    path_ = fs::temp_directory_path() / n;
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Deterministic tensors of `dtype` with assorted shapes: matrices, a vector, a scalar, an empty one.
Tensors MakeTensors(at::ScalarType dtype, int64_t seed = 0) {
  at::manual_seed(seed);
  auto r = [&](std::vector<int64_t> shape) { return at::randn(shape).to(dtype); };
  return {{"shared.weight", r({16, 8})},
          {"encoder.block.0.layer.0.SelfAttention.q.weight", r({8, 8})},
          {"encoder.block.1.layer.1.mlp.experts.expert_0.wi.weight", r({32, 8})},
          {"encoder.final_layer_norm.weight", r({8})},
          {"scalar", r({})},
          {"empty", r({0, 3})}};
}

void ExpectSame(const Checkpoint& ckpt, const Tensors& want) {
  ASSERT_EQ(ckpt.Names().size(), want.size());
  for (const auto& [name, t] : want) {
    ASSERT_TRUE(ckpt.Has(name)) << name;
    const TensorInfo& info = ckpt.Info(name);
    EXPECT_EQ(info.shape, t.sizes().vec()) << name;
    at::Tensor got = ckpt.Load(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(got.is_contiguous()) << name;
    EXPECT_TRUE(at::equal(got, t)) << name;
  }
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected qmoe::Error";
  return "";
}

struct LayoutCase {
  CheckpointLayout layout;
  at::ScalarType dtype;
};

class RoundTrip : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(RoundTrip, WriteThenReadIsExact) {
  TempDir dir;
  const Tensors tensors = MakeTensors(GetParam().dtype);
  // 600 bytes forces several shards for the sharded layouts (the largest tensor is 1 KiB in F32).
  WriteCheckpoint(dir.path(), tensors, GetParam().layout, 600);
  auto ckpt = Checkpoint::Open(dir.path());
  ExpectSame(*ckpt, tensors);
  EXPECT_EQ(ckpt->Info("shared.weight").dtype,
            GetParam().dtype == at::kFloat ? "F32" : GetParam().dtype == at::kBFloat16 ? "BF16" : "F16");
}

std::string CaseName(const ::testing::TestParamInfo<LayoutCase>& p) {
  const char* layouts[] = {"Safetensors", "SafetensorsSharded", "TorchBin", "TorchBinSharded"};
  return StrCat(layouts[static_cast<int>(p.param.layout)], "_", c10::toString(p.param.dtype));
}

INSTANTIATE_TEST_SUITE_P(
    AllLayoutsAndDtypes, RoundTrip,
    ::testing::ValuesIn([] {
      std::vector<LayoutCase> cases;
      for (auto l : {CheckpointLayout::kSafetensors, CheckpointLayout::kSafetensorsSharded,
                     CheckpointLayout::kTorchBin, CheckpointLayout::kTorchBinSharded})
        for (auto d : {at::kFloat, at::kBFloat16, at::kHalf}) cases.push_back({l, d});
      return cases;
    }()),
    CaseName);

TEST(Checkpoint, OtherDtypesRoundTripInSafetensors) {
  TempDir dir;
  Tensors t = {{"f64", at::randn({3, 2}, at::kDouble)},      {"i64", at::arange(-3, 5, at::kLong)},
               {"i32", at::arange(-3, 5, at::kInt)},          {"i16", at::arange(-3, 5, at::kShort)},
               {"i8", at::arange(-3, 5, at::kChar)},          {"u8", at::arange(0, 8, at::kByte)},
               {"bool", at::arange(0, 6, at::kLong).remainder(2).to(at::kBool)}};
  WriteCheckpoint(dir.path(), t, CheckpointLayout::kSafetensors);
  ExpectSame(*Checkpoint::Open(dir.path()), t);
}

TEST(Checkpoint, ShardedEqualsUnsharded) {
  for (auto [single, sharded, index] :
       {std::tuple{CheckpointLayout::kSafetensors, CheckpointLayout::kSafetensorsSharded, "model.safetensors.index.json"},
        std::tuple{CheckpointLayout::kTorchBin, CheckpointLayout::kTorchBinSharded, "pytorch_model.bin.index.json"}}) {
    TempDir a, b;
    const Tensors t = MakeTensors(at::kBFloat16, 7);
    WriteCheckpoint(a.path(), t, single);
    WriteCheckpoint(b.path(), t, sharded, 300);
    int files = 0;
    for (const auto& e : fs::directory_iterator(b.path())) files += e.path().filename().string().find("-of-") != std::string::npos;
    EXPECT_GE(files, 3) << "the shard limit should have split the checkpoint";
    ASSERT_TRUE(fs::exists(b.path() / index));
    auto ca = Checkpoint::Open(a.path()), cb = Checkpoint::Open(b.path());
    ASSERT_EQ(ca->Names(), cb->Names());
    for (const auto& n : ca->Names()) {
      EXPECT_TRUE(at::equal(ca->Load(n), cb->Load(n))) << n;
      EXPECT_NE(ca->Info(n).file, cb->Info(n).file);
    }
    // The index's total_size is the sum of the tensors' bytes.
    std::ifstream in(b.path() / index);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    int64_t total = 0;
    for (const auto& [n, x] : t) total += x.nbytes();
    EXPECT_NE(text.find(StrCat("\"total_size\": ", total)), std::string::npos) << text;
  }
}

TEST(Checkpoint, OpensSingleFilesAndIndexPathsDirectly) {
  TempDir dir;
  const Tensors t = MakeTensors(at::kFloat);
  WriteCheckpoint(dir.path() / "st", t, CheckpointLayout::kSafetensors);
  WriteCheckpoint(dir.path() / "bin", t, CheckpointLayout::kTorchBinSharded, 600);
  ExpectSame(*Checkpoint::Open(dir.path() / "st" / "model.safetensors"), t);
  ExpectSame(*Checkpoint::Open(dir.path() / "bin" / "pytorch_model.bin.index.json"), t);
}

TEST(Checkpoint, PrefersSafetensorsWhenBothExist) {
  TempDir dir;
  const Tensors st = MakeTensors(at::kFloat, 1), bin = MakeTensors(at::kFloat, 2);
  WriteCheckpoint(dir.path(), bin, CheckpointLayout::kTorchBinSharded, 600);
  WriteCheckpoint(dir.path(), st, CheckpointLayout::kSafetensors);
  auto ckpt = Checkpoint::Open(dir.path());
  EXPECT_EQ(fs::path(ckpt->Info("shared.weight").file).filename(), "model.safetensors");
  ExpectSame(*ckpt, st);
}

TEST(Checkpoint, LoadAsConvertsHalfToFloat) {
  TempDir dir;
  const Tensors t = MakeTensors(at::kHalf);
  WriteCheckpoint(dir.path(), t, CheckpointLayout::kSafetensors);
  auto ckpt = Checkpoint::Open(dir.path());
  at::Tensor f = ckpt->LoadAs("shared.weight", at::kFloat);
  EXPECT_EQ(f.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(f, t[0].second.to(at::kFloat)));  // F16 -> F32 is exact
}

TEST(TorchBin, ReadsPickleSaveOutputLikeTheReference) {
  TempDir dir;
  // Views with strides and storage offsets, as torch.save keeps them.
  at::Tensor base = at::arange(24, at::kFloat).reshape({4, 6});
  c10::Dict<std::string, at::Tensor> d;
  d.insert("transposed", base.t());
  d.insert("narrowed", base.narrow(0, 1, 2));
  d.insert("bf16", at::randn({5, 3}).to(at::kBFloat16));
  d.insert("f16", at::randn({7}).to(at::kHalf));
  const std::vector<char> bytes = torch::jit::pickle_save(d);
  const fs::path p = dir.path() / "pytorch_model.bin";
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  const Tensors ref = LoadTorchBin_ref(p);
  ASSERT_EQ(ref.size(), 4u);
  auto ckpt = Checkpoint::Open(dir.path());
  for (const auto& [name, t] : ref) {
    EXPECT_TRUE(at::equal(ckpt->Load(name), t)) << name;
    EXPECT_TRUE(at::equal(ckpt->Load(name), d.at(name))) << name;
  }
}

TEST(TorchBin, SingleKeyDictReadsBack) {
  // LibTorch 1.13's own loader fails on one-key dicts (SETITEM, 0x73); ours must not.
  TempDir dir;
  const Tensors t = {{"only.weight", at::randn({3, 4}).to(at::kBFloat16)}};
  WriteCheckpoint(dir.path(), t, CheckpointLayout::kTorchBin);
  ExpectSame(*Checkpoint::Open(dir.path()), t);
}

// Protocol-2 pickle bytes as Python's torch.save writes a state dict: an OrderedDict built by
// REDUCE, items by SETITEMS, then its _metadata attribute through BUILD.
std::string PythonStylePickle() {
  using namespace std::string_literals;  // the opcodes contain NUL bytes
  auto u = [](const std::string& s) {
    std::string r = "X";
    for (int i = 0; i < 4; ++i) r += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    return r + s;
  };
  std::string p = "\x80\x02"s;
  p += "ccollections\nOrderedDict\nq\x00)Rq\x01("s;
  p += u("w") + "q\x02"s + "ctorch._utils\n_rebuild_tensor_v2\nq\x03("s + "("s + u("storage") +
       "ctorch\nFloatStorage\nq\x04"s + u("0") + u("cpu") + "K\x06tQ"s + "K\x00"s + "K\x02K\x03\x86"s +
       "K\x03K\x01\x86"s + "\x89"s + "ccollections\nOrderedDict\n)R"s + "tRq\x05"s;
  p += u("b") + "h\x03(("s + u("storage") + "ctorch\nBFloat16Storage\n"s + u("1") + u("cpu") +
       "M\x04\x01tQ"s + "K\x00"s + "K\x04K\x41\x86"s + "K\x41K\x01\x86"s + "\x89h\x01tR"s;
  p += "u}q\x06"s + u("_metadata") + "ccollections\nOrderedDict\n)R("s + u("") + "}"s + u("version") +
       "K\x01susb."s;
  return p;
}

TEST(TorchBin, ReadsPythonStyleStateDict) {
  TempDir dir;
  const fs::path p = dir.path() / "pytorch_model.bin";
  const std::string pkl = PythonStylePickle();
  at::Tensor w = at::arange(6, at::kFloat);
  at::Tensor b = at::randn({260}).to(at::kBFloat16);
  {
    caffe2::serialize::PyTorchStreamWriter writer(p.string());
    writer.writeRecord("data.pkl", pkl.data(), pkl.size());
    writer.writeRecord("data/0", w.data_ptr(), w.nbytes());
    writer.writeRecord("data/1", b.data_ptr(), b.nbytes());
    writer.writeEndOfFile();
  }
  auto ckpt = Checkpoint::Open(p);
  ASSERT_EQ(ckpt->Names(), (std::vector<std::string>{"b", "w"}));
  EXPECT_TRUE(at::equal(ckpt->Load("w"), w.reshape({2, 3})));
  EXPECT_TRUE(at::equal(ckpt->Load("b"), b.reshape({4, 65})));
}

TEST(PickleParser, RejectsGarbageWithFileName) {
  const std::string msg = ErrorOf([] { ParseStateDictPickle("\x80\x02\xff", "some/file.bin"); });
  EXPECT_NE(msg.find("some/file.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("opcode 0xff"), std::string::npos) << msg;
  const std::string eof = ErrorOf([] { ParseStateDictPickle("\x80\x02}X\x05\x00\x00", "f.bin"); });
  EXPECT_NE(eof.find("unexpected end"), std::string::npos) << eof;
}

TEST(Errors, MissingTensorNamesTensorAndDirAndSuggests) {
  TempDir dir;
  WriteCheckpoint(dir.path(), MakeTensors(at::kFloat), CheckpointLayout::kSafetensors);
  auto ckpt = Checkpoint::Open(dir.path());
  const std::string msg = ErrorOf([&] { ckpt->Load("shared.weigth"); });
  EXPECT_NE(msg.find("\"shared.weigth\""), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.path().string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("shared.weight"), std::string::npos) << msg;
  EXPECT_FALSE(ckpt->Has("shared.weigth"));
}

TEST(Errors, ShapeMismatchNamesTensorFileExpectedActual) {
  TempDir dir;
  WriteCheckpoint(dir.path(), MakeTensors(at::kFloat), CheckpointLayout::kTorchBin);
  auto ckpt = Checkpoint::Open(dir.path());
  EXPECT_EQ(ckpt->Load("shared.weight", {16, 8}).sizes(), at::IntArrayRef({16, 8}));
  const std::string msg = ErrorOf([&] { ckpt->Load("shared.weight", {32128, 8}); });
  for (const char* part : {"\"shared.weight\"", "pytorch_model.bin", "[16, 8]", "expected [32128, 8]"})
    EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
}

TEST(Errors, TruncatedSafetensorsFailsAtOpenNamingFirstTensorHit) {
  TempDir dir;
  const fs::path p = dir.path() / "model.safetensors";
  // In file order: a (64 B), b (64 B), c (64 B). Cutting 100 bytes leaves a whole, b cut, c gone.
  WriteSafetensors(p, {{"a", at::zeros({16})}, {"b", at::zeros({16})}, {"c", at::zeros({16})}});
  fs::resize_file(p, fs::file_size(p) - 100);
  const std::string msg = ErrorOf([&] { Checkpoint::Open(dir.path()); });
  EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"b\""), std::string::npos) << msg;
}

TEST(Errors, TruncatedShardOfIndexFailsAtOpen) {
  TempDir dir;
  WriteCheckpoint(dir.path(), MakeTensors(at::kFloat), CheckpointLayout::kSafetensorsSharded, 600);
  fs::path shard;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("model-00001-of-", 0) == 0) shard = e.path();
  ASSERT_FALSE(shard.empty());
  fs::resize_file(shard, fs::file_size(shard) - 1);
  const std::string msg = ErrorOf([&] { Checkpoint::Open(dir.path()); });
  EXPECT_NE(msg.find(shard.string()), std::string::npos) << msg;
}

TEST(Errors, TruncatedBinFailsAtOpenNamingFile) {
  TempDir dir;
  WriteCheckpoint(dir.path(), MakeTensors(at::kFloat), CheckpointLayout::kTorchBin);
  const fs::path p = dir.path() / "pytorch_model.bin";
  fs::resize_file(p, fs::file_size(p) / 2);
  const std::string msg = ErrorOf([&] { Checkpoint::Open(dir.path()); });
  EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

// Writes a safetensors file with a hand-made header followed by `data_bytes` zero bytes.
fs::path RawSafetensors(const fs::path& dir, const std::string& header, size_t data_bytes) {
  const fs::path p = dir / "model.safetensors";
  std::ofstream out(p, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\0');
  return p;
}

TEST(Errors, CorruptHeaders) {
  TempDir dir;
  struct Case { std::string header; size_t data; std::vector<std::string> parts; };
  const std::vector<Case> cases = {
      {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2]", 8, {"invalid JSON"}},
      {"{\"w\": {\"dtype\": \"Q4\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
       {"\"w\"", "unknown dtype \"Q4\"", "BF16"}},
      {"{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
       {"\"w\"", "needs 12 bytes", "hold 8"}},
      {"{\"w\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, {"\"w\"", "non-negative"}},
      {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, {"\"w\"", "data_offsets"}},
      {"{\"v\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
       " \"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, {"\"w\"", "overlaps", "\"v\""}},
      {"[1, 2]", 0, {"expected a JSON object"}},
  };
  for (const Case& c : cases) {
    const fs::path p = RawSafetensors(dir.path(), c.header, c.data);
    const std::string msg = ErrorOf([&] { Checkpoint::Open(dir.path()); });
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    for (const auto& part : c.parts) EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
  }
  // A header length larger than the file.
  const fs::path p = dir.path() / "model.safetensors";
  {
    std::ofstream out(p, std::ios::binary);
    const char len[8] = {static_cast<char>(0xff), 0x01, 0, 0, 0, 0, 0, 0};
    out.write(len, 8);
    out << "{}";
  }
  const std::string msg = ErrorOf([&] { Checkpoint::Open(dir.path()); });
  EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("511 bytes of JSON"), std::string::npos) << msg;
}

TEST(Errors, IndexPointingAtWrongShardOrMissingShard) {
  TempDir dir;
  WriteCheckpoint(dir.path(), MakeTensors(at::kFloat), CheckpointLayout::kSafetensors);
  std::ofstream(dir.path() / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"shared.weight": "model.safetensors", "ghost": "model.safetensors"}})";
  std::string msg = ErrorOf([&] { Checkpoint::Open(dir.path()); });
  EXPECT_NE(msg.find("\"ghost\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors.index.json"), std::string::npos) << msg;
  std::ofstream(dir.path() / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"shared.weight": "model-00009-of-00009.safetensors"}})";
  msg = ErrorOf([&] { Checkpoint::Open(dir.path()); });
  EXPECT_NE(msg.find("model-00009-of-00009.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST(Errors, EmptyDirectoryNamesExpectedFiles) {
  TempDir dir;
  const std::string msg = ErrorOf([&] { Checkpoint::Open(dir.path()); });
  EXPECT_NE(msg.find(dir.path().string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pytorch_model.bin"), std::string::npos) << msg;
}

TEST(Safetensors, LoadMatchesMmapReference) {
  // Load (pread) against Load_ref (mmap copy) on every tensor, including odd byte offsets.
  TempDir dir;
  const fs::path p = dir.path() / "x.safetensors";
  Tensors t = MakeTensors(at::kBFloat16, 3);
  t.emplace_back("odd", at::arange(0, 7, at::kByte));
  t.emplace_back("after_odd", at::randn({1000, 5}));
  WriteSafetensors(p, t);
  auto f = SafetensorsFile::Open(p);
  for (const auto& [name, x] : t) {
    at::Tensor a = f->Load(name), b = f->Load_ref(name);
    EXPECT_TRUE(at::equal(a, b)) << name;
    EXPECT_TRUE(at::equal(a, x)) << name;
  }
}

TEST(Safetensors, FileShrunkAfterOpenFailsAtLoadNamingTensor) {
  TempDir dir;
  const fs::path p = dir.path() / "x.safetensors";
  WriteSafetensors(p, {{"a", at::ones({16})}, {"b", at::ones({1024})}});
  auto f = SafetensorsFile::Open(p);
  fs::resize_file(p, fs::file_size(p) - 100);
  const std::string msg = ErrorOf([&] { f->Load("b"); });
  EXPECT_NE(msg.find("\"b\""), std::string::npos) << msg;
  EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
  EXPECT_TRUE(at::equal(f->Load("a"), at::ones({16})));
}

TEST(Safetensors, WriterIsAtomicAndKeepsMetadata) {
  TempDir dir;
  const fs::path p = dir.path() / "x.safetensors";
  WriteSafetensors(p, {{"a", at::ones({2})}}, {{"format", "pt"}});
  // Duplicate names are rejected before anything is written: the old file stays intact.
  EXPECT_THROW(WriteSafetensors(p, {{"a", at::ones({3})}, {"a", at::ones({3})}}), Error);
  auto f = SafetensorsFile::Open(p);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_TRUE(at::equal(f->Load("a"), at::ones({2})));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename(), "x.safetensors") << "left-over temp file";
}

TEST(Safetensors, StreamingWriterMatchesTheWholeWriterAndChecksWhatItIsGiven) {
  TempDir dir;
  const std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"b", at::arange(6, at::kFloat).reshape({2, 3})}, {"a", at::ones({4}, at::kBFloat16)}};
  WriteSafetensors(dir.path() / "whole.safetensors", tensors, {{"format", "pt"}});
  std::vector<SafetensorsEntry> entries = {{"b", at::kFloat, {2, 3}}, {"a", at::kBFloat16, {4}}};
  int made = 0;
  WriteSafetensorsStreaming(dir.path() / "streamed.safetensors", entries, [&](size_t i) {
    ++made;
    return tensors[i].second;
  }, {{"format", "pt"}});
  EXPECT_EQ(made, 2);
  auto bytes = [&](const char* n) {
    std::ifstream in(dir.path() / n, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(bytes("streamed.safetensors"), bytes("whole.safetensors"));

  // A produced tensor that differs from its announced entry is an error naming it, and the file
  // already at the path is kept.
  entries[1].shape = {5};
  const std::string msg = ErrorOf([&] {
    WriteSafetensorsStreaming(dir.path() / "streamed.safetensors", entries, [&](size_t i) { return tensors[i].second; });
  });
  EXPECT_NE(msg.find("\"a\" was announced as BF16 [5]"), std::string::npos) << msg;
  EXPECT_EQ(bytes("streamed.safetensors"), bytes("whole.safetensors"));
}

TEST(SwitchAlias, ResolvesTiedEmbeddingsAndC2048Head) {
  TempDir dir;
  WriteCheckpoint(dir.path(), {{"shared.weight", at::ones({4, 2})}, {"decoder.lm_head.weight", at::zeros({4, 2})}},
                  CheckpointLayout::kSafetensors);
  auto ckpt = Checkpoint::Open(dir.path());
  EXPECT_EQ(ResolveSwitchAlias(*ckpt, "encoder.embed_tokens.weight"), "shared.weight");
  EXPECT_EQ(ResolveSwitchAlias(*ckpt, "decoder.embed_tokens.weight"), "shared.weight");
  EXPECT_EQ(ResolveSwitchAlias(*ckpt, "lm_head.weight"), "decoder.lm_head.weight");
  EXPECT_EQ(ResolveSwitchAlias(*ckpt, "shared.weight"), "shared.weight");
  const std::string msg = ErrorOf([&] { ResolveSwitchAlias(*ckpt, "encoder.final_layer_norm.weight"); });
  EXPECT_NE(msg.find("encoder.final_layer_norm.weight"), std::string::npos) << msg;

  TempDir dir2;  // tied weights stored under an embed_tokens name only
  WriteCheckpoint(dir2.path(), {{"encoder.embed_tokens.weight", at::ones({4, 2})}, {"lm_head.weight", at::ones({4, 2})}},
                  CheckpointLayout::kSafetensors);
  auto c2 = Checkpoint::Open(dir2.path());
  EXPECT_EQ(ResolveSwitchAlias(*c2, "shared.weight"), "encoder.embed_tokens.weight");
  EXPECT_EQ(ResolveSwitchAlias(*c2, "lm_head.weight"), "lm_head.weight");
  EXPECT_THROW(ResolveSwitchAlias(*c2, "decoder.lm_head.weight"), Error);
}

}  // namespace
}  // namespace qmoe
