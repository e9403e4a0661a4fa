#include "experiments/launcher/sweep_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/core/error.h"
#include "framework/core/strings.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace qmoe {

std::string SweepFolder::ShardPath(int index, const std::string& job) const {
  return StrCat(ShardDir(), "/", index, ".", job, ".db");
}

std::string SweepFolder::LostShardPath(int index, const std::string& job) const {
  return StrCat(ShardDir(), "/", index, ".", job, ".lost.db");
}

const SweepPoint& SweepFolder::Point(int index) const {
  QMOE_CHECK(index >= 0 && index < static_cast<int>(points.size()), "sweep '", dir, "' has points 0..",
             points.size() - 1, "; there is no point ", index);
  return points[index];
}

void WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    f.close();
    QMOE_CHECK(f.good(), "cannot write '", tmp, "'");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  QMOE_CHECK(!ec, "cannot write '", path, "': ", ec.message());
}

SweepFolder SweepFolder::Load(const std::string& dir_in) {
  SweepFolder f;
  f.dir = fs::absolute(dir_in).lexically_normal().string();
  if (!f.dir.empty() && f.dir.back() == '/') f.dir.pop_back();
  f.id = fs::path(f.dir).filename().string();
  const std::string file = f.dir + "/sweep.json";
  std::ifstream in(file);
  QMOE_CHECK(in.good(), "'", f.dir, "' is not a cluster sweep folder: '", file, "' is missing");
  try {
    json j = json::parse(in);
    f.cwd = j.at("cwd").get<std::string>();
    f.config_dir = j.at("config_dir").get<std::string>();
    f.db = j.at("db").get<std::string>();
    f.qmoe = j.at("qmoe").get<std::string>();
    f.gpu = j.value("gpu", false);
    f.array_parallelism = j.value("array_parallelism", int64_t{0});
    f.finish_job = j.value("finish_job", true);
    for (const auto& p : j.at("points")) {
      SweepPoint sp;
      sp.index = p.at("index").get<int>();
      sp.key = p.at("key").get<std::string>();
      sp.overrides = p.at("overrides").get<std::vector<std::string>>();
      sp.experiment = p.value("experiment", "");
      sp.method = p.value("method", "");
      sp.model = p.value("model", "");
      sp.seed = p.value("seed", int64_t{0});
      QMOE_CHECK(sp.index == static_cast<int>(f.points.size()), "points must be numbered 0, 1, ... in order");
      f.points.push_back(std::move(sp));
    }
  } catch (const json::exception& e) {
    throw Error(StrCat("'", file, "' is malformed: ", e.what()));
  } catch (const Error& e) {
    throw Error(StrCat("'", file, "' is malformed: ", e.what()));
  }
  std::ifstream jobs(f.dir + "/jobs.txt");
  int line_no = 0;
  for (std::string line; std::getline(jobs, line);) {
    ++line_no;
    if (Trim(line).empty()) continue;
    Submission s;
    std::istringstream ls(line);
    std::string indices;
    ls >> s.job >> s.finish_job >> s.time >> indices;
    if (s.finish_job == "-") s.finish_job.clear();
    for (const auto& x : Split(indices, ',')) {
      char* end = nullptr;
      long i = std::strtol(x.c_str(), &end, 10);
      QMOE_CHECK(!x.empty() && *end == '\0' && i >= 0 && i < static_cast<long>(f.points.size()), "'", f.dir,
                 "/jobs.txt' line ", line_no, ": bad point index '", x, "'");
      s.indices.push_back(static_cast<int>(i));
    }
    QMOE_CHECK(!s.job.empty() && !s.indices.empty(), "'", f.dir, "/jobs.txt' line ", line_no,
               ": expected 'ARRAY_JOB FINISH_JOB TIME INDICES', got '", line, "'");
    f.submissions.push_back(std::move(s));
  }
  return f;
}

void SweepFolder::Save() const {
  json j;
  j["sweep_id"] = id;
  j["cwd"] = cwd;
  j["config_dir"] = config_dir;
  j["db"] = db;
  j["qmoe"] = qmoe;
  j["gpu"] = gpu;
  j["array_parallelism"] = array_parallelism;
  j["finish_job"] = finish_job;
  j["points"] = json::array();
  std::ostringstream txt;
  txt << "# index  key (prefix)  overrides; the run key is in sweep.json\n";
  for (const auto& p : points) {
    j["points"].push_back({{"index", p.index}, {"key", p.key}, {"overrides", p.overrides},
                           {"experiment", p.experiment}, {"method", p.method}, {"model", p.model}, {"seed", p.seed}});
    txt << p.index << "  " << p.key.substr(0, 16) << "  " << Join(p.overrides, " ") << "\n";
  }
  fs::create_directories(dir);
  WriteFileAtomically(dir + "/sweep.json", j.dump(2) + "\n");
  WriteFileAtomically(dir + "/points.txt", txt.str());
}

void SweepFolder::AppendSubmission(const Submission& s) {
  std::vector<std::string> idx;
  for (int i : s.indices) idx.push_back(std::to_string(i));
  std::ofstream out(dir + "/jobs.txt", std::ios::app);
  out << s.job << " " << (s.finish_job.empty() ? "-" : s.finish_job) << " " << s.time << " " << Join(idx, ",") << "\n";
  out.close();
  QMOE_CHECK(out.good(), "cannot append to '", dir, "/jobs.txt'");
  submissions.push_back(s);
}

std::vector<std::string> AllSweepDirs(const std::string& root) {
  std::vector<std::string> dirs;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return dirs;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory() && fs::exists(e.path() / "sweep.json")) dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());  // ids start with the UTC time, so this is oldest first
  return dirs;
}

std::string FindSweepDir(const std::string& root, const std::string& ref) {
  if (!ref.empty() && fs::exists(fs::path(ref) / "sweep.json")) return ref;
  const auto dirs = AllSweepDirs(root);
  QMOE_CHECK(!dirs.empty(), "no cluster sweeps in '", root, "' (submit one with `qmoe sweep ... launcher=slurm`)");
  if (ref.empty()) return dirs.back();
  std::vector<std::string> hits, ids;
  for (const auto& d : dirs) {
    std::string id = fs::path(d).filename().string();
    ids.push_back(id);
    if (id.rfind(ref, 0) == 0) hits.push_back(d);
  }
  QMOE_CHECK(!hits.empty(), "no cluster sweep '", ref, "' in '", root, "'", DidYouMean(ref, ids), "; sweeps: ",
             Join(ids, ", "));
  QMOE_CHECK(hits.size() == 1, "sweep id prefix '", ref, "' matches ", hits.size(), " sweeps in '", root,
             "'; give more characters");
  return hits[0];
}

}  // namespace qmoe
