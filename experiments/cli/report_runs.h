// The runs behind `qmoe report`: every finished compress run with its resolved config and the
// metrics the tables read, `--where` filters, and the grouping rule every table follows: a table
// is computed over runs that agree on every resolved-config key except the table's own axes and
// `seed`; several such groups give one table each, headed by the keys that differ.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "framework/results/results_db.h"

namespace qmoe::report {

struct Run {
  int64_t id = 0;
  std::string model, method, code_version;
  int64_t seed = 0;
  std::map<std::string, std::string> params;  // flattened resolved config ("method.bits" -> "2")
  std::map<std::string, double> metrics;      // run-level metrics (no labels)
  std::map<std::string, double> domain_loss;  // loss_nats per validation domain
  std::map<int64_t, double> encoder_layer_seconds;  // layer_compress_seconds per sparse encoder block

  std::string Param(const std::string& key) const;  // "" when absent
  std::optional<double> Metric(const std::string& name) const;
  // The first metric of `names` the run has (new name first, then names of older rows).
  std::optional<double> MetricAny(const std::vector<std::string>& names) const;
  int64_t CalibrationRequested() const;  // 0 for methods without a Hessian
  int64_t CalibrationUsed() const;
  bool Capped() const { return CalibrationUsed() < CalibrationRequested(); }
};

// Every done compress run of the database. Runs with seed != 0 recorded before seeds drew the
// calibration data (their code_version lacks the seed scheme) repeat seed 0's work: they are left
// out and counted in `*stale_seeds`.
std::vector<Run> LoadCompressRuns(ResultsDb& db, int* stale_seeds);

// `--where key=value` filters: `key` is a resolved-config key (model.name, method.grid, ...) or
// seed / method / model. Numbers compare by value ("1" = "1.0"). A key no run has is an Error
// naming it and the nearest known key.
using Filters = std::vector<std::pair<std::string, std::string>>;
Filters ParseWhere(const std::vector<std::string>& args, std::vector<std::string>* rest);
std::vector<Run> ApplyFilters(const std::vector<Run>& runs, const Filters& filters);

// Keys that never split a table: output locations, sweep declarations, the seed, and
// experiment.allow_capped (it only permits a capped run; such cells are marked instead).
bool AlwaysIgnored(const std::string& key);

struct Group {
  std::map<std::string, std::string> context;  // the agreed values of every non-axis key
  std::vector<const Run*> runs;
  std::string heading;                          // "model.name=switch-tiny-8, data.mask_special=false"
};

// Groups `runs` for a table whose axes are `axes` (ignoring also `ignored`). Keys one run lacks
// (method parameters of another method, keys added after older runs) never conflict, so a BF16 run
// joins every group it agrees with. Groups come ordered by model, then by their first run.
std::vector<Group> GroupRuns(const std::vector<const Run*>& runs, const std::set<std::string>& axes,
                             const std::set<std::string>& ignored = {});

// A cell's values: one mean per distinct seed, then mean ± sample std over seeds.
struct CellStats {
  std::map<int64_t, std::vector<double>> by_seed;
  bool capped = false;
  void Add(const Run& r, double v);
  bool Empty() const { return by_seed.empty(); }
  size_t Seeds() const { return by_seed.size(); }
  double Mean() const;
  double Std() const;  // over per-seed means; 0 with one seed
  // "1.234", "1.234±0.010 (n=3)" with several seeds (a spread below the precision gets two
  // significant digits: "5.484±0.00038 (n=2)"), "-" when empty; "*" marks capped calibration.
  std::string Format(int digits) const;
};

}  // namespace qmoe::report
