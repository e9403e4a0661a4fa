#include "serving/placement.h"

#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "framework/core/error.h"
#include "framework/model/switch_names.h"

namespace qmoe {
namespace {

double Gb(int64_t bytes) { return double(bytes) / 1e9; }

std::string GbText(int64_t bytes) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << Gb(bytes) << " GB";
  return os.str();
}

int64_t BytesOf(int64_t params, double bits) { return static_cast<int64_t>(std::ceil(double(params) * bits / 8.0)); }

// The layer a tensor belongs to: its block or "embed".
std::string LayerOf(const std::string& name, const SwitchConfig& cfg) {
  for (const char* stack : {"encoder", "decoder"}) {
    const std::string pre = std::string(stack) + ".block.";
    if (name.rfind(pre, 0) == 0) return pre + name.substr(pre.size(), name.find('.', pre.size()) - pre.size());
  }
  if (name.rfind("encoder.final_layer_norm", 0) == 0) return StrCat("encoder.block.", cfg.num_layers - 1);
  if (name.rfind("shared.", 0) == 0 || name.rfind("encoder.embed_tokens", 0) == 0 ||
      name.rfind("decoder.embed_tokens", 0) == 0)
    return "embed";
  // decoder.final_layer_norm, lm_head: where SwitchModel computes them, with the last decoder block.
  return StrCat("decoder.block.", cfg.num_decoder_layers - 1);
}

// One attempt; false (with `why`) when some layer does not fit.
bool TryPlace(const std::vector<LayerNeed>& layers, const std::vector<int64_t>& budgets, bool balanced,
              Placement& out, std::string& why) {
  const size_t n = budgets.size();
  out = Placement{};
  out.balanced = balanced;
  out.used.assign(n, 0);
  int64_t total = 0, sum_budgets = 0;
  for (const auto& l : layers) total += l.Bytes();
  for (int64_t b : budgets) sum_budgets += b;
  std::vector<double> cum_target(n);
  int64_t cum_budget = 0;
  for (size_t d = 0; d < n; ++d) {
    cum_budget += budgets[d];
    cum_target[d] = double(total) * double(cum_budget) / double(std::max<int64_t>(sum_budgets, 1));
  }
  auto free_on = [&](size_t d) { return budgets[d] - out.used[d]; };
  size_t d = 0;
  int64_t cum = 0;
  for (const LayerNeed& l : layers) {
    const int64_t bytes = l.Bytes();
    // Balanced cut: a layer goes to the GPU whose share holds the layer's midpoint.
    if (balanced)
      while (d + 1 < n && double(cum) + double(bytes) / 2.0 > cum_target[d]) ++d;
    cum += bytes;
    LayerPlace lp;
    lp.name = l.name;
    if (bytes <= free_on(d) || (d + 1 < n && bytes <= free_on(d + 1))) {
      if (bytes > free_on(d)) ++d;  // whole on the next GPU: one boundary, no split
      lp.gpu = int(d);
      if (l.experts > 0) lp.experts.push_back(ExpertRun{0, l.experts, int(d)});
      out.used[d] += bytes;
      out.layers.push_back(std::move(lp));
      continue;
    }
    // Split: the dense part on the first GPU with room for it, experts in order from there on.
    while (d < n && l.dense_bytes > free_on(d)) ++d;
    if (d == n) {
      why = StrCat("layer '", l.name, "' (dense part ", GbText(l.dense_bytes), ") finds no GPU with room left");
      return false;
    }
    lp.gpu = int(d);
    out.used[d] += l.dense_bytes;
    int64_t next = 0;
    for (size_t g = d; g < n && next < l.experts; ++g) {
      const int64_t fit = l.expert_bytes > 0 ? free_on(g) / l.expert_bytes : l.experts - next;
      const int64_t take = std::min(fit, l.experts - next);
      if (take <= 0) continue;
      lp.experts.push_back(ExpertRun{next, next + take, int(g)});
      out.used[g] += take * l.expert_bytes;
      next += take;
      d = g;
    }
    if (next < l.experts) {
      why = StrCat("layer '", l.name, "' needs ", GbText(bytes), " (", l.experts, " experts of ",
                   GbText(l.expert_bytes), "); experts ", next, ".. find no GPU with room left");
      return false;
    }
    out.layers.push_back(std::move(lp));
  }
  for (size_t i = 0; i < out.layers.size(); ++i) {
    const LayerPlace& lp = out.layers[i];
    if (i > 0 && out.layers[i - 1].gpu != lp.gpu) ++out.transfers;
    std::map<int, bool> others;
    for (const auto& r : lp.experts)
      if (r.gpu != lp.gpu) others[r.gpu] = true;
    out.transfers += 2 * int64_t(others.size());
  }
  return true;
}

}  // namespace

bool LayerPlace::Split() const {
  for (const auto& r : experts)
    if (r.gpu != gpu) return true;
  return false;
}

std::vector<LayerNeed> ModelLayerNeeds(const SwitchConfig& cfg, double expert_bits_per_param,
                                       double dense_bits_per_param) {
  QMOE_CHECK(expert_bits_per_param > 0 && dense_bits_per_param > 0, "placement: bits per parameter must be > 0 (",
             expert_bits_per_param, ", ", dense_bits_per_param, ")");
  std::vector<LayerNeed> out;
  std::map<std::string, size_t> index;
  auto layer = [&](const std::string& name) -> LayerNeed& {
    auto [it, inserted] = index.emplace(name, out.size());
    if (inserted) out.push_back(LayerNeed{name});
    return out[it->second];
  };
  layer("embed");
  for (const TensorShape& t : SwitchTensorShapes(cfg)) {
    int64_t params = 1;
    for (int64_t s : t.shape) params *= s;
    LayerNeed& l = layer(LayerOf(t.name, cfg));
    if (t.is_expert) {
      // Experts are counted per matrix (wi, wo); one expert = both.
      if (t.name.find(".wi.") != std::string::npos) ++l.experts;
      l.expert_bytes = 0;  // summed below from the per-matrix totals
    } else {
      l.dense_bytes += BytesOf(params, dense_bits_per_param);
    }
  }
  // One expert's bytes: wi [d_ff, d_model] + wo [d_model, d_ff] at the expert rate.
  const int64_t expert_bytes = BytesOf(2 * cfg.d_model * cfg.d_ff, expert_bits_per_param);
  for (auto& l : out) l.expert_bytes = l.experts > 0 ? expert_bytes : 0;
  return out;
}

Placement PlaceLayers(const std::vector<LayerNeed>& layers, const std::vector<int64_t>& budgets) {
  QMOE_CHECK(!budgets.empty(), "placement: no GPUs listed");
  for (size_t i = 0; i < budgets.size(); ++i)
    QMOE_CHECK(budgets[i] > 0, "placement: GPU ", i, " has a budget of ", budgets[i], " bytes (expected > 0)");
  Placement p;
  std::string why_balanced, why_fill;
  if (TryPlace(layers, budgets, true, p, why_balanced)) return p;
  if (TryPlace(layers, budgets, false, p, why_fill)) return p;
  int64_t total = 0, sum_budgets = 0;
  for (const auto& l : layers) total += l.Bytes();
  for (int64_t b : budgets) sum_budgets += b;
  throw Error(StrCat("placement: the model (", GbText(total), ") does not fit on ", budgets.size(), " GPUs with ",
                     GbText(sum_budgets), " in all: ", why_fill));
}

std::string DescribePlacement(const Placement& p) {
  std::ostringstream os;
  for (size_t g = 0; g < p.used.size(); ++g) {
    std::string first, last;
    for (const auto& lp : p.layers) {
      bool here = lp.gpu == int(g);
      for (const auto& r : lp.experts) here = here || r.gpu == int(g);
      if (!here) continue;
      if (first.empty()) first = lp.name;
      last = lp.name;
    }
    os << (g ? "; " : "") << "gpu" << g << ": " << (first.empty() ? "(empty)" : first == last ? first : first + ".." + last)
       << " (" << GbText(p.used[g]) << ")";
  }
  os << "; " << p.transfers << " activation transfers per pass";
  return os.str();
}

}  // namespace qmoe
