#include "experiments/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

#include "experiments/train/adamw.h"
#include "experiments/train/model_card.h"
#include "experiments/train/train_data.h"
#include "experiments/eval/router_forward.h"
#include "framework/core/error.h"
#include "framework/core/hash.h"
#include "framework/core/progress.h"
#include "framework/core/strings.h"
#include "framework/io/atomic_file.h"
#include "framework/io/checkpoint.h"
#include "framework/model/random_weights.h"
#include "framework/model/switch_names.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

fs::path Resolve(const std::string& root, const std::string& p) {
  return fs::path(p).is_absolute() ? fs::path(p) : fs::path(root) / p;
}

// Chunks are cached (tokenizing the train split takes a while), keyed by everything they depend on.
std::vector<std::vector<int32_t>> CachedChunks(const TrainRecipe& r, const std::string& root,
                                               const data::Tokenizer& tok) {
  std::string key = StrCat(Sha256File(Resolve(root, r.data.tokenizer).string()), "|", r.train.domains, "|",
                           r.train.max_tokens, "|chunked-v1");
  for (const auto& d : Split(r.train.domains, ','))
    key += "|" + Sha256File((Resolve(root, r.data.corpus_dir) / "cache" / "splits" / (Trim(d) + ".train.jsonl")).string());
  fs::path cache = Resolve(root, r.train.out_dir) / ("chunks-" + Sha256Hex(key).substr(0, 16) + ".bin");
  std::vector<std::vector<int32_t>> chunks;
  if (fs::exists(cache)) {
    std::ifstream in(cache, std::ios::binary);
    int64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), sizeof n);
    chunks.resize(static_cast<size_t>(n));
    for (auto& c : chunks) {
      int64_t len = 0;
      in.read(reinterpret_cast<char*>(&len), sizeof len);
      c.resize(static_cast<size_t>(len));
      in.read(reinterpret_cast<char*>(c.data()), len * int64_t(sizeof(int32_t)));
    }
    if (in) return chunks;
    chunks.clear();
  }
  std::cerr << "train: tokenizing the train split (" << r.train.domains << ") ...\n";
  chunks = TrainStream::LoadChunks(root, r.data, r.train.domains, tok, r.train.max_tokens);
  fs::create_directories(cache.parent_path());
  AtomicFile out(cache);
  int64_t n = static_cast<int64_t>(chunks.size());
  out.Write(&n, sizeof n);
  for (const auto& c : chunks) {
    int64_t len = static_cast<int64_t>(c.size());
    out.Write(&len, sizeof len);
    out.Write(c.data(), c.size() * sizeof(int32_t));
  }
  out.Commit();
  return chunks;
}

double LearningRate(const TrainParams& t, int64_t step, double progress) {
  if (t.warmup_steps > 0 && step < t.warmup_steps) return t.lr * double(step + 1) / double(t.warmup_steps);
  if (t.schedule == "constant") return t.lr;
  if (t.schedule == "inverse_sqrt") return t.lr * std::sqrt(double(std::max<int64_t>(t.warmup_steps, 1)) / double(step + 1));
  const double p = std::clamp(progress, 0.0, 1.0);
  return t.lr * (t.min_lr_ratio + (1 - t.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * p)));
}

struct TrainState {
  int64_t step = 0;
  TrainCursor cursor;
  double seconds = 0;
  int64_t tokens = 0;
};

std::vector<std::pair<std::string, at::Tensor>> Ordered(const SwitchConfig& cfg,
                                                        const std::map<std::string, at::Tensor>& params) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& s : SwitchTensorShapes(cfg)) out.emplace_back(s.name, params.at(s.name).detach());
  return out;
}

void SaveCheckpoint(const fs::path& dir, const SwitchConfig& cfg, const std::map<std::string, at::Tensor>& params,
                    const AdamW& opt, const TrainState& st, const std::string& recipe_sha) {
  // Built in a staging folder and swapped in whole: a crash or kill leaves the previous checkpoint intact.
  const fs::path tmp = FreshStagingDirectory(dir);
  try {
    WriteCheckpoint(tmp / "params", Ordered(cfg, params), CheckpointLayout::kSafetensors);
    std::vector<std::pair<std::string, at::Tensor>> os;
    for (const auto& [n, t] : opt.StateTensors()) os.emplace_back(n, t);
    WriteCheckpoint(tmp / "optimizer", os, CheckpointLayout::kSafetensors);
    nlohmann::json j = {{"step", st.step},          {"epoch", st.cursor.epoch}, {"position", st.cursor.position},
                        {"seconds", st.seconds},    {"tokens", st.tokens},      {"optimizer_step", opt.step()},
                        {"recipe_sha256", recipe_sha}};
    WriteFileAtomically(tmp / "state.json", j.dump(2) + "\n");
    CommitDirectory(tmp, dir);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // e.g. a full disk: the previous checkpoint stays, nothing half-written remains
    throw;
  }
}

std::map<std::string, at::Tensor> LoadAll(const fs::path& dir) {
  auto ck = Checkpoint::Open(dir);
  std::map<std::string, at::Tensor> out;
  for (const auto& n : ck->Names()) out[n] = ck->Load(n).clone();
  return out;
}

}  // namespace

TrainRecipe LoadRecipeWithOverrides(const std::string& path, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(StrCat("recipe ", path, ": cannot read YAML: ", e.what()));
  }
  for (const auto& o : overrides) {
    auto eq = o.find('='), dot = o.find('.');
    QMOE_CHECK(eq != std::string::npos && dot != std::string::npos && dot < eq, "qmoe train: override '", o,
               "' must look like section.key=value (e.g. train.max_steps=10)");
    root[o.substr(0, dot)][o.substr(dot + 1, eq - dot - 1)] = o.substr(eq + 1);
  }
  return RecipeFromYaml(root, path);
}

TrainSummary RunTraining(const TrainRecipe& r, const TrainOptions& o) {
  const std::string root = o.repo_root.empty() ? std::string(QMOE_SOURCE_DIR) : o.repo_root;
  data::Tokenizer tok = data::LoadTokenizer(r.data, root);
  return TrainOnChunks(r, o, CachedChunks(r, root, tok));
}

TrainSummary TrainOnChunks(const TrainRecipe& r, const TrainOptions& o, std::vector<std::vector<int32_t>> chunks) {
  const std::string root = o.repo_root.empty() ? std::string(QMOE_SOURCE_DIR) : o.repo_root;
  const TrainParams& t = r.train;
  at::set_num_threads(static_cast<int>(t.threads));
  data::Tokenizer tok = data::LoadTokenizer(r.data, root);
  QMOE_CHECK(r.model.vocab_size >= tok.vocab_size(), r.path, ": model.vocab_size ", r.model.vocab_size,
             " is smaller than the tokenizer's ", tok.vocab_size(), " ids (", r.data.tokenizer, ")");
  TrainStream stream(std::move(chunks), tok, r.data, static_cast<uint64_t>(t.seed));
  std::cerr << "train: " << r.model.name << ": " << stream.num_chunks() << " chunks, " << stream.num_tokens()
            << " tokens; " << r.model.NumParams() << " params (" << r.model.NumExpertParams() << " in experts)\n";

  // Parameters: fp32 leaves that the model reads through MapWeights (no copies, so grads flow).
  std::map<std::string, at::Tensor> params = RandomSwitchWeights(r.model, static_cast<uint64_t>(t.seed), at::kFloat,
                                                                 t.router_init_scale);
  std::map<std::string, bool> decays;
  for (auto& [n, p] : params) {
    p = p.contiguous();
    p.set_requires_grad(true);
    decays[n] = p.dim() >= 2 && n.find("relative_attention_bias") == std::string::npos;
  }
  auto weights = std::make_shared<MapWeights>(params);
  SwitchModel model(r.model, weights);
  AdamW opt(params, AdamWOptions{t.beta1, t.beta2, t.eps, t.weight_decay}, decays);

  const fs::path run_dir = Resolve(root, t.out_dir) / r.model.name;
  const fs::path ck_dir = run_dir / "checkpoint";
  std::ifstream rf(r.path);
  std::stringstream recipe_text;
  recipe_text << rf.rdbuf();
  const std::string recipe_sha = Sha256Hex(recipe_text.str());
  TrainState st;
  if (o.resume && fs::exists(ck_dir / "state.json")) {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(ck_dir / "state.json"));
    auto saved = LoadAll(ck_dir / "params");
    at::NoGradGuard ng;
    for (auto& [n, p] : params) {
      auto it = saved.find(n);
      QMOE_CHECK(it != saved.end() && it->second.sizes() == p.sizes(), "resume ", ck_dir.string(), ": tensor '", n,
                 "' missing or of another shape; the recipe changed?");
      p.copy_(it->second);
    }
    st.step = j.at("step"), st.cursor.epoch = j.at("epoch"), st.cursor.position = j.at("position");
    st.seconds = j.at("seconds"), st.tokens = j.at("tokens");
    opt.LoadState(LoadAll(ck_dir / "optimizer"), j.at("optimizer_step").get<int64_t>());
    std::cerr << "train: resumed " << ck_dir.string() << " at step " << st.step << "\n";
  }

  auto progress_of = [&](const TrainState& s) {
    double p = double(s.step) / double(t.max_steps);
    if (t.time_budget_s > 0) p = std::max(p, s.seconds / t.time_budget_s);
    return p;
  };
  TrainSummary sum;
  sum.checkpoint_dir = ck_dir.string();
  Progress progress("train " + r.model.name, 1000);
  int64_t shown = static_cast<int64_t>(std::min(1.0, progress_of(st)) * 1000);
  progress.Advance(shown);
  double win_loss = 0, win_aux = 0, win_tokens = 0, win_secs = 0, win_fwd = 0, win_bwd = 0;
  int64_t win_n = 0;
  bool first = true;
  const int64_t V = r.model.vocab_size;
  while (progress_of(st) < 1.0 && (o.stop_after_steps < 0 || st.step < o.stop_after_steps)) {
    auto t0 = std::chrono::steady_clock::now();
    TrainBatch batch = stream.Next(st.cursor, t.batch_tokens);
    BatchTensors bt = MakeBatchTensors(batch.encoder, batch.decoder, r.model.pad_token_id);
    RouterAux aux;
    at::Tensor logits = TrainForward(model, bt.enc_ids, bt.enc_mask, bt.dec_in, bt.dec_mask, &aux);
    at::Tensor ce = at::nll_loss(at::log_softmax(logits.reshape({-1, V}), -1), bt.targets.reshape({-1}), {},
                                 at::Reduction::Mean, -100);
    at::Tensor loss = ce;
    if (aux.num_layers > 0) {
      loss = loss + aux.balance * (t.aux_loss / double(aux.num_layers)) + aux.z * (t.z_loss / double(aux.num_layers));
    }
    const double fwd_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    loss.backward();
    const double bwd_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - fwd_s;
    ClipGradNorm(params, t.grad_clip);
    opt.Step(LearningRate(t, st.step, progress_of(st)));
    for (auto& [n, p] : params) p.mutable_grad().reset();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    st.step++, st.seconds += secs, st.tokens += batch.tokens;
    const double ce_v = ce.item<double>();
    if (first) sum.first_loss = ce_v, first = false;
    sum.losses.push_back(ce_v);
    win_loss += ce_v, win_aux += aux.num_layers ? aux.balance.item<double>() / aux.num_layers : 0;
    win_tokens += double(batch.tokens), win_secs += secs, ++win_n;
    win_fwd += fwd_s, win_bwd += bwd_s;
    const int64_t now = static_cast<int64_t>(std::min(1.0, progress_of(st)) * 1000);
    progress.SetLabel(StrCat("step ", st.step, " loss ", win_loss / win_n));
    if (now > shown) progress.Advance(now - shown), shown = now;
    if (st.step % t.log_every == 0 || progress_of(st) >= 1.0) {
      std::ostringstream line;
      line << std::fixed << std::setprecision(4) << "train: step " << st.step << " loss " << win_loss / win_n
           << " balance " << win_aux / win_n << " lr " << std::setprecision(6) << LearningRate(t, st.step, progress_of(st))
           << std::setprecision(0) << " tok/s " << win_tokens / std::max(win_secs, 1e-9) << " tokens " << st.tokens << std::setprecision(2) << " fwd/bwd/other s " << win_fwd / win_n << "/"
           << win_bwd / win_n << "/" << (win_secs - win_fwd - win_bwd) / win_n
           << " elapsed " << FormatDuration(st.seconds) << " eta "
           << FormatDuration(st.seconds * (1 - progress_of(st)) / std::max(progress_of(st), 1e-9));
      std::cerr << line.str() << "\n";
      sum.final_loss = win_loss / win_n;
      win_loss = win_aux = win_tokens = win_secs = win_fwd = win_bwd = 0, win_n = 0;
    }
    if (st.step % t.checkpoint_every == 0) SaveCheckpoint(ck_dir, r.model, params, opt, st, recipe_sha);
  }
  if (win_n > 0) sum.final_loss = win_loss / win_n;
  progress.Finish();
  SaveCheckpoint(ck_dir, r.model, params, opt, st, recipe_sha);
  sum.steps = st.step, sum.tokens = st.tokens, sum.train_seconds = st.seconds;

  if (o.export_model && progress_of(st) >= 1.0) {
    const fs::path out = Resolve(root, t.export_dir) / r.model.name;
    sum.export_dir = out.string();
    ExportHfModel(out, r, Ordered(r.model, params), Resolve(root, r.data.tokenizer));
    CardInputs ci{r, sum.steps, sum.tokens, sum.train_seconds, sum.final_loss, recipe_sha};
    WriteModelCard(out, ci, stream, root);
  }
  return sum;
}

int TrainCommand(const std::vector<std::string>& args) {
  std::string recipe;
  bool resume = false;
  std::vector<std::string> overrides;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--resume") resume = true;
    else if (a == "--recipe" && i + 1 < args.size()) recipe = args[++i];
    else if (a.rfind("--recipe=", 0) == 0) recipe = a.substr(9);
    else if (a.rfind("--", 0) == 0) throw Error(StrCat("qmoe train: unknown option '", a, "'; options: --recipe FILE, --resume"));
    else overrides.push_back(a);
  }
  QMOE_CHECK(!recipe.empty(), "qmoe train: --recipe configs/train/<name>.yaml is required");
  TrainRecipe r = LoadRecipeWithOverrides(recipe, overrides);
  TrainOptions o;
  o.resume = resume;
  o.repo_root = fs::current_path().string();
  TrainSummary s = RunTraining(r, o);
  std::cout << "trained " << r.model.name << ": " << s.steps << " steps, " << s.tokens << " tokens in "
            << FormatDuration(s.train_seconds) << " (" << std::fixed << std::setprecision(0)
            << double(s.tokens) / std::max(s.train_seconds, 1e-9) << " tok/s), final train loss "
            << std::setprecision(4) << s.final_loss << (s.export_dir.empty() ? "" : ", exported to " + s.export_dir)
            << "\n";
  return 0;
}

}  // namespace qmoe
