#include "experiments/cli/run_summary.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>

#include "framework/core/repo_path.h"
#include "framework/core/strings.h"
#include "framework/data/samples.h"
#include "framework/model/switch_config.h"
#include "framework/results/paper_reference.h"
#include "framework/results/results_db.h"

namespace qmoe {
namespace fs = std::filesystem;
namespace {

// The run's model section, typed (compress runs always have one).
SwitchConfig ModelOf(const PointPlan& plan) { return FromParamMap<SwitchConfig>(plan.typed.at("model")); }

// The dense model's loss from a shipped model card, when the run evaluated with the card's
// protocol (same sample protocol and number of samples); NaN otherwise.
double CardBaselineLoss(const PointPlan& plan, double validation_samples) {
  auto data = plan.typed.find("data");
  if (data == plan.typed.end()) return NAN;
  const std::string protocol = data::ProtocolId(FromParamMap<data::DataParams>(data->second));
  const std::string path = ModelOf(plan).path;
  if (path.empty()) return NAN;
  std::ifstream in(fs::path(ResolveRepoPath(path)) / "card.json");
  if (!in) return NAN;
  const auto card = nlohmann::json::parse(in, nullptr, false);
  if (card.is_discarded() || !card.contains("aggregate") || card.value("protocol_id", "") != protocol) return NAN;
  const double n = card["aggregate"].value("n_samples", 0.0);
  return n == validation_samples ? card["aggregate"].value("loss_nats", NAN) : NAN;
}

// The paper's Table 6 value of `metric` for `model` (QMoE dict), NaN when the paper has none.
double PaperTable6(const std::string& model, const std::string& metric) {
  for (const ReferenceResult& r : PaperReferenceResults())
    if (r.table_name == "Table 6" && r.model == model && r.method == "qmoe-dict" && r.metric == metric) return r.value;
  return NAN;
}

}  // namespace

void PrintRunSummary(const PointPlan& plan, std::ostream& out) {
  if (plan.experiment != "compress") return;
  ResultsDb db(plan.db_path);
  const auto m = db.RunLevelMetrics(plan.key);
  auto get = [&](const char* name) { auto it = m.find(name); return it == m.end() ? NAN : it->second; };
  const double loss = get("loss_nats"), bits = get("bits_per_param"), expert_bits = get("bits_per_param_experts");
  if (std::isnan(loss) && std::isnan(bits)) return;
  const double base = CardBaselineLoss(plan, get("validation_samples"));
  const std::string model = plan.model.empty() ? "the model" : plan.model;

  out << std::fixed << std::setprecision(4) << "\nsummary: " << model << ", method " << plan.method << "\n";
  if (!std::isnan(base))
    out << "  loss (nats)        " << base << " dense (model card) -> " << loss << " compressed ("
        << std::showpos << loss - base << std::noshowpos << ")\n";
  else
    out << "  loss (nats)        " << loss << " compressed (dense baseline: qmoe eval model=" << plan.model
        << " with the same data settings)\n";
  out << std::setprecision(3) << "  bits per parameter " << expert_bits << " experts, " << bits
      << " whole model; " << std::setprecision(1) << 16.0 / bits << "x smaller than bf16 ("
      << 16.0 / expert_bits << "x for the experts)\n";
  const std::string name = ModelOf(plan).name;
  const double paper_moe = PaperTable6(name, "moe_only_rate"), paper_full = PaperTable6(name, "full_rate");
  if ((plan.method == "dict" || plan.method == "rans") && !std::isnan(paper_moe) && !std::isnan(paper_full))
    out << std::setprecision(3) << "  paper (Table 6)    " << 16.0 / paper_moe << " experts, " << 16.0 / paper_full
        << " whole model; " << std::setprecision(2) << paper_full << "x (" << paper_moe << "x for the experts), "
        << "QMoE dict on the trained " << name << "\n";
  out << "  time               " << std::setprecision(0) << get("wall_seconds") << " s\n";
  if (expert_bits >= 1.0 && (plan.method == "dict" || plan.method == "rans")) {
    out << "  why not below 1 bit: this model's experts are " << ModelOf(plan).d_model << "x"
        << ModelOf(plan).d_ff << "; every stored row costs 64 bits (row offset and bf16 "
        << "min/max) and a 16-bit codeword covers at most 28 weights, so narrow rows cannot go below 1 bit. At "
        << "real shapes they do: ctest -R synth_scale, or qmoe synth model=switch-base-8 out=DIR layers=2 and the "
        << "command it prints.\n";
  }
}

}  // namespace qmoe
