// The experiment interface. An experiment type ("matrix", "eval", "compress", ...) runs one point
// of a sweep from the resolved config and writes its metrics through the context.
#pragma once
#include <yaml-cpp/yaml.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

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

  void Metric(const std::string& name, double value, const std::string& unit = "",
              const MetricLabels& labels = {}) {
    db.AddMetric(run_id, name, value, unit, labels);
  }
};

class Experiment {
 public:
  virtual ~Experiment() = default;
  virtual void Run(RunContext& ctx) = 0;
};

struct ExperimentInfo {
  std::string help;
  int version = 1;                     // bump when results change; part of every run key
  std::vector<ParamSpec> params;       // the keys of the `experiment` config section
  bool uses_method = true;             // whether the `method` section applies
  bool uses_model = false;             // whether the `model`/`data`/`eval` sections apply
  std::function<std::unique_ptr<Experiment>(const ParamMap&)> make;
};

using ExperimentRegistry = Registry<ExperimentInfo>;

template <class E>
void RegisterExperiment(ExperimentRegistry& r, const std::string& key, const std::string& help,
                        bool uses_method, bool uses_model, int version = 1) {
  ExperimentInfo info;
  info.help = help;
  info.version = version;
  info.params = SpecsOf<typename E::Params>();
  info.uses_method = uses_method;
  info.uses_model = uses_model;
  info.make = [](const ParamMap& m) {
    return std::unique_ptr<Experiment>(new E(FromParamMap<typename E::Params>(m)));
  };
  r.Add(key, std::move(info));
}

void RegisterAllExperiments(ExperimentRegistry& r);
const ExperimentRegistry& Experiments();

}  // namespace qmoe
