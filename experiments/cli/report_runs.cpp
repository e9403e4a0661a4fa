#include "experiments/cli/report_runs.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/sqlite_util.h"

namespace qmoe::report {
namespace {

// Marks the code_version of runs whose non-zero seed drew the calibration data (experiment
// registry: SeedUse::scheme of `compress`).
constexpr const char* kSeedScheme = "; seeds v";

const char* kDoneCompress = "SELECT id FROM runs WHERE experiment = 'compress' AND status = 'done'";

bool ParseNumber(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

bool SameValue(const std::string& a, const std::string& b) {
  if (a == b) return true;
  double x, y;
  return ParseNumber(a, &x) && ParseNumber(b, &y) && x == y;
}

// The block number of "encoder.block.N" (-1 for anything else).
int64_t EncoderBlock(const std::string& layer) {
  static const std::string prefix = "encoder.block.";
  if (layer.rfind(prefix, 0) != 0) return -1;
  double v;
  return ParseNumber(layer.substr(prefix.size()), &v) ? static_cast<int64_t>(v) : -1;
}

std::map<std::string, std::string> Context(const Run& r, const std::set<std::string>& axes,
                                           const std::set<std::string>& ignored) {
  std::map<std::string, std::string> c;
  for (const auto& [k, v] : r.params)
    if (!AlwaysIgnored(k) && !axes.count(k) && !ignored.count(k)) c[k] = v;
  return c;
}

// Every key both contexts have holds the same value.
bool Compatible(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  for (const auto& [k, v] : a)
    if (auto it = b.find(k); it != b.end() && !SameValue(v, it->second)) return false;
  return true;
}

// The keys that tell the groups apart. model.name comes first; another model.* key is named only
// where it differs between groups of the same model (e.g. model.synthetic, model.path), since the
// model name implies the rest.
void Headings(std::vector<Group>& groups) {
  auto model_of = [](const Group& g) { return g.context.count("model.name") ? g.context.at("model.name") : ""; };
  std::map<std::string, std::set<std::string>> values;                           // key -> values
  std::map<std::pair<std::string, std::string>, std::set<std::string>> per_model;  // (model, key) -> values
  for (const auto& g : groups)
    for (const auto& [k, v] : g.context) {
      values[k].insert(v);
      per_model[{model_of(g), k}].insert(v);
    }
  for (auto& g : groups) {
    std::vector<std::string> parts;
    if (auto it = g.context.find("model.name"); it != g.context.end()) parts.push_back("model.name=" + it->second);
    for (const auto& [k, v] : g.context) {
      if (k == "model.name" || values[k].size() < 2) continue;
      if (k.rfind("model.", 0) == 0 && per_model[{model_of(g), k}].size() < 2) continue;
      parts.push_back(k + "=" + v);
    }
    g.heading = Join(parts, ", ");
  }
}

}  // namespace

std::string Run::Param(const std::string& key) const {
  auto it = params.find(key);
  return it == params.end() ? "" : it->second;
}

std::optional<double> Run::Metric(const std::string& name) const {
  auto it = metrics.find(name);
  if (it == metrics.end()) return std::nullopt;
  return it->second;
}

std::optional<double> Run::MetricAny(const std::vector<std::string>& names) const {
  for (const auto& n : names)
    if (auto v = Metric(n)) return v;
  return std::nullopt;
}

int64_t Run::CalibrationRequested() const {
  return static_cast<int64_t>(Metric("calibration_samples_requested").value_or(Metric("calibration_samples").value_or(0)));
}

int64_t Run::CalibrationUsed() const { return static_cast<int64_t>(Metric("calibration_samples").value_or(0)); }

bool AlwaysIgnored(const std::string& key) {
  return key == "seed" || key == "experiment.save" || key == "experiment.allow_capped" || key == "experiment.type" ||
         key.rfind("results.", 0) == 0 || key.rfind("sweep.", 0) == 0;
}

std::vector<Run> LoadCompressRuns(ResultsDb& db, int* stale_seeds) {
  std::map<int64_t, Run> runs;
  {
    SqlStmt st(db.handle(),
               "SELECT id, model, method, code_version, seed FROM runs WHERE experiment = 'compress' AND status = 'done' "
               "ORDER BY id",
               db.path());
    while (st.Step("report: runs")) {
      Run r;
      r.id = st.Int(0);
      r.model = st.Text(1);
      r.method = st.Text(2);
      r.code_version = st.Text(3);
      r.seed = st.Int(4);
      runs[r.id] = std::move(r);
    }
  }
  {
    SqlStmt st(db.handle(), StrCat("SELECT run_id, key, value FROM run_params WHERE run_id IN (", kDoneCompress, ")"),
               db.path());
    while (st.Step("report: run_params"))
      if (auto it = runs.find(st.Int(0)); it != runs.end()) it->second.params[st.Text(1)] = st.Text(2);
  }
  {
    SqlStmt st(db.handle(),
               StrCat("SELECT run_id, name, domain, value FROM metrics WHERE run_id IN (", kDoneCompress,
                      ") AND layer = '' AND expert = -1 AND matrix = '' AND value IS NOT NULL"),
               db.path());
    while (st.Step("report: metrics")) {
      auto it = runs.find(st.Int(0));
      if (it == runs.end()) continue;
      const std::string name = st.Text(1), domain = st.Text(2);
      if (domain.empty()) it->second.metrics[name] = st.Double(3);
      else if (name == "loss_nats") it->second.domain_loss[domain] = st.Double(3);
    }
  }
  {
    SqlStmt st(db.handle(),
               StrCat("SELECT run_id, layer, value FROM metrics WHERE run_id IN (", kDoneCompress,
                      ") AND name = 'layer_compress_seconds' AND layer LIKE 'encoder.block.%' AND expert = -1 "
                      "AND matrix = '' AND domain = '' AND value IS NOT NULL"),
               db.path());
    while (st.Step("report: layer metrics")) {
      auto it = runs.find(st.Int(0));
      const int64_t block = EncoderBlock(st.Text(1));
      if (it != runs.end() && block >= 0) it->second.encoder_layer_seconds[block] = st.Double(2);
    }
  }
  std::vector<Run> out;
  if (stale_seeds) *stale_seeds = 0;
  for (auto& [id, r] : runs) {
    // Runs on a synthetic checkpoint carry model.synthetic = true; every other run is on real
    // weights, so a table never pools the two even where their other keys agree.
    r.params.emplace("model.synthetic", "false");
    if (r.seed != 0 && r.code_version.find(kSeedScheme) == std::string::npos) {
      if (stale_seeds) ++*stale_seeds;
      continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

Filters ParseWhere(const std::vector<std::string>& args, std::vector<std::string>* rest) {
  Filters f;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string expr;
    if (args[i] == "--where") {
      QMOE_CHECK(i + 1 < args.size(), "qmoe report: --where needs key=value, e.g. --where model.name=switch-tiny-8");
      expr = args[++i];
    } else if (args[i].rfind("--where=", 0) == 0) {
      expr = args[i].substr(8);
    } else {
      rest->push_back(args[i]);
      continue;
    }
    const size_t eq = expr.find('=');
    QMOE_CHECK(eq != std::string::npos && eq > 0, "qmoe report: --where expects key=value, got '", expr, "'");
    f.emplace_back(expr.substr(0, eq), expr.substr(eq + 1));
  }
  return f;
}

std::vector<Run> ApplyFilters(const std::vector<Run>& runs, const Filters& filters) {
  auto value = [](const Run& r, const std::string& key) -> std::optional<std::string> {
    if (key == "seed") return std::to_string(r.seed);
    if (key == "method") return r.method;
    if (key == "model") return r.model;
    auto it = r.params.find(key);
    if (it == r.params.end()) return std::nullopt;
    return it->second;
  };
  for (const auto& [key, want] : filters) {
    bool known = key == "seed" || key == "method" || key == "model";
    std::set<std::string> keys;
    for (const auto& r : runs) {
      known = known || r.params.count(key);
      for (const auto& [k, v] : r.params) keys.insert(k);
    }
    QMOE_CHECK(known, "qmoe report: --where ", key, "=", want, ": no finished compress run has the key '", key, "'",
               DidYouMean(key, std::vector<std::string>(keys.begin(), keys.end())));
  }
  std::vector<Run> out;
  for (const auto& r : runs) {
    bool keep = true;
    for (const auto& [key, want] : filters) {
      auto v = value(r, key);
      keep = keep && v && SameValue(*v, want);
    }
    if (keep) out.push_back(r);
  }
  return out;
}

std::vector<Group> GroupRuns(const std::vector<const Run*>& runs, const std::set<std::string>& axes,
                             const std::set<std::string>& ignored) {
  // Most specific runs first found the groups; then every run joins each group it agrees with.
  std::vector<const Run*> order = runs;
  std::stable_sort(order.begin(), order.end(), [&](const Run* a, const Run* b) {
    return Context(*a, axes, ignored).size() > Context(*b, axes, ignored).size();
  });
  std::vector<Group> groups;
  for (const Run* r : order) {
    const auto c = Context(*r, axes, ignored);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return Compatible(c, g.context); });
    if (it == groups.end()) {
      groups.push_back(Group{c, {}, ""});
    } else {
      for (const auto& [k, v] : c) it->context.emplace(k, v);
    }
  }
  for (auto& g : groups)
    for (const Run* r : runs)
      if (Compatible(Context(*r, axes, ignored), g.context)) g.runs.push_back(r);
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
    const std::string ma = a.context.count("model.name") ? a.context.at("model.name") : "";
    const std::string mb = b.context.count("model.name") ? b.context.at("model.name") : "";
    if (ma != mb) return ma < mb;
    return a.runs.front()->id < b.runs.front()->id;
  });
  Headings(groups);
  return groups;
}

void CellStats::Add(const Run& r, double v) {
  by_seed[r.seed].push_back(v);
  capped = capped || r.Capped();
}

double CellStats::Mean() const {
  double m = 0;
  for (const auto& [seed, vs] : by_seed) {
    double s = 0;
    for (double x : vs) s += x;
    m += s / double(vs.size());
  }
  return m / double(by_seed.size());
}

double CellStats::Std() const {
  if (by_seed.size() < 2) return 0;
  const double m = Mean();
  double ss = 0;
  for (const auto& [seed, vs] : by_seed) {
    double s = 0;
    for (double x : vs) s += x;
    const double d = s / double(vs.size()) - m;
    ss += d * d;
  }
  return std::sqrt(ss / double(by_seed.size() - 1));
}

std::string CellStats::Format(int digits) const {
  if (Empty()) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << Mean();
  if (Seeds() > 1) {
    // A spread below the cell's precision keeps two significant digits instead of reading "±0.000".
    const double sd = Std();
    const int sd_digits = sd > 0 && sd < 0.5 * std::pow(10.0, -digits) ? int(std::floor(-std::log10(sd))) + 2 : digits;
    os << "±" << std::setprecision(sd_digits) << sd << " (n=" << Seeds() << ")";
  }
  if (capped) os << "*";
  return os.str();
}

}  // namespace qmoe::report
