#include "experiments/cli/report_cost.h"


#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>

#include "experiments/cost/cost_model.h"
#include "experiments/runner.h"
#include "framework/core/error.h"
#include "framework/core/strings.h"
#include "framework/data/samples.h"
#include "framework/results/result_set.h"
#include "framework/results/results_db.h"
#include "framework/results/sqlite_util.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

using Rows = std::vector<std::vector<std::string>>;

Rows Query(ResultsDb& db, const std::string& sql, const std::vector<std::string>& binds = {}) {
  SqlStmt st(db.handle(), sql, db.path());
  for (size_t i = 0; i < binds.size(); ++i) st.Bind(static_cast<int>(i + 1), binds[i]);
  Rows rows;
  while (st.Step("qmoe report cost")) {
    std::vector<std::string> r;
    for (int c = 0; c < st.Columns(); ++c) r.push_back(st.IsNull(c) ? "" : st.Text(c));
    rows.push_back(std::move(r));
  }
  return rows;
}

// Run-level metrics of a run, and per-shape metrics (matrix label) of a cost run.
std::map<std::string, double> RunMetrics(ResultsDb& db, const std::string& id) {
  std::map<std::string, double> m;
  for (const auto& r : Query(db, "SELECT name, value FROM metrics WHERE run_id = ?1 AND layer = '' AND expert = -1 "
                                 "AND matrix = '' AND domain = ''", {id}))
    m[r[0]] = std::stod(r[1]);
  return m;
}

std::map<std::string, std::string> RunParams(ResultsDb& db, const std::string& id) {
  std::map<std::string, std::string> p;
  for (const auto& r : Query(db, "SELECT key, value FROM run_params WHERE run_id = ?1", {id})) p[r[0]] = r[1];
  return p;
}

// Done runs of `experiment` whose run_params match every KEY=VALUE of `where`, oldest first.
std::vector<std::string> DoneRuns(ResultsDb& db, const std::string& experiment, const std::vector<std::string>& where) {
  std::string sql = "SELECT r.id FROM runs r WHERE r.experiment = ?1 AND r.status = 'done'";
  std::vector<std::string> binds = {experiment};
  for (const auto& w : where) {
    const auto eq = w.find('=');
    QMOE_CHECK(eq != std::string::npos && eq > 0, "qmoe report cost: --where expects KEY=VALUE, got '", w, "'");
    sql += StrCat(" AND EXISTS (SELECT 1 FROM run_params p WHERE p.run_id = r.id AND p.key = ?", binds.size() + 1,
                  " AND p.value = ?", binds.size() + 2, ")");
    binds.push_back(w.substr(0, eq));
    binds.push_back(w.substr(eq + 1));
  }
  std::vector<std::string> ids;
  for (const auto& r : Query(db, sql + " ORDER BY r.id", binds)) ids.push_back(r[0]);
  return ids;
}

// A configs/model entry, with `overrides` (run_params "model.KEY" -> value) applied.
SwitchConfig LoadModel(const std::string& name, const std::map<std::string, std::string>& run_params = {}) {
  std::vector<std::string> ov = {"model=" + name};
  for (const auto& [k, v] : run_params)
    if (k.rfind("model.", 0) == 0 && k != "model.path" && k != "model.name" && k != "model.synthetic")
      ov.push_back(k + "=" + v);
  const ComposedConfig composed = ComposeConfig(DefaultConfigDir(), ov);
  return FromParamMap<SwitchConfig>(ValidateConfig(composed, BuildSchema(composed)).at("model"));
}

struct CostRun {
  std::string id, method;  // method: "name" or "name/quantizer" (e.g. dict/rtn)
  std::map<std::string, double> run;
  std::map<std::string, std::map<std::string, double>> shape;  // "DxF:dtype" -> metric -> value
  cost::IoRates io;
};

// "dict/rtn" from a run's method.name and method.quantizer (just the name for methods without one).
std::string MethodLabel(const std::map<std::string, std::string>& run_params) {
  const auto name = run_params.find("method.name"), q = run_params.find("method.quantizer");
  if (name == run_params.end()) return "?";
  return q == run_params.end() ? name->second : name->second + "/" + q->second;
}

CostRun LoadCostRun(ResultsDb& db, const std::string& id) {
  CostRun cr;
  cr.id = id;
  cr.run = RunMetrics(db, id);
  for (const auto& r : Query(db, "SELECT matrix, name, value FROM metrics WHERE run_id = ?1 AND matrix != ''", {id}))
    cr.shape[r[0]][r[1]] = std::stod(r[2]);
  cr.method = MethodLabel(RunParams(db, id));
  for (const char* k : {"read_bytes_per_second", "write_bytes_per_second", "hot_load_bytes_per_second", "base_rss_mib",
                        "encoder_tokens_per_sample", "decoder_tokens_per_sample"})
    QMOE_CHECK(cr.run.count(k), "cost run ", id, " in ", db.path(), " lacks the metric ", k);
  cr.io = {cr.run.at("read_bytes_per_second"), cr.run.at("write_bytes_per_second"), cr.run.at("base_rss_mib") * 1048576.0,
           cr.run.at("hot_load_bytes_per_second")};
  return cr;
}

// Rates of `c`'s shape: measured, or scaled by FLOPs from the measured shape of the same dtype with
// the most expert parameters (any dtype if none), marked extrapolated.
cost::ShapeRates RatesFor(const CostRun& cr, const SwitchConfig& c, double* bits, std::string* from) {
  const std::string key = StrCat(c.d_model, "x", c.d_ff, ":", c.dtype);
  auto it = cr.shape.find(key);
  cost::ShapeRates r;
  if (it == cr.shape.end()) {
    double best = -1;
    for (auto j = cr.shape.begin(); j != cr.shape.end(); ++j) {
      const auto& k = j->first;
      const auto x = k.find('x'), colon = k.find(':');
      const double size = std::stod(k.substr(0, x)) * std::stod(k.substr(x + 1, colon - x - 1)) +
                          (k.substr(colon + 1) == c.dtype ? 1e15 : 0);
      if (size > best) best = size, it = j;
    }
    r.extrapolated = true;
  }
  QMOE_CHECK(it != cr.shape.end(), "cost run ", cr.id, " measured no expert shape");
  *from = it->first;
  const auto& m = it->second;
  const auto x = it->first.find('x'), colon = it->first.find(':');
  const int64_t d0 = std::stoll(it->first.substr(0, x)), f0 = std::stoll(it->first.substr(x + 1, colon - x - 1));
  const double gptq_scale = cost::GptqFlopsPerExpert(c.d_model, c.d_ff) / cost::GptqFlopsPerExpert(d0, f0);
  const double hess_scale = cost::HessianFlopsPerToken(c.d_model, c.d_ff) / cost::HessianFlopsPerToken(d0, f0);
  const double enc_len = cr.run.at("encoder_tokens_per_sample"), dec_len = cr.run.at("decoder_tokens_per_sample");
  const double enc_scale = cost::BlockFlopsPerToken(c, false, enc_len, dec_len) / m.at("encoder_block_flops_per_token");
  const double dec_scale = cost::BlockFlopsPerToken(c, true, enc_len, dec_len) / m.at("decoder_block_flops_per_token");
  r.gptq_seconds_per_expert = m.at("gptq_seconds_per_expert") * gptq_scale;
  r.hessian_seconds_per_token = m.at("hessian_seconds_per_token") * hess_scale;
  r.encoder_seconds_per_token = m.at("encoder_block_seconds_per_token") * enc_scale;
  r.decoder_seconds_per_token = m.at("decoder_block_seconds_per_token") * dec_scale;
  r.achieved_flops = m.at("gptq_flops_per_expert") / m.at("gptq_seconds_per_expert");
  *bits = m.at("bits_per_expert_param");
  if (m.count("quantize_bytes_per_weight")) {  // per element: no scaling to other shapes
    r.quantize_bytes_per_weight = m.at("quantize_bytes_per_weight");
    r.quantize_bytes_per_hessian_entry = m.at("quantize_bytes_per_hessian_entry");
  }
  return r;
}

std::string Fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

std::string Duration(double s) {
  if (s < 120) return Fixed(s, 1) + " s";
  if (s < 7200) return Fixed(s / 60, 1) + " min";
  if (s < 172800) return Fixed(s / 3600, 1) + " h";
  return Fixed(s / 86400, 1) + " d";
}

std::string Giga(double bytes) { return Fixed(bytes / 1e9, bytes < 1e10 ? 2 : 1); }

// Aligned text through the results library's writer.
void PrintTable(std::ostream& out, const std::vector<std::string>& header, const Rows& rows) {
  ResultSet rs;
  rs.columns = header;
  for (const auto& r : rows) {
    std::vector<Cell> cells;
    for (const auto& v : r) cells.push_back(Cell::Text(v));
    rs.rows.push_back(std::move(cells));
  }
  WriteText(rs, out);
}

double NumberArg(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  QMOE_CHECK(!v.empty() && *end == 0 && x > 0, "qmoe report cost: ", flag, " expects a positive number, got '", v, "'");
  return x;
}

}  // namespace

int RunCostReport(const std::vector<std::string>& args, const std::string& db_path, std::ostream& out) {
  std::vector<std::string> where;
  cost::GpuPeak gpu;
  int64_t samples_override = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      QMOE_CHECK(i + 1 < args.size(), "qmoe report cost: ", a, " needs a value");
      return args[++i];
    };
    if (a == "--where") {
      where.push_back(value());
      while (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) where.push_back(args[++i]);
    } else if (a == "--gpu") gpu.name = value();
    else if (a == "--gpu-tflops") gpu.flops = NumberArg(a, value()) * 1e12;
    else if (a == "--gpu-gbps") gpu.bytes_per_second = NumberArg(a, value()) * 1e9;
    else if (a == "--pcie-gbps") gpu.pcie_bytes_per_second = NumberArg(a, value()) * 1e9;
    else if (a == "--efficiency") gpu.efficiency = std::min(1.0, NumberArg(a, value()));
    else if (a == "--samples") samples_override = std::llround(NumberArg(a, value()));
    else
      throw Error(StrCat("qmoe report cost: unknown argument '", a, "'; expected --where KEY=VALUE, --gpu NAME, "
                         "--gpu-tflops X, --gpu-gbps X, --pcie-gbps X, --efficiency X, --samples N"));
  }

  ResultsDb db(db_path);
  const auto ids = DoneRuns(db, "cost", where);
  QMOE_CHECK(!ids.empty(), "no finished cost run", where.empty() ? "" : " matching --where", " in ", db.path(),
             "; run: qmoe run experiment=cost --db ", db.path());
  const CostRun cr = LoadCostRun(db, ids.back());
  const cost::IoRates& io = cr.io;
  const double le = cr.run.at("encoder_tokens_per_sample"), ld = cr.run.at("decoder_tokens_per_sample");

  // Validation samples of the default data section (the compress experiment's protocol).
  const ComposedConfig dcfg = ComposeConfig(DefaultConfigDir(), {});
  const auto dp = FromParamMap<data::DataParams>(ValidateConfig(dcfg, BuildSchema(dcfg)).at("data"));
  const int64_t n_val = dp.n_validation_per_domain * int64_t(Split(dp.validation_domains, ',').size());

  out << "Cost of compressing each configs/model entry with the sequential pipeline (docs/cost-model.md)\n"
      << "rates: cost run " << cr.id << " (method " << cr.method << ", " << (cr.run.count("threads") ? cr.run.at("threads") : 0) << " threads): read "
      << Fixed(io.read_bytes_per_second / 1e6, 0) << " MB/s, write " << Fixed(io.write_bytes_per_second / 1e6, 0)
      << " MB/s, hot load " << Fixed(io.hot_load_bytes_per_second / 1e6, 0) << " MB/s, " << Fixed(le, 1) << " + " << Fixed(ld, 1) << " tokens per sample, base RSS "
      << Fixed(cr.run.at("base_rss_mib"), 0) << " MiB\n"
      << "GPU: " << gpu.name << ", " << Fixed(gpu.flops / 1e12, 1) << " TFLOP/s, " << Fixed(gpu.bytes_per_second / 1e9, 0)
      << " GB/s, PCIe " << Fixed(gpu.pcie_bytes_per_second / 1e9, 0) << " GB/s, at " << Fixed(gpu.efficiency * 100, 0)
      << " % of peak (compute roofline + buffer over PCIe + this machine's disk)\n"
      << "calibration: " << (samples_override ? StrCat(samples_override, " samples (--samples)")
                                              : std::string("round(78.125 x experts) samples (10K for 128 experts, "
                                                            "160K for 2048, as the paper)"))
      << ", plus " << n_val << " validation samples; checkpoint read as bf16 (2 bytes per parameter)\n\n";

  std::vector<std::pair<int64_t, SwitchConfig>> models;
  for (const auto& e : fs::directory_iterator(fs::path(DefaultConfigDir()) / "model"))
    if (e.path().extension() == ".yaml") {
      SwitchConfig c = LoadModel(e.path().stem().string());
      cost::Workload w;
      w.cfg = c;
      models.emplace_back(cost::Count(w).params, c);
    }
  std::sort(models.begin(), models.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.name < b.second.name;
  });
  Rows rows;
  for (const auto& [n_params, c] : models) {
    cost::Workload w;
    w.cfg = c;
    w.calibration_samples = samples_override ? samples_override : cost::DefaultCalibrationSamples(c);
    w.validation_samples = n_val;
    w.encoder_tokens_per_sample = le;
    w.decoder_tokens_per_sample = ld;
    std::string from;
    const cost::ShapeRates r = RatesFor(cr, c, &w.bits_per_expert_param, &from);
    const cost::Projection p = cost::Project(w, r, io, gpu);
    const auto& n = p.n;
    const double flops = n.gptq_flops + n.hessian_flops + n.forward_flops + n.head_flops;
    rows.push_back({c.name, StrCat(c.d_model, "x", c.d_ff), std::to_string(c.num_experts), Fixed(double(n.params) / 1e9, 3),
                    Fixed(double(n.expert_params) / 1e9, 3), Giga(n.read_bytes), Giga(n.embedding_reload_bytes), std::to_string(w.calibration_samples),
                    Fixed((n.encoder_tokens + n.decoder_tokens) / 1e6, 2), Fixed(flops / 1e12, 1),
                    Duration(p.cpu_seconds), Duration(p.gpu_seconds), Giga(p.peak_ram_bytes), Giga(p.disk_bytes),
                    r.extrapolated ? "scaled from " + from : "measured"});
  }
  PrintTable(out, {"model", "shape", "E", "params (G)", "expert (G)", "read GB", "reload GB", "cal samples", "tokens (M)", "TFLOP",
                   "CPU time", "GPU time", "peak RAM GB", "disk GB", "rates"},
             rows);
  out << "reload: the streaming pipeline's embedding / lm_head reloads, one per sample per stack and per validation "
         "sample's logits, from the page cache\n"
         "tokens: buffer rows of both stacks (calibration + validation); TFLOP: GPTQ + Hessians + forward + LM "
         "head; disk: checkpoint + compressed output\n";

  // Projection vs every finished compress run: same formulas with the run's own shapes, samples,
  // tokens, group size and measured bits, at the rates of the newest cost run of the same method
  // (e.g. dict/rtn quantizes far faster than dict/gptq), else of the one above.
  std::map<std::string, CostRun> by_method;
  for (const auto& id : DoneRuns(db, "cost", where)) {
    CostRun c = LoadCostRun(db, id);
    by_method[c.method] = std::move(c);  // oldest first: the newest stays
  }
  Rows check;
  for (const auto& id : DoneRuns(db, "compress", {})) {
    const auto m = RunMetrics(db, id);
    const auto rp = RunParams(db, id);
    const auto same = by_method.find(MethodLabel(rp));
    const CostRun& rc = same != by_method.end() ? same->second : cr;
    if (!m.count("wall_seconds") || !m.count("peak_rss_mib") || !m.count("calibration_tokens")) continue;
    const auto model = Query(db, "SELECT model FROM runs WHERE id = ?1", {id});
    SwitchConfig c;
    try {
      c = LoadModel(model.at(0).at(0), rp);
    } catch (const Error&) {
      continue;  // a model entry that no longer exists
    }
    cost::Workload w;
    w.cfg = c;
    w.calibration_samples = std::llround(m.count("calibration_samples") ? m.at("calibration_samples") : 0);
    w.validation_samples = std::llround(m.count("validation_samples") ? m.at("validation_samples") : 0);
    const double samples = double(w.calibration_samples + w.validation_samples);
    if (samples <= 0) continue;
    w.encoder_tokens_per_sample = (m.at("calibration_tokens") + m.at("validation_tokens")) / samples;
    w.decoder_tokens_per_sample = w.encoder_tokens_per_sample * ld / le;
    w.group_experts = rp.count("experiment.group_experts") ? std::stoll(rp.at("experiment.group_experts")) : 16;
    // Methods without a Hessian (RTN-based dict / rans, rtn, ternary) ask for no calibration.
    w.uses_hessian = !m.count("calibration_samples_requested") || m.at("calibration_samples_requested") > 0;
    std::string from;
    double bits = 0;
    const cost::ShapeRates r = RatesFor(rc, c, &bits, &from);
    w.bits_per_expert_param = m.count("bits_per_param_experts") ? m.at("bits_per_param_experts") : bits;
    cost::Projection p = cost::Project(w, r, rc.io, gpu);
    if (!rp.count("experiment.save") || rp.at("experiment.save").empty()) p.cpu_seconds -= p.write_s;
    const double wall = m.at("wall_seconds"), rss = m.at("peak_rss_mib") * 1048576.0;
    check.push_back({id, c.name, StrCat(c.num_layers, "+", c.num_decoder_layers), std::to_string(w.calibration_samples),
                     Fixed(p.cpu_seconds, 1), Fixed(wall, 1), Fixed(p.cpu_seconds / wall, 2),
                     Fixed(p.peak_ram_bytes / 1073741824.0, 2), Fixed(rss / 1073741824.0, 2),
                     Fixed(p.peak_ram_bytes / rss, 2),
                     StrCat(rc.id, " (", rc.method, r.extrapolated ? ", scaled" : "",
                            same == by_method.end() ? ", another method" : "", ")")});
  }
  if (!check.empty()) {
    out << "\nProjection vs measured compress runs (ratio = projected / measured; target within 0.75-1.25)\n";
    PrintTable(out, {"run", "model", "blocks", "cal samples", "proj s", "wall s", "ratio", "proj GiB", "RSS GiB",
                     "ratio", "cost run"},
               check);
  }
  return 0;
}

}  // namespace qmoe
