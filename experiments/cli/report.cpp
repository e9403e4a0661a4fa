#include "experiments/cli/report.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "experiments/cli/report_runs.h"
#include "experiments/cli/report_cost.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/paper_reference.h"
#include "framework/results/results_db.h"
#include "framework/results/sqlite_util.h"

namespace qmoe {
namespace {

using report::CellStats;
using report::Group;
using report::Run;

// The keys that name a method's variant and its calibration: the axes of the method tables.
const std::set<std::string> kMethodAxes = {"method.name", "method.grid", "method.bits", "method.quantizer"};
const std::set<std::string> kCalibrationAxes = {"experiment.calibration_mul", "experiment.calibration_samples"};
// Loss and sparsity are bitwise the same for any number of experts quantized together (only the
// time changes), so the loss tables pool over it; the time tables keep it.
const std::set<std::string> kTimeOnly = {"experiment.group_experts"};

std::set<std::string> Union(std::set<std::string> a, const std::set<std::string>& b) {
  a.insert(b.begin(), b.end());
  return a;
}

std::string Fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

// The paper's cells (reference_results).
struct Paper {
  std::vector<ReferenceResult> rows;
  // The paper's model for a table: ours when the paper reports it, else `fallback`.
  std::string ModelFor(const std::string& table, const std::string& ours, const std::string& fallback) const {
    for (const auto& r : rows)
      if (r.table_name == table && r.model == ours) return ours;
    return fallback;
  }
  // `metric` "" = the table's only metric for that cell.
  std::string Cell(const std::string& table, const std::string& model, const std::string& method, double bits,
                   const std::string& setting, int digits, const std::string& metric = "") const {
    for (const auto& r : rows)
      if (r.table_name == table && r.model == model && r.method == method && r.bits == bits && r.setting == setting &&
          (metric.empty() || r.metric == metric))
        return Fixed(r.value, digits);
    return "-";
  }
};

Paper LoadPaper(ResultsDb& db) {
  LoadPaperReference(db);  // idempotent
  Paper p;
  SqlStmt st(db.handle(),
             "SELECT source, table_name, model, method, bits, setting, metric, value, note FROM reference_results "
             "ORDER BY id",
             db.path());
  while (st.Step("report: reference_results"))
    p.rows.push_back(ReferenceResult{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Double(4), st.Text(5),
                                     st.Text(6), st.Double(7), st.Text(8)});
  return p;
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  auto width = [](const std::string& s) {  // display width: UTF-8 continuation bytes take no column
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (size_t c = 0; c < header.size(); ++c) {
    w[c] = width(header[c]);
    for (const auto& r : rows) w[c] = std::max(w[c], width(r[c]));
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t c = 0; c < r.size(); ++c) s += (c ? "  " : "") + r[c] + std::string(w[c] - width(r[c]), ' ');
    s.erase(s.find_last_not_of(' ') + 1);
    out << s << "\n";
  };
  line(header);
  std::vector<std::string> dash;
  for (size_t c = 0; c < header.size(); ++c) dash.push_back(std::string(w[c], '-'));
  line(dash);
  for (const auto& r : rows) line(r);
}

// What every table shares: the runs, the paper, the output and the notes under each table.
struct Report {
  std::vector<Run> runs;
  Paper paper;
  std::ostream& out;

  std::vector<const Run*> Select(const std::function<bool(const Run&)>& keep) const {
    std::vector<const Run*> v;
    for (const auto& r : runs)
      if (keep(r)) v.push_back(&r);
    return v;
  }
  void Title(const std::string& title, const Group& g) const {
    out << "\n" << title << "\n";
    if (!g.heading.empty()) out << "runs with " << g.heading << "\n";
  }
  // Footnotes: capped calibration (samples used), validation samples, left-out replicates.
  void Notes(const Group& g, bool losses) const {
    std::map<std::pair<int64_t, int64_t>, std::vector<std::string>> capped;
    std::set<int64_t> validation;
    for (const Run* r : g.runs) {
      if (r->Capped()) capped[{r->CalibrationRequested(), r->CalibrationUsed()}].push_back(std::to_string(r->id));
      if (auto v = r->MetricAny({"validation_samples", "n_samples"})) validation.insert(static_cast<int64_t>(*v));
    }
    for (const auto& [k, ids] : capped)
      out << "* capped calibration: asked for " << k.first << " samples, the split has " << k.second
          << ", all used (runs " << Join(ids, ", ") << ")\n";
    if (losses && !validation.empty()) {
      std::vector<std::string> v;
      for (int64_t n : validation) v.push_back(std::to_string(n));
      out << "loss over " << Join(v, " / ") << " validation samples per run\n";
    }
  }
  // Groups that cannot make the table are named in one line, so nothing disappears silently.
  void Incomplete(const std::vector<std::string>& headings, const std::string& why) const {
    if (headings.empty()) return;
    out << "\n(" << headings.size() << " more group" << (headings.size() > 1 ? "s" : "") << " " << why << ": "
        << Join(headings, "; ") << "; select one with --where)\n";
  }
};

double ToD(const std::string& s) { return s.empty() ? NAN : std::stod(s); }

// The calibration label of a run: "0.5x" or "n=256" (explicit sample count).
std::string CalibrationLabel(const Run& r) {
  if (!r.Param("experiment.calibration_samples").empty() && ToD(r.Param("experiment.calibration_samples")) > 0)
    return "n=" + r.Param("experiment.calibration_samples");
  const double mul = r.Param("experiment.calibration_mul").empty() ? 1.0 : ToD(r.Param("experiment.calibration_mul"));
  return Fixed(mul, 1) + "x";
}

// The paper's method key of a calibration label ("qmoe-1x"); "" for explicit sample counts.
std::string PaperQmoe(const std::string& label) {
  if (label == "0.5x") return "qmoe-0.5x";
  if (label == "1.0x") return "qmoe-1x";
  if (label == "2.0x") return "qmoe-2x";
  return "";
}

bool UsesCalibration(const Run& r) { return r.CalibrationRequested() > 0; }

// Table 4's place of a run: row (BF16, RTN, QMoE <cal>, QMoE <cal> dict, RTN rans, ...) and
// column ("2-bit", "tern", or "*" for both). The entropy-coded methods store the same ternary
// weights as their quantizer, so they sit in the ternary column, labelled with their calibration.
bool Table4Cell(const Run& r, std::string* row, std::string* col) {
  const std::string m = r.method, grid = r.Param("method.grid"), bits = r.Param("method.bits");
  if (m == "bf16") return *row = "BF16", *col = "*", true;
  if (m == "rtn" && bits == "2") return *row = "RTN", *col = "2-bit", true;
  if (m == "ternary") return *row = "RTN", *col = "tern", true;
  if (m == "gptq" && (grid == "ternary" || (grid == "minmax" && bits == "2"))) {
    *row = "QMoE " + CalibrationLabel(r);
    *col = grid == "ternary" ? "tern" : "2-bit";
    return true;
  }
  if (m == "dict" || m == "rans") {
    *row = (r.Param("method.quantizer") == "rtn" ? std::string("RTN") : "QMoE " + CalibrationLabel(r)) + " " + m;
    *col = "tern";
    return true;
  }
  return false;
}

int RowRank(const std::string& row) {
  if (row == "BF16") return 0;
  if (row.rfind("RTN", 0) == 0) return 1;
  return 2;
}

// The paper's cell for a Table 4 row and column.
std::string PaperTable4(const Paper& p, const std::string& model, const std::string& row, const std::string& col) {
  const double bits = col == "tern" ? 1.5 : 2;
  if (row == "BF16") return p.Cell("Table 4", model, "bf16", 16, "", 2);
  if (row == "RTN") return p.Cell("Table 4", model, "rtn", bits, "", 2);
  if (row.rfind("QMoE ", 0) == 0) {
    const size_t end = row.find(' ', 5);
    const std::string label = row.substr(5, end == std::string::npos ? std::string::npos : end - 5);
    const bool coded = end != std::string::npos;  // "QMoE 1.0x dict": ternary only
    if (!PaperQmoe(label).empty() && !(coded && col == "2-bit"))
      return p.Cell("Table 4", model, PaperQmoe(label), bits, "", 2);
  }
  return "-";
}

int Table4(const Report& rep) {
  auto runs = rep.Select([](const Run& r) {
    std::string row, col;
    return Table4Cell(r, &row, &col) && r.Metric("loss_nats").has_value();
  });
  QMOE_CHECK(!runs.empty(), "qmoe report table4: no finished compress runs of its methods; run: qmoe sweep experiment=table4");
  for (const Group& g : report::GroupRuns(runs, Union(kMethodAxes, kCalibrationAxes), kTimeOnly)) {
    std::map<std::string, std::map<std::string, CellStats>> cells;  // row -> col -> values
    for (const Run* r : g.runs) {
      std::string row, col;
      Table4Cell(*r, &row, &col);
      for (const std::string& c : col == "*" ? std::vector<std::string>{"2-bit", "tern"} : std::vector<std::string>{col})
        cells[row][c].Add(*r, *r->Metric("loss_nats"));
    }
    std::vector<std::string> order;
    for (const auto& [row, c] : cells) order.push_back(row);
    std::stable_sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
      return RowRank(a) != RowRank(b) ? RowRank(a) < RowRank(b) : a < b;
    });
    const std::string model = g.context.count("model.name") ? g.context.at("model.name") : "";
    const std::string pm = rep.paper.ModelFor("Table 4", model, "switch-base-128");
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : order)
      rows.push_back({row, cells[row]["2-bit"].Format(3), cells[row]["tern"].Format(3),
                      PaperTable4(rep.paper, pm, row, "2-bit"), PaperTable4(rep.paper, pm, row, "tern")});
    rep.Title("Table 4: validation loss (nats, span corruption, lower is better)", g);
    PrintTable(rep.out, {"method", "2-bit", "tern", "paper 2-bit", "paper tern"}, rows);
    rep.out << "paper: " << pm << ", C4 validation\n";
    rep.Notes(g, true);
  }
  return 0;
}

// Table 2's column of a run: BF16 (both masking rows), 2-bit or ternary QMoE.
std::string Table2Col(const Run& r) {
  if (r.method == "bf16") return "BF16";
  if (r.method == "gptq" && r.Param("method.grid") == "minmax" && r.Param("method.bits") == "2") return "2-bit";
  if (r.method == "gptq" && r.Param("method.grid") == "ternary") return "ternary";
  return "";
}

int Table2(const Report& rep) {
  auto runs = rep.Select([](const Run& r) { return !Table2Col(r).empty() && r.Metric("loss_nats").has_value(); });
  QMOE_CHECK(!runs.empty(), "qmoe report table2: no finished BF16/GPTQ compress runs; run: qmoe sweep experiment=table2");
  std::vector<std::string> partial;
  for (const Group& g : report::GroupRuns(runs, Union(kMethodAxes, {"data.mask_special"}), kTimeOnly)) {
    std::map<std::string, std::map<std::string, CellStats>> cells;  // masking -> col
    for (const Run* r : g.runs) {
      const std::string col = Table2Col(*r);
      if (col == "BF16") {
        for (const char* m : {"no", "yes"}) cells[m][col].Add(*r, *r->Metric("loss_nats"));
      } else {
        cells[r->Param("data.mask_special") == "false" ? "no" : "yes"][col].Add(*r, *r->Metric("loss_nats"));
      }
    }
    auto quantized = [&](const char* m) { return !cells[m]["2-bit"].Empty() || !cells[m]["ternary"].Empty(); };
    if (!quantized("no") || !quantized("yes")) {
      partial.push_back(g.heading.empty() ? "(no differing keys)" : g.heading);
      continue;
    }
    const Paper& p = rep.paper;
    std::vector<std::vector<std::string>> rows;
    for (const char* m : {"no", "yes"}) {
      const std::string setting = std::string(m) == "no" ? "no mask" : "mask";
      rows.push_back({m, cells[m]["BF16"].Format(3), cells[m]["2-bit"].Format(3), cells[m]["ternary"].Format(3),
                      p.Cell("Table 2", "switch-base-128", "bf16", 16, setting, 2),
                      p.Cell("Table 2", "switch-base-128", "qmoe-1x", 2, setting, 2),
                      p.Cell("Table 2", "switch-base-128", "qmoe-1x", 1.5, setting, 2)});
    }
    rep.Title("Table 2: special-token masking (validation loss, nats)", g);
    PrintTable(rep.out, {"masking", "BF16", "2-bit", "ternary", "paper BF16", "paper 2-bit", "paper tern"}, rows);
    rep.out << "paper: switch-base-128, C4 validation\n";
    rep.Notes(g, true);
  }
  rep.Incomplete(partial, "have runs at one masking setting only");
  return 0;
}

int Table1(const Report& rep) {
  auto runs = rep.Select([](const Run& r) {
    return UsesCalibration(r) && !r.encoder_layer_seconds.empty() && !r.Param("experiment.group_experts").empty();
  });
  QMOE_CHECK(!runs.empty(), "qmoe report table1: no finished compress runs with calibration and per-layer times; run: "
                            "qmoe sweep experiment=table1");
  for (const Group& g : report::GroupRuns(runs, {"experiment.group_experts"})) {
    // The paper's layer: the first sparse encoder block (by block number; encoder.block.1 on
    // every Switch model), the same block in every run of the group.
    int64_t block = -1;
    for (const Run* r : g.runs) {
      const int64_t first = r->encoder_layer_seconds.begin()->first;
      block = block < 0 ? first : std::min(block, first);
    }
    std::map<int64_t, CellStats> cells;  // |E| -> seconds
    for (const Run* r : g.runs)
      if (auto it = r->encoder_layer_seconds.find(block); it != r->encoder_layer_seconds.end())
        cells[std::stoll(r->Param("experiment.group_experts"))].Add(*r, it->second);
    std::vector<std::string> header = {""};
    std::vector<std::string> ours = {"ours (s)"}, speed = {"speed-up"}, paper = {"paper (s)"};
    const double base = cells.begin()->second.Mean();
    for (const auto& [e, c] : cells) {
      header.push_back(StrCat("|E| = ", e));
      ours.push_back(c.Format(2));
      speed.push_back(Fixed(base / c.Mean(), 2) + "x");
      paper.push_back(rep.paper.Cell("Table 1", "switch-base-128", "qmoe-1x", 1.5, StrCat("|E|=", e), 1));
    }
    rep.Title(StrCat("Table 1: compression time of one sparse layer (encoder.block.", block,
                     ", the first sparse encoder block) by experts quantized together"),
              g);
    PrintTable(rep.out, header, {ours, speed, paper});
    rep.out << "paper: switch-base-128, one sparse encoder layer, 10K samples, one A6000 GPU\n";
    rep.Notes(g, false);
  }
  return 0;
}

int Table3(const Report& rep) {
  auto runs = rep.Select([](const Run& r) {
    std::string row, col;
    return Table4Cell(r, &row, &col) && row.rfind("QMoE", 0) == 0 && r.Metric("natural_sparsity").has_value();
  });
  QMOE_CHECK(!runs.empty(), "qmoe report table3: no finished GPTQ compress runs; run: qmoe sweep experiment=table4");
  for (const Group& g : report::GroupRuns(runs, Union(kMethodAxes, kCalibrationAxes), kTimeOnly)) {
    std::map<std::string, std::map<std::string, CellStats>> cells;  // row -> col
    for (const Run* r : g.runs) {
      std::string row, col;
      Table4Cell(*r, &row, &col);
      cells[row][col].Add(*r, 100.0 * *r->Metric("natural_sparsity"));
    }
    const std::string model = g.context.count("model.name") ? g.context.at("model.name") : "";
    const std::string pm = rep.paper.ModelFor("Table 3", model, "switch-base-128");
    std::vector<std::vector<std::string>> rows;
    for (auto& [row, c] : cells)
      rows.push_back({row, c["2-bit"].Format(1), c["tern"].Format(1),
                      rep.paper.Cell("Table 3", pm, "qmoe-1x", 2, "", 1), rep.paper.Cell("Table 3", pm, "qmoe-1x", 1.5, "", 1)});
    rep.Title("Table 3: natural sparsity (% exact zeros over all expert matrices)", g);
    PrintTable(rep.out, {"method", "2-bit %", "tern %", "paper 2-bit %", "paper tern %"}, rows);
    rep.out << "paper: " << pm << ", QMoE 1x\n";
    rep.Notes(g, false);
  }
  return 0;
}

int Table5(const Report& rep) {
  auto runs = rep.Select([](const Run& r) { return !Table2Col(r).empty() && !r.domain_loss.empty(); });
  QMOE_CHECK(!runs.empty(), "qmoe report table5: no finished BF16/GPTQ compress runs with per-domain losses; run: "
                            "qmoe sweep experiment=table5");
  std::vector<std::string> partial;
  for (const Group& g : report::GroupRuns(runs, kMethodAxes, kTimeOnly)) {
    std::map<std::string, std::map<std::string, CellStats>> cells;  // domain -> col
    std::set<std::string> cols;
    for (const Run* r : g.runs) {
      const std::string col = Table2Col(*r);
      cols.insert(col);
      for (const auto& [d, v] : r->domain_loss) cells[d][col].Add(*r, v);
      if (auto all = r->Metric("loss_nats")) cells["(all)"][col].Add(*r, *all);
    }
    if (!cols.count("BF16") || cols.size() < 2) {
      partial.push_back(g.heading.empty() ? "(no differing keys)" : g.heading);
      continue;
    }
    std::vector<std::vector<std::string>> rows;
    for (auto& [d, c] : cells)
      if (d != "(all)") rows.push_back({d, c["BF16"].Format(3), c["2-bit"].Format(3), c["ternary"].Format(3)});
    auto& all = cells["(all)"];
    rows.push_back({"(all)", all["BF16"].Format(3), all["2-bit"].Format(3), all["ternary"].Format(3)});
    for (const char* d : {"arxiv", "github", "stackexchange", "wiki"})
      rows.push_back({StrCat("paper ", d), rep.paper.Cell("Table 5", "switch-c-2048", "bf16", 16, d, 2),
                      rep.paper.Cell("Table 5", "switch-c-2048", "qmoe-1x", 2, d, 2),
                      rep.paper.Cell("Table 5", "switch-c-2048", "qmoe-1x", 1.5, d, 2)});
    rep.Title("Table 5: validation loss per domain (nats; our validation domains in place of RedPajama's)", g);
    PrintTable(rep.out, {"domain", "BF16", "2-bit", "ternary"}, rows);
    rep.out << "paper: switch-c-2048 on RedPajama domains (data.validation_domains names ours)\n";
    rep.Notes(g, true);
  }
  rep.Incomplete(partial, "lack BF16 or a quantized run");
  return 0;
}

int Table7(const Report& rep) {
  auto runs = rep.Select([](const Run& r) { return UsesCalibration(r) && r.Metric("compress_seconds").has_value(); });
  QMOE_CHECK(!runs.empty(), "qmoe report table7: no finished compress runs with calibration; run: qmoe sweep "
                            "experiment=table4");
  for (const Group& g : report::GroupRuns(runs, kCalibrationAxes)) {
    std::map<std::string, CellStats> secs, used;
    std::map<std::string, double> order;
    for (const Run* r : g.runs) {
      const std::string label = CalibrationLabel(*r);
      secs[label].Add(*r, *r->Metric("compress_seconds"));
      used[label].Add(*r, double(r->CalibrationUsed()));
      order[label] = double(r->CalibrationRequested());
    }
    std::vector<std::string> labels;
    for (const auto& [l, n] : order) labels.push_back(l);
    std::sort(labels.begin(), labels.end(), [&](const std::string& a, const std::string& b) { return order[a] < order[b]; });
    const std::string model = g.context.count("model.name") ? g.context.at("model.name") : "";
    const std::string pm = rep.paper.ModelFor("Table 7", model, "switch-base-128");
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : labels) {
      const std::string pk = PaperQmoe(l);
      rows.push_back({l, Fixed(used[l].Mean(), 0) + (used[l].capped ? "*" : ""), secs[l].Format(1),
                      pk.empty() ? "-" : rep.paper.Cell("Table 7", pm, pk, 1.5, "", 1)});
    }
    rep.Title("Table 7: compression wall time against calibration size (the runs' own compress_seconds)", g);
    PrintTable(rep.out, {"calibration", "samples used", "ours (s)", "paper (min)"}, rows);
    rep.out << "paper: " << pm << ", ternary QMoE, one A6000 GPU\n";
    rep.Notes(g, false);
  }
  return 0;
}

// Table 6's row of a run: the dictionary or rANS code over its ternary quantizer ("QMoE n=64 dict",
// "RTN rans"); "" for other methods or runs without the bits metrics.
std::string Table6Row(const Run& r) {
  std::string row, col;
  if ((r.method != "dict" && r.method != "rans") || !Table4Cell(r, &row, &col)) return "";
  if (!r.Metric("bits_per_param_experts") || !r.Metric("bits_per_param") || !r.Metric("compressed_gb")) return "";
  return row;
}

// The paper's Table 6 rows: bits per parameter are 16 / the published compression rate.
std::vector<std::vector<std::string>> PaperTable6(const Paper& p) {
  std::vector<std::vector<std::string>> rows;
  auto cell = [&](const std::string& m, const std::string& method, double bits, const std::string& metric) {
    for (const auto& r : p.rows)
      if (r.table_name == "Table 6" && r.model == m && r.method == method && r.bits == bits && r.metric == metric)
        return std::optional<double>(r.value);
    return std::optional<double>();
  };
  for (const char* m : {"switch-base-128", "switch-large-128", "switch-c-2048"}) {
    const auto moe = cell(m, "qmoe-dict", 1.5, "moe_only_rate"), full = cell(m, "qmoe-dict", 1.5, "full_rate");
    const auto bf16 = cell(m, "bf16", 16, "size_gb"), gb = cell(m, "qmoe-dict", 1.5, "size_gb");
    auto fmt = [](const std::optional<double>& v, int digits) { return v ? Fixed(*v, digits) : std::string("-"); };
    rows.push_back({"paper QMoE dict", m, moe ? Fixed(16.0 / *moe, 3) : "-", fmt(moe, 2),
                    full ? Fixed(16.0 / *full, 3) : "-", fmt(full, 2), fmt(gb, 2), fmt(bf16, 1), "-", "-"});
  }
  return rows;
}

const std::vector<std::string> kTable6Header = {"method",     "model",      "experts bits", "experts rate",
                                                "whole bits", "whole rate", "GB",           "bf16 GB",
                                                "disk GB",    "peak RSS GiB"};

// Table 6 from the runs' own accounting: experts at their exact storage, the rest of the model at
// bf16 (bits_per_param, compressed_gb), the rate 16 / bits, the bf16 size 16 / bits_per_param times
// compressed_gb (the same parameter count), the saved directory's bytes and the process's peak RSS.
int Table6(const Report& rep) {
  auto runs = rep.Select([](const Run& r) { return !Table6Row(r).empty(); });
  if (runs.empty()) {
    rep.out << "\nTable 6: compression rates and sizes (rate = 16 / bits per parameter; GB = 1e9 bytes)\n";
    rep.out << "no finished compress runs with method=dict or method=rans yet; e.g. qmoe synth model=switch-base-128 "
            << "out=DIR, then qmoe run experiment=compress model=switch-base-128 model.path=DIR method=dict\n";
    PrintTable(rep.out, kTable6Header, PaperTable6(rep.paper));
    return 0;
  }
  for (const Group& g : report::GroupRuns(runs, Union(kMethodAxes, kCalibrationAxes), kTimeOnly)) {
    struct Cells {
      CellStats experts, experts_rate, whole, whole_rate, gb, bf16_gb, disk_gb, rss_gib;
    };
    std::map<std::string, Cells> cells;  // row -> cells
    for (const Run* r : g.runs) {
      Cells& c = cells[Table6Row(*r)];
      const double experts = *r->Metric("bits_per_param_experts"), whole = *r->Metric("bits_per_param");
      const double gb = *r->Metric("compressed_gb");
      c.experts.Add(*r, experts);
      c.experts_rate.Add(*r, 16.0 / experts);
      c.whole.Add(*r, whole);
      c.whole_rate.Add(*r, 16.0 / whole);
      c.gb.Add(*r, gb);
      c.bf16_gb.Add(*r, gb * 16.0 / whole);
      if (auto d = r->Metric("compressed_disk_bytes")) c.disk_gb.Add(*r, *d / 1e9);
      if (auto m = r->Metric("peak_rss_mib")) c.rss_gib.Add(*r, *m / 1024.0);
    }
    const std::string model = g.context.count("model.name") ? g.context.at("model.name") : "";
    const bool synthetic = g.context.count("model.synthetic") && g.context.at("model.synthetic") == "true";
    const std::string label = model + (synthetic ? " (synthetic)" : "");
    std::vector<std::vector<std::string>> rows;
    for (auto& [row, c] : cells)
      rows.push_back({row, label, c.experts.Format(3), c.experts_rate.Format(2), c.whole.Format(3),
                      c.whole_rate.Format(2), c.gb.Format(2), c.bf16_gb.Format(1), c.disk_gb.Format(2),
                      c.rss_gib.Format(2)});
    for (auto& r : PaperTable6(rep.paper)) rows.push_back(std::move(r));
    rep.Title("Table 6: compression rates and sizes (rate = 16 / bits per parameter; GB = 1e9 bytes)", g);
    PrintTable(rep.out, kTable6Header, rows);
    rep.out << "paper: ternary QMoE + dictionary code on the trained checkpoints; ours: ternary experts in the "
               "dictionary or rANS code, the rest in bf16\n";
    if (synthetic)
      rep.out << "(synthetic): a checkpoint written by qmoe synth with the model's true shapes and calibrated weight "
                 "statistics; its rates are not a trained model's\n";
    rep.Notes(g, false);
  }
  return 0;
}

}  // namespace

int RunReportCommand(const std::vector<std::string>& args, const std::string& db_path, std::ostream& out) {
  if (!args.empty() && args[0] == "cost") return RunCostReport({args.begin() + 1, args.end()}, db_path, out);
  const std::vector<std::string> tables = {"table1", "table2", "table3", "table4", "table5", "table6", "table7"};
  std::vector<std::string> rest;
  const report::Filters filters = report::ParseWhere(args, &rest);
  QMOE_CHECK(rest.size() == 1, "qmoe report: expected one of ", Join(tables, ", "),
             ", cost, and optional --where key=value filters");
  const std::string& t = rest[0];
  QMOE_CHECK(std::find(tables.begin(), tables.end(), t) != tables.end(), "qmoe report: unknown table '", t, "'",
             DidYouMean(t, tables), "; tables: ", Join(tables, ", "));
  ResultsDb db(db_path);
  int stale = 0;
  std::vector<Run> runs = report::ApplyFilters(report::LoadCompressRuns(db, &stale), filters);
  Report rep{std::move(runs), LoadPaper(db), out};
  const std::map<std::string, std::function<int(const Report&)>> print = {
      {"table1", Table1}, {"table2", Table2}, {"table3", Table3}, {"table4", Table4},
      {"table5", Table5}, {"table6", Table6}, {"table7", Table7}};
  const int rc = print.at(t)(rep);
  if (stale > 0)
    out << "\n(" << stale << " run" << (stale > 1 ? "s" : "") << " with seed != 0 recorded before seeds drew the "
        << "calibration data left out: they repeat seed 0's work)\n";
  return rc;
}

}  // namespace qmoe
