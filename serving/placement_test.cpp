// Multi-GPU placement (placement.h) for every configs/model entry under the budgets of the paper's
// serving setups (4 x 48 GB A6000, 8 x 24 GB RTX 3090), at the dict code's rate and at bf16, plus
// hand-built layers that force experts of one layer onto several GPUs.
#include "serving/placement.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>

#include "framework/core/error.h"
#include "serving/gpu_serving.h"

namespace qmoe {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kGiB = int64_t{1} << 30;

// A configs/model entry as a SwitchConfig (the fields the tensor list depends on).
SwitchConfig LoadModelYaml(const fs::path& file) {
  const YAML::Node n = YAML::LoadFile(file.string());
  SwitchConfig c;
  c.name = n["name"].as<std::string>();
  c.d_model = n["d_model"].as<int64_t>();
  c.d_ff = n["d_ff"].as<int64_t>();
  c.num_heads = n["num_heads"].as<int64_t>();
  c.d_kv = n["d_kv"].as<int64_t>();
  c.num_layers = n["num_layers"].as<int64_t>();
  c.num_decoder_layers = n["num_decoder_layers"].as<int64_t>();
  c.num_experts = n["num_experts"].as<int64_t>();
  c.encoder_sparse_step = n["encoder_sparse_step"].as<int64_t>();
  c.decoder_sparse_step = n["decoder_sparse_step"].as<int64_t>();
  c.vocab_size = n["vocab_size"].as<int64_t>();
  c.tie_word_embeddings = n["tie_word_embeddings"].as<bool>();
  if (n["is_full_sparse"]) c.is_full_sparse = n["is_full_sparse"].as<bool>();
  return c;
}

std::vector<SwitchConfig> AllModels() {
  std::vector<SwitchConfig> out;
  for (const auto& e : fs::directory_iterator(fs::path(QMOE_SOURCE_DIR) / "configs/model"))
    if (e.path().extension() == ".yaml") out.push_back(LoadModelYaml(e.path()));
  return out;
}

// Invariants of any placement: budgets hold, layers keep their order and GPUs advance
// monotonically (contiguous runs), every expert is placed exactly once, the byte sums agree.
void ExpectSound(const Placement& p, const std::vector<LayerNeed>& layers, const std::vector<int64_t>& budgets,
                 const std::string& what) {
  ASSERT_EQ(p.layers.size(), layers.size()) << what;
  ASSERT_EQ(p.used.size(), budgets.size()) << what;
  std::vector<int64_t> used(budgets.size(), 0);
  int last_gpu = 0;
  int64_t changes = 0, splits = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerPlace& lp = p.layers[i];
    EXPECT_EQ(lp.name, layers[i].name) << what;
    EXPECT_GE(lp.gpu, last_gpu) << what << ": " << lp.name << " goes back to an earlier GPU";
    if (i > 0 && lp.gpu != p.layers[i - 1].gpu) ++changes;
    used[size_t(lp.gpu)] += layers[i].dense_bytes;
    int64_t next = 0;
    int run_gpu = lp.gpu;
    std::map<int, bool> others;
    for (const ExpertRun& r : lp.experts) {
      EXPECT_EQ(r.begin, next) << what << ": " << lp.name;
      EXPECT_GT(r.end, r.begin) << what;
      EXPECT_GE(r.gpu, run_gpu) << what;
      run_gpu = r.gpu;
      used[size_t(r.gpu)] += (r.end - r.begin) * layers[i].expert_bytes;
      if (r.gpu != lp.gpu) others[r.gpu] = true;
      next = r.end;
    }
    EXPECT_EQ(next, layers[i].experts) << what << ": " << lp.name;
    splits += 2 * int64_t(others.size());
    last_gpu = std::max(lp.gpu, run_gpu);
  }
  EXPECT_EQ(p.transfers, changes + splits) << what;
  for (size_t g = 0; g < budgets.size(); ++g) {
    EXPECT_EQ(p.used[g], used[g]) << what << " gpu" << g;
    EXPECT_LE(p.used[g], budgets[g]) << what << " gpu" << g;
  }
}

// Every model x {dict rate, bf16} x {4 x 48 GB, 8 x 24 GB}. What must happen is derived from the
// sizes: a model that needs more than the budgets' sum cannot fit (one Error); one that fits with a
// spare atom per GPU (the largest unsplittable piece: a dense part or one expert) must be placed.
TEST(Placement, EveryModelUnderThePapersServingBudgets) {
  const std::vector<std::vector<int64_t>> setups = {std::vector<int64_t>(4, 46 * kGiB),   // 48 GB less 2 GiB of work space
                                                    std::vector<int64_t>(8, 22 * kGiB)};
  const auto models = AllModels();
  ASSERT_GE(models.size(), 10u);
  int placed = 0, refused = 0;
  for (const SwitchConfig& cfg : models)
    for (double bits : {0.85, 16.0})  // ~ the dict code's rate at real shapes (0.8-0.95) | bf16
      for (const auto& budgets : setups) {
        const std::string what = StrCat(cfg.name, " at ", bits, " bits on ", budgets.size(), " GPUs");
        const auto layers = ModelLayerNeeds(cfg, bits);
        int64_t total = 0, atom = 0, sum = 0;
        for (const auto& l : layers) total += l.Bytes(), atom = std::max({atom, l.dense_bytes, l.expert_bytes});
        for (int64_t b : budgets) sum += b;
        try {
          const Placement p = PlaceLayers(layers, budgets);
          ExpectSound(p, layers, budgets, what);
          EXPECT_LE(total, sum) << what;
          ++placed;
        } catch (const Error& e) {
          EXPECT_GT(total + int64_t(budgets.size()) * atom, sum) << what << ": refused although it fits: " << e.what();
          EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
          ++refused;
        }
      }
  EXPECT_GT(placed, 0);
  EXPECT_GT(refused, 0);  // bf16 switch-c-2048 (3.2 TB) cannot fit in 192 GB
}

TEST(Placement, SwitchC2048CompressedFitsThePapersSetups) {
  // The paper serves compressed c2048 (< 160 GB) on 4 x A6000 or 8 x RTX 3090.
  SwitchConfig c2048;
  for (const auto& c : AllModels())
    if (c.name == "switch-c-2048") c2048 = c;
  ASSERT_EQ(c2048.num_experts, 2048);
  const auto layers = ModelLayerNeeds(c2048, 0.81);
  for (const auto& budgets : {std::vector<int64_t>(4, 46 * kGiB), std::vector<int64_t>(8, 22 * kGiB)}) {
    const Placement p = PlaceLayers(layers, budgets);
    ExpectSound(p, layers, budgets, "c2048");
    EXPECT_TRUE(p.balanced);
    // Every GPU holds layers, and no layer is split (one layer is ~5 GB): transfers = GPUs - 1.
    for (int64_t u : p.used) EXPECT_GT(u, 0);
    EXPECT_EQ(p.transfers, int64_t(budgets.size()) - 1) << DescribePlacement(p);
  }
  // bf16: one MoE layer alone is 2048 x 2 x 2080 x 6144 x 2 bytes = 104.7 GB.
  try {
    PlaceLayers(ModelLayerNeeds(c2048, 16), std::vector<int64_t>(4, 46 * kGiB));
    FAIL() << "bf16 c2048 placed in 4 x 46 GiB";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit on 4 GPUs"), std::string::npos) << e.what();
  }
}

TEST(Placement, ALayerTooBigForOneGpuSpreadsItsExperts) {
  // Three layers; the middle one (10 + 8 x 10 = 90 bytes) exceeds any single GPU (40 bytes).
  const std::vector<LayerNeed> layers = {{"embed", 20, 0, 0}, {"moe", 10, 8, 10}, {"head", 20, 0, 0}};
  const std::vector<int64_t> budgets = {40, 40, 40, 40};
  const Placement p = PlaceLayers(layers, budgets);
  ExpectSound(p, layers, budgets, "split");
  EXPECT_TRUE(p.layers[1].Split());
  EXPECT_GE(p.layers[1].experts.size(), 3u);  // 80 bytes of experts need three 40-byte GPUs at least
  EXPECT_FALSE(p.layers[0].Split());
  // Too small in all: 130 bytes on 3 x 40.
  EXPECT_THROW(PlaceLayers(layers, {40, 40, 40}), Error);
  // Bad budgets.
  EXPECT_THROW(PlaceLayers(layers, {}), Error);
  EXPECT_THROW(PlaceLayers(layers, {40, 0}), Error);
}

TEST(Placement, OneGpuHoldsEverythingThatFits) {
  const std::vector<LayerNeed> layers = {{"a", 5, 2, 3}, {"b", 5, 0, 0}, {"c", 5, 2, 3}};
  const Placement p = PlaceLayers(layers, {100});
  ExpectSound(p, layers, {100}, "one gpu");
  EXPECT_EQ(p.used[0], 27);
  EXPECT_EQ(p.transfers, 0);
}

TEST(Placement, NeedsCountEveryParameterOnce) {
  // The layer sums reproduce the config's own parameter count at 8 bits (1 byte) per parameter.
  for (const SwitchConfig& cfg : AllModels()) {
    int64_t total = 0, experts = 0;
    for (const auto& l : ModelLayerNeeds(cfg, 8, 8)) total += l.Bytes(), experts += l.experts * l.expert_bytes;
    EXPECT_EQ(total, cfg.NumParams()) << cfg.name;
    EXPECT_EQ(experts, cfg.NumExpertParams()) << cfg.name;
  }
}

// The functions SwitchModel and DictExpertsCuda read the placement through agree with it.
TEST(Placement, BlockAndExpertLookupsFollowThePlacement) {
  SwitchConfig c2048;
  for (const auto& c : AllModels())
    if (c.name == "switch-c-2048") c2048 = c;
  const std::vector<int64_t> budgets(8, 22 * kGiB);
  const Placement p = PlaceLayers(ModelLayerNeeds(c2048, 0.81), budgets);
  const auto block_gpu = BlockGpu(p);
  const auto expert_gpu = ExpertGpu(p);
  for (const LayerPlace& l : p.layers) {
    if (l.name == "embed") continue;
    const Stack s = l.name.rfind("encoder", 0) == 0 ? Stack::kEncoder : Stack::kDecoder;
    const int64_t b = std::stoll(l.name.substr(l.name.rfind('.') + 1));
    EXPECT_EQ(block_gpu(s, b), l.gpu) << l.name;
    for (const ExpertRun& r : l.experts) {
      EXPECT_EQ(expert_gpu(ExpertId{s, b, r.begin}), r.gpu) << l.name;
      EXPECT_EQ(expert_gpu(ExpertId{s, b, r.end - 1}), r.gpu) << l.name;
    }
  }
  const DeviceSpec four = ParseDevice("cuda:4,5,6,7,0,1,2,3");
  const ModelOptions mo = PlacedModelOptions(p, four);
  EXPECT_EQ(mo.device, c10::Device(c10::kCUDA, 4));  // the embedding on the first listed GPU
  ASSERT_TRUE(bool(mo.block_device));
  EXPECT_EQ(mo.block_device(Stack::kDecoder, 14), four.Torch(size_t(block_gpu(Stack::kDecoder, 14))));
  EXPECT_FALSE(bool(PlacedModelOptions(p, ParseDevice("cuda:1")).block_device));  // one GPU: no moves
}

}  // namespace
}  // namespace qmoe
