#include "experiments/cli/report.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "experiments/cli/report_cost.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/results/paper_reference.h"
#include "framework/results/results_db.h"

namespace qmoe {
namespace {

using Row = std::map<std::string, std::string>;

// Every done compress run with its params and one run-level metric.
std::vector<Row> CompressRuns(ResultsDb& db, const std::string& metric) {
  const char* sql = R"(
    SELECT r.id, r.model, r.method, m.value,
      (SELECT value FROM run_params WHERE run_id = r.id AND key = 'method.grid'),
      (SELECT value FROM run_params WHERE run_id = r.id AND key = 'method.bits'),
      (SELECT value FROM run_params WHERE run_id = r.id AND key = 'experiment.calibration_mul'),
      (SELECT value FROM run_params WHERE run_id = r.id AND key = 'data.mask_special'),
      (SELECT value FROM run_params WHERE run_id = r.id AND key = 'experiment.group_experts'),
      (SELECT value FROM run_params WHERE run_id = r.id AND key = 'method.quantizer')
    FROM runs r JOIN metrics m ON m.run_id = r.id
    WHERE r.experiment = 'compress' AND r.status = 'done' AND m.name = ?1
      AND m.layer = '' AND m.expert = -1 AND m.matrix = '' AND m.domain = ''
    ORDER BY r.id)";
  sqlite3_stmt* st = nullptr;
  QMOE_CHECK(sqlite3_prepare_v2(db.handle(), sql, -1, &st, nullptr) == SQLITE_OK, db.path(), ": ",
             sqlite3_errmsg(db.handle()));
  sqlite3_bind_text(st, 1, metric.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<Row> rows;
  const char* names[] = {"id", "model", "method", "value", "grid", "bits", "mul", "mask", "group", "quantizer"};
  while (sqlite3_step(st) == SQLITE_ROW) {
    Row r;
    for (int c = 0; c < 10; ++c) {
      auto* t = sqlite3_column_text(st, c);
      r[names[c]] = t ? reinterpret_cast<const char*>(t) : "";
    }
    rows.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  return rows;
}

// Per-layer values of one metric for one run, averaged over experts and matrices.
std::vector<double> LayerValues(ResultsDb& db, const std::string& run_id, const std::string& metric) {
  std::string sql = "SELECT avg(value) FROM metrics WHERE run_id = " + run_id + " AND name = '" + metric +
                    "' AND layer != '' GROUP BY layer ORDER BY layer";
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &st, nullptr);
  std::vector<double> v;
  while (sqlite3_step(st) == SQLITE_ROW) v.push_back(sqlite3_column_double(st, 0));
  sqlite3_finalize(st);
  return v;
}

// The paper's cells of one table and model, from reference_results: "method bits setting: value".
std::string PaperLine(ResultsDb& db, const std::string& table, const std::string& model) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db.handle(),
                     "SELECT method, bits, setting, value FROM reference_results WHERE table_name = ?1 AND model = ?2 "
                     "ORDER BY id",
                     -1, &st, nullptr);
  sqlite3_bind_text(st, 1, table.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, model.c_str(), -1, SQLITE_TRANSIENT);
  std::ostringstream os;
  os << "paper (" << model << "):";
  while (sqlite3_step(st) == SQLITE_ROW) {
    const double bits = sqlite3_column_double(st, 1);
    os << "  " << reinterpret_cast<const char*>(sqlite3_column_text(st, 0))
       << (bits == 16 ? "" : bits == 2 ? " 2-bit" : " tern");
    const std::string setting = reinterpret_cast<const char*>(sqlite3_column_text(st, 2));
    if (!setting.empty()) os << " " << setting;
    os << " " << sqlite3_column_double(st, 3);
  }
  sqlite3_finalize(st);
  return os.str() + "\n";
}

double ToD(const std::string& s) { return s.empty() ? NAN : std::stod(s); }

// Mean of the values in a cell; "-" when empty; "±std" when several seeds.
std::string Cell(const std::vector<double>& v, int digits) {
  if (v.empty()) return "-";
  double m = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << m;
  if (v.size() > 1) {
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    os << "±" << std::setprecision(digits) << std::sqrt(s / double(v.size() - 1));
  }
  return os.str();
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    w[c] = header[c].size();
    for (const auto& r : rows) w[c] = std::max(w[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t c = 0; c < r.size(); ++c) out << (c ? "  " : "") << std::setw(int(w[c])) << std::left << r[c];
    out << "\n";
  };
  line(header);
  std::vector<std::string> dash;
  for (size_t c = 0; c < header.size(); ++c) dash.push_back(std::string(w[c], '-'));
  line(dash);
  for (const auto& r : rows) line(r);
}

// The Table 4 row of a run: BF16, RTN or "QMoE <mul>x"; and its column: 2-bit or tern.
bool Table4Cell(const Row& r, std::string* row, std::string* col) {
  if (r.at("method") == "bf16") { *row = "BF16"; *col = "*"; return true; }
  if (r.at("method") == "rtn" && r.at("bits") == "2") { *row = "RTN"; *col = "2-bit"; return true; }
  if (r.at("method") == "ternary") { *row = "RTN"; *col = "tern"; return true; }
  if (r.at("method") == "gptq") {
    std::ostringstream m;
    m << "QMoE " << std::fixed << std::setprecision(1) << ToD(r.at("mul")) << "x";
    *row = m.str();
    if (r.at("grid") == "ternary") { *col = "tern"; return true; }
    if (r.at("grid") == "minmax" && r.at("bits") == "2") { *col = "2-bit"; return true; }
  }
  return false;
}

int Table4(ResultsDb& db, std::ostream& out) {
  auto runs = CompressRuns(db, "loss_nats");
  std::set<std::string> models;
  std::map<std::string, std::map<std::string, std::vector<double>>> cells;  // row -> model/col -> values
  std::vector<std::string> row_order = {"BF16", "RTN", "QMoE 0.5x", "QMoE 1.0x", "QMoE 2.0x"};
  for (const auto& r : runs) {
    std::string row, col;
    if (!Table4Cell(r, &row, &col)) continue;
    models.insert(r.at("model"));
    for (const std::string& c : col == "*" ? std::vector<std::string>{"2-bit", "tern"} : std::vector<std::string>{col})
      cells[row][r.at("model") + " " + c].push_back(ToD(r.at("value")));
    if (std::find(row_order.begin(), row_order.end(), row) == row_order.end()) row_order.push_back(row);
  }
  QMOE_CHECK(!models.empty(), "no finished compress runs in ", db.path(), "; run: qmoe sweep experiment=table4");
  std::vector<std::string> header = {"method"};
  for (const auto& m : models) header.insert(header.end(), {m + " 2-bit", m + " tern"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& rname : row_order) {
    if (!cells.count(rname)) continue;
    std::vector<std::string> row = {rname};
    for (const auto& m : models)
      for (const char* c : {"2-bit", "tern"}) row.push_back(Cell(cells[rname][m + " " + c], 3));
    rows.push_back(row);
  }
  out << "Table 4: validation loss (nats, span corruption, lower is better)\n";
  PrintTable(out, header, rows);
  out << PaperLine(db, "Table 4", "switch-base-128");
  return 0;
}

int Table2(ResultsDb& db, std::ostream& out) {
  auto runs = CompressRuns(db, "loss_nats");
  std::map<std::string, std::map<std::string, std::vector<double>>> cells;  // mask -> col
  for (const auto& r : runs) {
    std::string col;
    if (r.at("method") == "bf16") col = "BF16";
    else if (r.at("method") == "gptq" && r.at("grid") == "minmax" && r.at("bits") == "2") col = "2-bit";
    else if (r.at("method") == "gptq" && r.at("grid") == "ternary") col = "ternary";
    else continue;
    if (ToD(r.at("mul")) != 1.0) continue;
    if (col == "BF16") {
      for (const char* m : {"no", "yes"}) cells[m][col].push_back(ToD(r.at("value")));
    } else {
      cells[r.at("mask") == "false" ? "no" : "yes"][col].push_back(ToD(r.at("value")));
    }
  }
  QMOE_CHECK(!cells.empty(), "no finished compress runs in ", db.path(), "; run: qmoe sweep experiment=table2");
  std::vector<std::vector<std::string>> rows;
  for (const char* m : {"no", "yes"})
    rows.push_back({m, Cell(cells[m]["BF16"], 3), Cell(cells[m]["2-bit"], 3), Cell(cells[m]["ternary"], 3)});
  out << "Table 2: special-token masking (validation loss, nats)\n";
  PrintTable(out, {"masking", "BF16", "2-bit", "ternary"}, rows);
  out << PaperLine(db, "Table 2", "switch-base-128");
  return 0;
}

int Table1(ResultsDb& db, std::ostream& out) {
  auto runs = CompressRuns(db, "compress_seconds");
  std::map<int64_t, std::vector<double>> first_layer;  // |E| -> seconds of the first MoE layer
  for (const auto& r : runs) {
    if (r.at("method") != "gptq" || r.at("group").empty()) continue;
    auto v = LayerValues(db, r.at("id"), "layer_compress_seconds");
    if (!v.empty()) first_layer[std::stoll(r.at("group"))].push_back(v.front());
  }
  QMOE_CHECK(!first_layer.empty(), "no finished gptq compress runs in ", db.path(), "; run: qmoe sweep experiment=table1");
  std::vector<std::string> header, row, speed;
  double base = NAN;
  for (const auto& [g, v] : first_layer) {
    double mean = 0;
    for (double x : v) mean += x;
    mean /= double(v.size());
    if (std::isnan(base)) base = mean;
    header.push_back(StrCat("|E| = ", g));
    row.push_back(Cell(v, 2) + " s");
    std::ostringstream os;
    os << std::fixed << std::setprecision(2) << base / mean << "x";
    speed.push_back(os.str());
  }
  out << "Table 1: compression time of the first sparse layer\n";
  PrintTable(out, header, {row, speed});
  out << PaperLine(db, "Table 1", "switch-base-128") << "(paper: one A6000 GPU)\n";
  return 0;
}

int Table3(ResultsDb& db, std::ostream& out) {
  auto runs = CompressRuns(db, "natural_sparsity");
  std::map<std::string, std::map<std::string, std::vector<double>>> cells;  // model -> col -> per-layer means
  for (const auto& r : runs) {
    std::string row, col;
    if (!Table4Cell(r, &row, &col) || row.rfind("QMoE", 0) != 0) continue;
    for (double v : LayerValues(db, r.at("id"), "natural_sparsity")) cells[r.at("model")][col].push_back(100.0 * v);
  }
  QMOE_CHECK(!cells.empty(), "no finished gptq compress runs in ", db.path(), "; run: qmoe sweep experiment=table4");
  std::vector<std::vector<std::string>> rows;
  for (auto& [m, c] : cells) rows.push_back({m, Cell(c["2-bit"], 1) + " %", Cell(c["tern"], 1) + " %"});
  out << "Table 3: natural sparsity (mean ± std over layers and runs)\n";
  PrintTable(out, {"model", "2-bit", "ternary"}, rows);
  for (const char* m : {"switch-base-128", "switch-large-128", "switch-c-2048"}) out << PaperLine(db, "Table 3", m);
  return 0;
}

}  // namespace

int RunReportCommand(const std::vector<std::string>& args, const std::string& db_path, std::ostream& out) {
  if (!args.empty() && args[0] == "cost") return RunCostReport({args.begin() + 1, args.end()}, db_path, out);
  const std::vector<std::string> tables = {"table1", "table2", "table3", "table4", "cost"};
  QMOE_CHECK(args.size() == 1, "qmoe report: expected one of ", Join(tables, ", "));
  ResultsDb db(db_path);
  LoadPaperReference(db);  // idempotent: the paper's cells sit beside ours
  if (args[0] == "table1") return Table1(db, out);
  if (args[0] == "table2") return Table2(db, out);
  if (args[0] == "table3") return Table3(db, out);
  if (args[0] == "table4") return Table4(db, out);
  throw Error(StrCat("qmoe report: unknown table '", args[0], "'", DidYouMean(args[0], tables), "; tables: ",
                     Join(tables, ", ")));
}

}  // namespace qmoe
