#include "experiments/launcher/launcher_config.h"

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace qmoe {

std::vector<ParamSpec> LauncherSchema() {
  using T = ParamType;
  auto inf = std::numeric_limits<double>::infinity();
  return {
      {"name", T::kString, "local", "where the points run: local (this machine) or slurm (a job array)",
       {"local", "slurm"}},
      {"partition", T::kString, "", "Slurm partition ('' = the cluster's default)"},
      {"time", T::kString, "01:00:00", "time limit per task (sbatch --time)"},
      {"cpus_per_task", T::kInt, "2", "CPU cores per task (sbatch --cpus-per-task)", {}, 1, inf},
      {"mem", T::kString, "8G", "memory per task (sbatch --mem; '' = the partition's default)"},
      {"gres", T::kString, "", "generic resources per task, e.g. gpu:1 (sbatch --gres)"},
      {"account", T::kString, "", "account to charge (sbatch --account)"},
      {"qos", T::kString, "", "quality of service (sbatch --qos)"},
      {"array_parallelism", T::kInt, "0", "at most this many tasks at once (0 = no limit)", {}, 0, inf},
      {"extra_flags", T::kString, "[]", "list of further sbatch flags, e.g. [--constraint=a100]"},
      {"setup", T::kString, "[]", "list of shell lines each task runs before qmoe, e.g. [module load cuda]"},
      {"gpu_overrides", T::kString, "[]", "list of overrides added to every point when gres asks for a GPU"},
      {"finish_job", T::kBool, "true", "submit a dependent job that records how every task ended"},
  };
}

namespace {

std::vector<std::string> StringList(const ComposedConfig& cfg, const YAML::Node& section, const std::string& key) {
  const YAML::Node n = section[key];
  std::vector<std::string> out;
  if (!n || n.IsNull()) return out;
  const std::string where = cfg.origin.count("launcher." + key) ? cfg.origin.at("launcher." + key) : "config";
  QMOE_CHECK(n.IsSequence(), where, ": launcher.", key, " must be a list of strings, e.g. [a, b]");
  for (const auto& x : n) {
    QMOE_CHECK(x.IsScalar(), where, ": launcher.", key, " must be a list of strings, found a nested list or mapping");
    out.push_back(x.Scalar());
  }
  return out;
}

}  // namespace

LauncherParams LauncherOf(const ComposedConfig& cfg) {
  LauncherParams p;
  const YAML::Node section = cfg.root["launcher"];
  if (!section) return p;
  ConfigSchema schema{{"launcher", LauncherSchema()}};
  ComposedConfig only;  // validate this section alone (the caller validated the rest)
  only.root = YAML::Node(YAML::NodeType::Map);
  only.root["launcher"] = section;
  only.origin = cfg.origin;
  const ParamMap v = ValidateConfig(only, schema).at("launcher");
  p.name = std::get<std::string>(v.at("name"));
  p.partition = std::get<std::string>(v.at("partition"));
  p.time = std::get<std::string>(v.at("time"));
  p.cpus_per_task = std::get<int64_t>(v.at("cpus_per_task"));
  p.mem = std::get<std::string>(v.at("mem"));
  p.gres = std::get<std::string>(v.at("gres"));
  p.account = std::get<std::string>(v.at("account"));
  p.qos = std::get<std::string>(v.at("qos"));
  p.array_parallelism = std::get<int64_t>(v.at("array_parallelism"));
  p.finish_job = std::get<bool>(v.at("finish_job"));
  p.extra_flags = StringList(cfg, section, "extra_flags");
  p.setup = StringList(cfg, section, "setup");
  p.gpu_overrides = StringList(cfg, section, "gpu_overrides");
  return p;
}

}  // namespace qmoe
