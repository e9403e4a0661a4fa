// The experiment interface. An experiment type ("matrix", "eval", "compress", ...) runs one point
// of a sweep from the resolved config and writes its metrics through the context.
#pragma once
#include <yaml-cpp/yaml.h>

#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/params.h"
#include "framework/core/registry.h"
#include "framework/results/results_db.h"

namespace qmoe {

struct RunContext {
  const YAML::Node& config;   // the resolved, validated config of this point
  const std::map<std::string, ParamMap>& sections;  // typed values per section ("method", "model", ...)
  ResultsDb& db;
  int64_t run_id;
  int64_t seed;
  std::string run_dir;        // results/runs/<key prefix>/: resolved config, overrides, log, files

  // Metrics and kernel timings are buffered and written by the runner in one short transaction
  // when the experiment returns (or fails): a run that takes hours never holds the database's
  // write lock, so parallel sweep workers are never locked out.
  void Metric(const std::string& name, double value, const std::string& unit = "",
              const MetricLabels& labels = {}) {
    metrics_.push_back(PendingMetric{name, value, unit, labels});
  }
  void Timing(const KernelTiming& t) { timings_.push_back(t); }
  void Flush() {
    if (metrics_.empty() && timings_.empty()) return;
    db.Begin();
    for (const auto& m : metrics_) db.AddMetric(run_id, m.name, m.value, m.unit, m.labels);
    for (const auto& t : timings_) db.AddKernelTiming(run_id, t);
    db.Commit();
    metrics_.clear();
    timings_.clear();
  }

  // The buffers (public only so RunContext stays an aggregate; use Metric/Timing/Flush).
  struct PendingMetric {
    std::string name;
    double value;
    std::string unit;
    MetricLabels labels;
  };
  std::vector<PendingMetric> metrics_{};
  std::vector<KernelTiming> timings_{};
};

class Experiment {
 public:
  virtual ~Experiment() = default;
  virtual void Run(RunContext& ctx) = 0;
};

// How the top-level `seed` enters an experiment. An experiment that draws anything at random
// (calibration order and subset, span-corruption noise, generated data) draws it from `seed`, so
// replicates differ and their spread is real.
struct SeedUse {
  // false: the experiment draws nothing at random. `seed` is then set to 0 before the run key is
  // computed (replicates would repeat identical work) and a non-zero seed is reported and ignored.
  bool used = true;
  // > 0: non-zero seeds changed meaning at this version of the seeding scheme; it enters the run
  // key (and code_version) of runs with seed != 0 only, so seed-0 runs keep their keys and results
  // while older rows of other seeds are recomputed rather than reused.
  int scheme = 0;
};

struct ExperimentInfo {
  std::string help;
  int version = 1;                     // bump when results change; part of every run key
  std::vector<ParamSpec> params;       // the keys of the `experiment` config section
  bool uses_method = true;             // whether the `method` section applies
  bool uses_model = false;             // whether the `model`/`data`/`eval` sections apply
  SeedUse seed;
  std::function<std::unique_ptr<Experiment>(const ParamMap&)> make;
  // Optional checks of a planned point's typed sections, run before anything runs (a sweep plans
  // every point first): one clear Error for a point that must not start.
  std::function<void(const std::map<std::string, ParamMap>&)> preflight;
  // Keys of the `experiment` section that permit rather than change a result (compress:
  // allow_capped): left out of the run key, so adding one keeps every existing key.
  std::vector<std::string> not_in_run_key;
  // Optional, for an experiment that uses `seed` at some points only (compress: only methods that
  // calibrate): false = this point draws nothing at random and runs as seed 0.
  std::function<bool(const std::map<std::string, ParamMap>&)> point_uses_seed;
};

using ExperimentRegistry = Registry<ExperimentInfo>;

// An experiment class may declare `static void Preflight(const Params&, const std::map<std::string,
// ParamMap>& sections)` and `static bool UsesSeed(const Params&, const std::map<...>& sections)`;
// they become ExperimentInfo::preflight and ::point_uses_seed; `static std::vector<std::string>
// NotInRunKey()` becomes ::not_in_run_key.
template <class E>
void RegisterExperiment(ExperimentRegistry& r, const std::string& key, const std::string& help,
                        bool uses_method, bool uses_model, int version = 1, SeedUse seed = {}) {
  ExperimentInfo info;
  info.help = help;
  info.version = version;
  info.params = SpecsOf<typename E::Params>();
  info.uses_method = uses_method;
  info.uses_model = uses_model;
  info.seed = seed;
  info.make = [](const ParamMap& m) {
    return std::unique_ptr<Experiment>(new E(FromParamMap<typename E::Params>(m)));
  };
  if constexpr (requires(const typename E::Params& p, const std::map<std::string, ParamMap>& s) {
                  E::Preflight(p, s);
                }) {
    info.preflight = [](const std::map<std::string, ParamMap>& s) {
      E::Preflight(FromParamMap<typename E::Params>(s.at("experiment")), s);
    };
  }
  if constexpr (requires(const typename E::Params& p, const std::map<std::string, ParamMap>& s) {
                  { E::UsesSeed(p, s) } -> std::convertible_to<bool>;
                }) {
    info.point_uses_seed = [](const std::map<std::string, ParamMap>& s) {
      return E::UsesSeed(FromParamMap<typename E::Params>(s.at("experiment")), s);
    };
  }
  if constexpr (requires { E::NotInRunKey(); }) info.not_in_run_key = E::NotInRunKey();
  r.Add(key, std::move(info));
}

void RegisterAllExperiments(ExperimentRegistry& r);
const ExperimentRegistry& Experiments();

}  // namespace qmoe
