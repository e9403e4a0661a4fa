// `qmoe results table`: pivot of one run-level metric over done runs. Rows and columns are
// run columns (method, model, ...) or flattened config keys from run_params (method.bits, ...).
// A cell that several runs fall into (e.g. seeds) shows "mean ± std (n=K)" with the sample std.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/result_set.h"
#include "framework/results/results_commands.h"
#include "framework/results/sqlite_util.h"

namespace qmoe {

namespace {

// Columns of `runs` usable as a dimension; anything else is looked up in run_params.
const std::vector<std::string> kRunColumns = {"experiment", "method", "model",        "status",    "sweep_id",
                                              "seed",       "host",   "git_commit",   "code_version"};
constexpr const char* kUnset = "(unset)";

struct Dimension {
  std::string sql;    // expression over runs r, or a run_params lookup bound to `param`
  std::string param;  // the run_params key, "" for a run column
};

Dimension ResolveDimension(ResultsDb& db, const std::string& flag, const std::string& name) {
  if (std::find(kRunColumns.begin(), kRunColumns.end(), name) != kRunColumns.end())
    return {StrCat("CAST(r.", name, " AS TEXT)"), ""};  // name is from the fixed list: safe to inline
  SqlStmt keys(db.handle(), "SELECT DISTINCT key FROM run_params ORDER BY key", db.path());
  std::vector<std::string> known = kRunColumns;
  bool found = false;
  while (keys.Step("table")) {
    known.push_back(keys.Text(0));
    found |= (known.back() == name);
  }
  QMOE_CHECK(found, "qmoe results table: --", flag, " '", name, "' is neither a run column nor a config key in '",
             db.path(), "'", DidYouMean(name, known), "; run columns: ", Join(kRunColumns, ", "),
             "; config keys are listed by `qmoe results show RUN`");
  return {"(SELECT p.value FROM run_params p WHERE p.run_id = r.id AND p.key = ?)", name};
}

bool ParseNumber(const std::string& s, double* v) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Numeric order when every label is a number ("2" < "16"), text order otherwise; unset last.
std::vector<std::string> SortLabels(const std::set<std::string>& labels) {
  std::vector<std::string> v;
  for (const auto& l : labels)
    if (l != kUnset) v.push_back(l);
  double d;
  bool numeric = std::all_of(v.begin(), v.end(), [&](const std::string& s) { return ParseNumber(s, &d); });
  if (numeric)
    std::stable_sort(v.begin(), v.end(), [](const std::string& a, const std::string& b) {
      double x = 0, y = 0;
      ParseNumber(a, &x);
      ParseNumber(b, &y);
      return x < y;
    });
  if (labels.count(kUnset)) v.push_back(kUnset);
  return v;
}

std::string Fmt(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string CellText(const std::vector<double>& xs, const std::string& agg, int digits) {
  if (agg == "count") return std::to_string(xs.size());
  if (agg == "min") return Fmt(*std::min_element(xs.begin(), xs.end()), digits);
  if (agg == "max") return Fmt(*std::max_element(xs.begin(), xs.end()), digits);
  double mean = 0;
  for (double x : xs) mean += x;
  mean /= static_cast<double>(xs.size());
  if (xs.size() == 1) return Fmt(mean, digits);
  double ss = 0;
  for (double x : xs) ss += (x - mean) * (x - mean);
  double sd = std::sqrt(ss / static_cast<double>(xs.size() - 1));  // sample std over runs (seeds)
  return StrCat(Fmt(mean, digits), " ± ", Fmt(sd, digits), " (n=", xs.size(), ")");
}

}  // namespace

int ResultsTable(ResultsDb& db, const CliArgs& a, std::ostream& out) {
  QMOE_CHECK(a.Has("rows") && a.Has("value"), "qmoe results table needs --rows KEY and --value METRIC (and usually --cols KEY)");
  const std::string agg = a.Get("agg", "mean");
  CheckChoice("agg", agg, {"mean", "min", "max", "count"});
  const std::string format = a.Get("format", "text");
  CheckChoice("format", format, {"text", "csv", "markdown"});
  const std::string digits_s = a.Get("digits", "4");
  int digits = 0;
  {
    auto r = std::from_chars(digits_s.data(), digits_s.data() + digits_s.size(), digits);
    QMOE_CHECK(r.ec == std::errc() && r.ptr == digits_s.data() + digits_s.size() && digits >= 1 && digits <= 17,
               "--digits must be an integer in 1..17 (significant digits), got '", digits_s, "'");
  }
  const std::string metric = a.Get("value");
  {
    SqlStmt names(db.handle(), "SELECT DISTINCT name FROM metrics WHERE layer = '' AND expert = -1 AND matrix = '' "
                               "AND domain = '' ORDER BY name", db.path());
    std::vector<std::string> known;
    while (names.Step("table")) known.push_back(names.Text(0));
    QMOE_CHECK(std::find(known.begin(), known.end(), metric) != known.end(), "qmoe results table: no run-level metric '",
               metric, "' in '", db.path(), "'", DidYouMean(metric, known), "; metrics: ",
               known.empty() ? "(none)" : Join(known, ", "));
  }

  const Dimension row_dim = ResolveDimension(db, "rows", a.Get("rows"));
  const bool has_cols = a.Has("cols");
  const Dimension col_dim = has_cols ? ResolveDimension(db, "cols", a.Get("cols")) : Dimension{"''", ""};
  std::vector<std::string> binds;  // in order of the '?' placeholders
  std::string sql = StrCat("SELECT ", row_dim.sql, ", ", col_dim.sql, ", m.value FROM runs r JOIN metrics m ON "
                           "m.run_id = r.id AND m.name = ? AND m.layer = '' AND m.expert = -1 AND m.matrix = '' AND "
                           "m.domain = '' WHERE r.status = 'done'");
  for (const Dimension* d : {&row_dim, &col_dim})
    if (!d->param.empty()) binds.push_back(d->param);
  binds.push_back(metric);
  if (auto it = a.flags.find("where"); it != a.flags.end()) {
    for (const auto& cond : it->second) {
      auto eq = cond.find('=');
      QMOE_CHECK(eq != std::string::npos && eq > 0, "qmoe results table: --where expects KEY=VALUE, got '", cond, "'");
      Dimension d = ResolveDimension(db, "where", cond.substr(0, eq));
      sql += StrCat(" AND ", d.sql, " = ?");
      if (!d.param.empty()) binds.push_back(d.param);
      binds.push_back(cond.substr(eq + 1));
    }
  }
  SqlStmt st(db.handle(), sql, db.path());
  for (size_t i = 0; i < binds.size(); ++i) st.Bind(static_cast<int>(i + 1), binds[i]);

  std::map<std::pair<std::string, std::string>, std::vector<double>> cells;
  std::set<std::string> row_labels, col_labels;
  while (st.Step("table")) {
    if (st.IsNull(2)) continue;  // NaN values (stored as NULL) do not enter the aggregate
    std::string r = st.IsNull(0) ? kUnset : st.Text(0);
    std::string c = st.IsNull(1) ? kUnset : st.Text(1);
    row_labels.insert(r);
    col_labels.insert(c);
    cells[{r, c}].push_back(st.Double(2));
  }

  ResultSet rs;
  const std::vector<std::string> cols = SortLabels(col_labels);
  rs.columns.push_back(has_cols ? StrCat(a.Get("rows"), " \\ ", a.Get("cols")) : a.Get("rows"));
  for (const auto& c : cols) rs.columns.push_back(has_cols ? c : metric);
  for (const auto& r : SortLabels(row_labels)) {
    std::vector<Cell> row = {Cell::Text(r)};
    for (const auto& c : cols) {
      auto it = cells.find({r, c});
      row.push_back(it == cells.end() ? Cell{} : Cell::Text(CellText(it->second, agg, digits)));
    }
    rs.rows.push_back(std::move(row));
  }
  if (format == "csv") WriteCsv(rs, out);
  else if (format == "markdown") WriteMarkdown(rs, out, "-");
  else WriteText(rs, out, "-");
  return 0;
}

}  // namespace qmoe
