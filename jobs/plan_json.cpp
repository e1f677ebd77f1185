// plan.json (docs/studies.md): Plan <-> JSON, written atomically (write_file_atomic) and read
// back with every field checked (a DataError names the file and the field).
#include "core/error.hpp"
#include "jobs/plan.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unistd.h>

namespace grpo::jobs {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json options_json(const OptionList& options) {
  json a = json::array();
  for (const auto& [k, v] : options) {
    a.push_back(json::array({k, v}));
  }
  return a;
}

json experiment_json(const ExperimentSpec& e) {
  std::set<std::string> case_keys;
  for (const auto& c : e.cases) {
    for (const auto& kv : c) {
      case_keys.insert(kv.first);
    }
  }
  json o{{"name", e.name}, {"kind", e.kind}, {"x", e.x}, {"case_keys", case_keys}};
  if (e.selection.enabled()) {
    o["selection"] = {{"metric", e.selection.metric},
                      {"goal", e.selection.goal},
                      {"over", e.selection.over},
                      {"statistic", e.selection.statistic}};
  }
  return o;
}

} // namespace

std::string plan_to_json(const Plan& plan) {
  json j;
  j["format"] = "grpo-study-plan";
  j["version"] = 1;
  j["name"] = plan.name;
  j["study_file"] = plan.study_file;
  j["directory"] = plan.directory;
  j["executor"] = plan.executor;
  j["jobs"] = plan.jobs;
  j["mpiexec"] = plan.mpiexec;
  j["python"] = plan.python;
  j["slurm"] = {{"partition", plan.slurm.partition},
                {"account", plan.slurm.account},
                {"qos", plan.slurm.qos},
                {"time", plan.slurm.time},
                {"memory", plan.slurm.memory},
                {"cpus_per_task", plan.slurm.cpus_per_task},
                {"throttle", plan.slurm.throttle},
                {"sbatch", plan.slurm.extra}};
  j["experiments"] = json::array();
  for (const auto& e : plan.experiments) {
    j["experiments"].push_back(experiment_json(e));
  }
  j["tasks"] = json::array();
  for (const auto& t : plan.tasks) {
    json o{{"id", t.id},     {"layer", t.layer()}, {"kind", task_kind_name(t.kind)},
           {"deps", t.deps}, {"output", t.output}, {"hash", t.hash}};
    if (t.kind == TaskKind::Generate || t.kind == TaskKind::Convert || t.kind == TaskKind::Train) {
      o["options"] = options_json(t.options);
      o["data"] = t.data;
    }
    if (t.kind == TaskKind::Convert) {
      o["source"] = t.source;
    }
    if (t.kind == TaskKind::Train) {
      o["dataset"] = t.dataset;
      o["ranks"] = t.ranks;
      o["seed"] = t.seed;
    }
    if (t.kind == TaskKind::Train || t.kind == TaskKind::Aggregate) {
      o["experiment"] = t.experiment;
      o["data"] = t.data;
      o["method"] = t.method;
      o["params"] = t.params;
      o["cell"] = t.cell;
    }
    j["tasks"].push_back(std::move(o));
  }
  j["cells"] = json::array();
  for (const auto& c : plan.cells) {
    j["cells"].push_back({{"id", c.id},
                          {"experiment", c.experiment},
                          {"data", c.data},
                          {"method", c.method},
                          {"params", c.params},
                          {"runs", c.runs}});
  }
  return j.dump(1) + "\n";
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw IoError("cannot write '" + tmp + "': " + std::strerror(errno));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw IoError("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
}

void write_plan(const Plan& plan) {
  std::error_code ec;
  std::vector<std::string> subs{"", "data", "runs", "cells", "tasks", "logs", "report"};
  for (const auto& t : plan.tasks) {
    if (t.kind == TaskKind::Generate || t.kind == TaskKind::Convert) {
      subs.push_back(fs::path(t.output).parent_path().string());
    }
  }
  for (const auto& sub : subs) {
    fs::create_directories(fs::path(plan.directory) / sub, ec);
    if (ec) {
      throw IoError("cannot create the study directory '" +
                    (fs::path(plan.directory) / sub).string() + "': " + ec.message());
    }
  }
  write_file_atomic(plan.path("plan.json"), plan_to_json(plan));
}

namespace {

/// Typed access to a plan field; a wrong or missing field names the file and the field.
class Reader {
public:
  explicit Reader(std::string file)
      : m_file(std::move(file)) {}
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw DataError("study plan '" + m_file + "': field '" + field + "': " + what);
  }
  const json& at(const json& o, const char* key, const std::string& field) const {
    if (!o.is_object() || !o.contains(key)) {
      fail(field + key, "missing");
    }
    return o.at(key);
  }
  std::string str(const json& o, const char* key, const std::string& field) const {
    const json& v = at(o, key, field);
    if (!v.is_string()) {
      fail(field + key, "expected a string");
    }
    return v.get<std::string>();
  }
  std::int64_t integer(const json& o, const char* key, const std::string& field) const {
    const json& v = at(o, key, field);
    if (!v.is_number_integer()) {
      fail(field + key, "expected an integer");
    }
    return v.get<std::int64_t>();
  }
  std::vector<std::string> strings(const json& o, const char* key, const std::string& field) const {
    const json& v = at(o, key, field);
    std::vector<std::string> out;
    if (!v.is_array()) {
      fail(field + key, "expected a list of strings");
    }
    for (const auto& x : v) {
      if (!x.is_string()) {
        fail(field + key, "expected a list of strings");
      }
      out.push_back(x.get<std::string>());
    }
    return out;
  }
  std::map<std::string, std::string> params(const json& o, const std::string& field) const {
    const json& v = at(o, "params", field);
    std::map<std::string, std::string> out;
    if (!v.is_object()) {
      fail(field + "params", "expected an object");
    }
    for (const auto& [k, x] : v.items()) {
      if (!x.is_string()) {
        fail(field + "params." + k, "expected a string");
      }
      out[k] = x.get<std::string>();
    }
    return out;
  }
  OptionList options(const json& o, const std::string& field) const {
    const json& v = at(o, "options", field);
    OptionList out;
    if (!v.is_array()) {
      fail(field + "options", "expected a list of [name, value] pairs");
    }
    for (const auto& p : v) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string()) {
        fail(field + "options", "expected a list of [name, value] pairs");
      }
      out.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
    }
    return out;
  }

private:
  std::string m_file;
};

} // namespace

namespace {
Plan parse_plan(const std::string& directory, const std::string& file);
}

Plan read_plan(const std::string& directory) {
  const std::string file = (fs::path(directory) / "plan.json").string();
  try {
    return parse_plan(directory, file);
  } catch (const json::exception& e) { // a field of an unexpected type deep inside
    throw DataError("study plan '" + file + "': malformed (" + e.what() + ")");
  }
}

namespace {
Plan parse_plan(const std::string& directory, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw IoError("study directory '" + directory + "': no plan.json (is it a study directory?)");
  }
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw DataError("study plan '" + file + "': not valid JSON (" + e.what() + ")");
  }
  const Reader r(file);
  if (!j.is_object() || !j.contains("format") || j["format"] != "grpo-study-plan") {
    r.fail("format", "expected \"grpo-study-plan\"");
  }
  if (r.integer(j, "version", "") != 1) {
    r.fail("version", "unsupported version (this grpo reads version 1)");
  }
  Plan plan;
  plan.name = r.str(j, "name", "");
  plan.study_file = r.str(j, "study_file", "");
  plan.directory = fs::absolute(directory).lexically_normal().string();
  plan.executor = r.str(j, "executor", "");
  plan.jobs = static_cast<int>(r.integer(j, "jobs", ""));
  plan.mpiexec = r.str(j, "mpiexec", "");
  plan.python = r.str(j, "python", "");
  const json& s = r.at(j, "slurm", "");
  if (!s.is_object()) {
    r.fail("slurm", "expected an object");
  }
  plan.slurm.partition = r.str(s, "partition", "slurm.");
  plan.slurm.account = r.str(s, "account", "slurm.");
  plan.slurm.qos = r.str(s, "qos", "slurm.");
  plan.slurm.time = r.str(s, "time", "slurm.");
  plan.slurm.memory = r.str(s, "memory", "slurm.");
  plan.slurm.cpus_per_task = static_cast<int>(r.integer(s, "cpus_per_task", "slurm."));
  plan.slurm.throttle = static_cast<int>(r.integer(s, "throttle", "slurm."));
  plan.slurm.extra = r.strings(s, "sbatch", "slurm.");
  const json& experiments = r.at(j, "experiments", "");
  if (!experiments.is_array()) {
    r.fail("experiments", "expected a list");
  }
  for (std::size_t i = 0; i < experiments.size(); ++i) {
    const std::string f = "experiments[" + std::to_string(i) + "].";
    ExperimentSpec e;
    e.name = r.str(experiments[i], "name", f);
    e.kind = r.str(experiments[i], "kind", f);
    e.x = r.str(experiments[i], "x", f);
    if (experiments[i].contains("selection")) {
      const json& sel = experiments[i]["selection"];
      const std::string g = f + "selection.";
      e.selection.metric = r.str(sel, "metric", g);
      e.selection.goal = r.str(sel, "goal", g);
      e.selection.over = r.strings(sel, "over", g);
      e.selection.statistic = r.str(sel, "statistic", g);
      if (!is_selection_metric(e.selection.metric)) {
        r.fail(g + "metric", "unknown metric '" + e.selection.metric + "'");
      }
      if ((e.selection.goal != "min" && e.selection.goal != "max") ||
          (e.selection.statistic != "mean" && e.selection.statistic != "median") ||
          e.selection.over.empty()) {
        r.fail(f + "selection", "expected goal min or max, statistic mean or median and a "
                                "non-empty over");
      }
    }
    plan.experiments.push_back(std::move(e));
  }
  const json& tasks = r.at(j, "tasks", "");
  if (!tasks.is_array()) {
    r.fail("tasks", "expected a list");
  }
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const json& o = tasks[i];
    const std::string f = "tasks[" + std::to_string(i) + "].";
    Task t;
    t.id = r.str(o, "id", f);
    if (!is_safe_id(t.id)) {
      r.fail(f + "id", "invalid task id '" + t.id + "'");
    }
    const std::string kind = r.str(o, "kind", f);
    if (kind == "generate") {
      t.kind = TaskKind::Generate;
    } else if (kind == "train") {
      t.kind = TaskKind::Train;
    } else if (kind == "aggregate") {
      t.kind = TaskKind::Aggregate;
    } else if (kind == "report") {
      t.kind = TaskKind::Report;
    } else if (kind == "convert") {
      t.kind = TaskKind::Convert;
    } else {
      r.fail(f + "kind", "unknown task kind '" + kind + "'");
    }
    t.deps = r.strings(o, "deps", f);
    t.output = r.str(o, "output", f);
    if (!is_safe_relative(t.output)) {
      r.fail(f + "output", "'" + t.output + "' is not a path inside the study directory");
    }
    t.hash = r.str(o, "hash", f);
    if (t.kind == TaskKind::Generate || t.kind == TaskKind::Convert || t.kind == TaskKind::Train) {
      t.options = r.options(o, f);
      t.data = r.str(o, "data", f);
    }
    if (t.kind == TaskKind::Convert) {
      t.source = r.str(o, "source", f);
      if (!is_safe_name(t.source)) { // it becomes a word of the command line
        r.fail(f + "source", "invalid source '" + t.source + "'");
      }
    }
    if (t.kind == TaskKind::Train) {
      t.dataset = r.str(o, "dataset", f);
      t.ranks = static_cast<int>(r.integer(o, "ranks", f));
      t.seed = static_cast<std::uint64_t>(r.integer(o, "seed", f));
    }
    if (t.kind == TaskKind::Train || t.kind == TaskKind::Aggregate) {
      t.experiment = r.str(o, "experiment", f);
      t.method = r.str(o, "method", f);
      t.params = r.params(o, f);
      t.cell = r.str(o, "cell", f);
    }
    plan.tasks.push_back(std::move(t));
  }
  const json& cells = r.at(j, "cells", "");
  if (!cells.is_array()) {
    r.fail("cells", "expected a list");
  }
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const std::string f = "cells[" + std::to_string(i) + "].";
    Cell c;
    c.id = r.str(cells[i], "id", f);
    c.experiment = r.str(cells[i], "experiment", f);
    c.data = r.str(cells[i], "data", f);
    c.method = r.str(cells[i], "method", f);
    c.params = r.params(cells[i], f);
    c.runs = r.strings(cells[i], "runs", f);
    plan.cells.push_back(std::move(c));
  }
  for (const auto& t : plan.tasks) {
    for (const auto& d : t.deps) {
      if (plan.find(d) == nullptr) {
        throw DataError("study plan '" + file + "': task '" + t.id + "' depends on unknown '" + d +
                        "'");
      }
    }
  }
  return plan;
}
} // namespace

} // namespace grpo::jobs
