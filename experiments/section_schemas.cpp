#include "experiments/section_schemas.h"

#include "framework/data/samples.h"
#include "framework/model/switch_config.h"

namespace qmoe {
namespace {

struct RootParams {
  int64_t seed = 0;
  std::string device = "cpu";
  template <class V>
  void Visit(V&& v) {
    v(seed, "seed", "seed of generated data, sampling and span corruption");
    v(device, "device", "where compress, eval, runtime and kernels compute: cpu, cuda, cuda:N, or cuda:0,1,2,3 (docs/gpu.md)");
  }
};

struct ResultsParams {
  std::string db = "results/qmoe.db";
  std::string dir = "results/runs";
  std::string sweeps = "results/sweeps";
  template <class V>
  void Visit(V&& v) {
    v(db, "db", "SQLite results database (created if missing)");
    v(dir, "dir", "per-run folders: resolved config, overrides, logs, saved files");
    v(sweeps, "sweeps", "per-sweep folders of cluster sweeps: job script, point list, shard databases, logs");
  }
};

struct SweepParams {
  std::string grids = "";
  std::string report = "";
  template <class V>
  void Visit(V&& v) {
    v(grids, "grids", "list of override strings; `qmoe sweep` runs the union of their grids");
    v(report, "report", "a `qmoe report` table printed when the sweep ends ('' = none)",
      Choices{{"", "table1", "table2", "table3", "table4", "table5", "table6", "table7"}});
  }
};

// Until a section's owner declares its keys, accept the keys its config files define.
std::vector<ParamSpec> FromNode(const YAML::Node& n) {
  std::vector<ParamSpec> specs;
  if (!n || !n.IsMap()) return specs;
  for (const auto& kv : n) specs.push_back(ParamSpec{kv.first.as<std::string>(), ParamType::kString, "", ""});
  return specs;
}

}  // namespace

std::vector<ParamSpec> RootSchema() { return SpecsOf<RootParams>(); }
std::vector<ParamSpec> ResultsSchema() { return SpecsOf<ResultsParams>(); }
std::vector<ParamSpec> SweepSchema() { return SpecsOf<SweepParams>(); }

std::map<std::string, std::vector<ParamSpec>> ModelSectionSchemas(const ComposedConfig& cfg) {
  std::map<std::string, std::vector<ParamSpec>> out;
  if (cfg.root["model"]) out["model"] = SpecsOf<SwitchConfig>();
  if (cfg.root["data"]) out["data"] = SpecsOf<data::DataParams>();
  if (cfg.root["eval"]) out["eval"] = FromNode(cfg.root["eval"]);
  return out;
}

}  // namespace qmoe
