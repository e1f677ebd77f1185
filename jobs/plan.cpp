#include "jobs/plan.hpp"

#include "core/error.hpp"

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

const char* const kLayers[4] = {"data", "train", "aggregate", "report"};

const char* task_kind_name(TaskKind kind) {
  switch (kind) {
  case TaskKind::Generate:
    return "generate";
  case TaskKind::Train:
    return "train";
  case TaskKind::Aggregate:
    return "aggregate";
  case TaskKind::Report:
    return "report";
  case TaskKind::Convert:
    return "convert";
  }
  return "?";
}

const char* Task::layer() const {
  // Every kind is its own layer, under its own name, except generation and conversion: the
  // data layer.
  return kind == TaskKind::Generate || kind == TaskKind::Convert ? "data" : task_kind_name(kind);
}

const char* task_state_name(TaskState state) {
  switch (state) {
  case TaskState::Pending:
    return "pending";
  case TaskState::Running:
    return "running";
  case TaskState::Done:
    return "done";
  case TaskState::Failed:
    return "failed";
  }
  return "?";
}

const Task* Plan::find(const std::string& id) const {
  for (const auto& t : tasks) {
    if (t.id == id) {
      return &t;
    }
  }
  return nullptr;
}

std::string Plan::path(const std::string& relative) const {
  if (!relative.empty() && relative[0] == '/') {
    return relative;
  }
  return (fs::path(directory) / relative).string();
}

bool is_safe_relative(const std::string& path) {
  if (path.empty() || path[0] == '/' || path.size() > 400) {
    return false;
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || !is_safe_id(part)) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

namespace {

std::string zero_padded(std::size_t value, int width) {
  std::string s = std::to_string(value);
  return std::string(static_cast<std::size_t>(std::max(0, width - static_cast<int>(s.size()))),
                     '0') +
         s;
}

/// FNV-1a over the fields that define a task's result.
std::string task_hash(const Task& t) {
  std::string text = std::string(task_kind_name(t.kind)) + '\x1f' + t.output + '\x1f' + t.dataset +
                     '\x1f' + std::to_string(t.ranks) + '\x1f';
  for (const auto& [k, v] : t.options) {
    text += k + '=' + v + '\x1f';
  }
  for (const auto& d : t.deps) {
    text += d + '\x1e';
  }
  if (t.kind == TaskKind::Convert) { // (generate and train hashes stay what they were)
    text += "source=" + t.source + '\x1f';
  }
  std::uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : text) {
    h = (h ^ c) * 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

} // namespace

Plan build_plan(const StudySpec& spec) {
  Plan plan;
  plan.name = spec.name;
  plan.study_file = spec.file;
  plan.directory = spec.output;
  plan.executor = spec.executor;
  plan.jobs = spec.jobs;
  plan.mpiexec = spec.mpiexec;
  plan.python = spec.python;
  plan.slurm = spec.slurm;
  plan.experiments = spec.experiments;

  std::map<std::string, std::string> dataset_of; // data name -> path
  std::map<std::string, std::string> data_task;  // data name -> task id (generated only)
  std::map<std::string, const DataSpec*> per_seed;
  for (const auto& d : spec.data) {
    if (d.converted()) {
      Task t;
      t.id = "data." + d.name;
      t.kind = TaskKind::Convert;
      t.output = "data/" + d.name + ".h5";
      t.source = d.convert_source;
      t.options = d.convert;
      t.data = d.name;
      dataset_of[d.name] = t.output;
      data_task[d.name] = t.id;
      plan.tasks.push_back(std::move(t));
      continue;
    }
    if (!d.generated()) {
      dataset_of[d.name] = d.file;
      continue;
    }
    if (d.per_seed) {
      per_seed[d.name] = &d;
      continue;
    }
    Task t;
    t.id = "data." + d.name;
    t.kind = TaskKind::Generate;
    t.output = "data/" + d.name + ".h5";
    t.options = d.generate;
    t.data = d.name;
    dataset_of[d.name] = t.output;
    data_task[d.name] = t.id;
    plan.tasks.push_back(std::move(t));
  }
  // Per-seed data: one generate task for every (data set, seed) some experiment uses.
  for (const auto& e : spec.experiments) {
    for (const auto& name : e.data) {
      const auto it = per_seed.find(name);
      if (it == per_seed.end()) {
        continue;
      }
      for (const auto seed : e.seeds) {
        const std::string key = name + "#" + std::to_string(seed);
        if (data_task.count(key) > 0) {
          continue;
        }
        Task t;
        t.id = "data." + name + ".s" + std::to_string(seed);
        t.kind = TaskKind::Generate;
        t.output = "data/" + name + "/seed-" + std::to_string(seed) + ".h5";
        t.options = it->second->generate;
        t.options.emplace_back("seed", std::to_string(seed));
        t.data = name;
        dataset_of[key] = t.output;
        data_task[key] = t.id;
        plan.tasks.push_back(std::move(t));
      }
    }
  }
  std::vector<std::string> aggregates;
  std::vector<Task> train_tasks;
  std::vector<Task> aggregate_tasks;
  for (const auto& e : spec.experiments) {
    std::size_t run_index = 0;
    std::size_t cell_index = 0;
    // Grid points: the cartesian product of the grid, times the listed cases.
    std::vector<OptionList> points{OptionList{}};
    for (const auto& [k, values] : e.grid) {
      std::vector<OptionList> next;
      for (const auto& p : points) {
        for (const auto& v : values) {
          next.push_back(p);
          next.back().emplace_back(k, v);
        }
      }
      points = std::move(next);
    }
    if (!e.cases.empty()) {
      std::vector<OptionList> next;
      for (const auto& p : points) {
        for (const auto& c : e.cases) {
          next.push_back(p);
          next.back().insert(next.back().end(), c.begin(), c.end());
        }
      }
      points = std::move(next);
    }
    for (const auto& data : e.data) {
      for (const auto& method : e.methods) {
        for (const auto& point : points) {
          Cell cell;
          cell.id = e.name + ".c" + zero_padded(cell_index++, 4);
          cell.experiment = e.name;
          cell.data = data;
          cell.method = method;
          for (const auto& [k, v] : point) {
            cell.params[k] = v;
          }
          for (const auto seed : e.seeds) {
            Task t;
            t.id = "train." + e.name + "." + zero_padded(run_index++, 5);
            t.kind = TaskKind::Train;
            t.output = "runs/" + t.id + ".h5";
            const std::string data_key =
                per_seed.count(data) > 0 ? data + "#" + std::to_string(seed) : data;
            t.dataset = dataset_of.at(data_key);
            t.options = {{"method", method}, {"seed", std::to_string(seed)}};
            t.options.insert(t.options.end(), e.options.begin(), e.options.end());
            t.options.insert(t.options.end(), point.begin(), point.end());
            if (const auto it = data_task.find(data_key); it != data_task.end()) {
              t.deps.push_back(it->second);
            }
            t.ranks = e.ranks;
            t.experiment = e.name;
            t.data = data;
            t.method = method;
            t.params = cell.params;
            t.seed = seed;
            t.cell = cell.id;
            cell.runs.push_back(t.id);
            train_tasks.push_back(std::move(t));
          }
          Task a;
          a.id = "aggregate." + cell.id;
          a.kind = TaskKind::Aggregate;
          a.output = "cells/" + cell.id + ".json";
          a.deps = cell.runs;
          a.experiment = e.name;
          a.data = data;
          a.method = method;
          a.params = cell.params;
          a.cell = cell.id;
          aggregates.push_back(a.id);
          aggregate_tasks.push_back(std::move(a));
          plan.cells.push_back(std::move(cell));
        }
      }
    }
  }
  for (auto& t : train_tasks) {
    plan.tasks.push_back(std::move(t));
  }
  for (auto& t : aggregate_tasks) {
    plan.tasks.push_back(std::move(t));
  }
  Task report;
  report.id = "report";
  report.kind = TaskKind::Report;
  report.output = "report/report.md";
  report.deps = aggregates;
  plan.tasks.push_back(std::move(report));
  for (auto& t : plan.tasks) {
    t.hash = task_hash(t);
  }
  return plan;
}

// ---- JSON

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
  return json{{"name", e.name}, {"kind", e.kind}, {"x", e.x}, {"case_keys", case_keys}};
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

// ---- Markers

namespace {

std::string marker(const Plan& plan, const Task& task, const char* state) {
  return plan.path("tasks/" + task.id + "." + state);
}

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) {
    return "";
  }
  return buf;
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool read_json(const std::string& path, json& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  try {
    out = json::parse(in);
  } catch (const json::exception&) {
    return false; // a marker torn by a crash counts as absent
  }
  return out.is_object();
}

void remove_markers(const Plan& plan, const Task& task, const char* keep) {
  for (const char* state : {"done", "failed", "running"}) {
    if (std::strcmp(state, keep) != 0) {
      std::error_code ec;
      fs::remove(marker(plan, task, state), ec);
    }
  }
}

} // namespace

std::string log_path(const Plan& plan, const Task& task) {
  return plan.path("logs/" + task.id + ".log");
}

TaskStatus read_status(const Plan& plan, const Task& task) {
  TaskStatus s;
  s.log = log_path(plan, task);
  json j;
  if (read_json(marker(plan, task, "done"), j) && j.value("hash", "") == task.hash) {
    s.state = TaskState::Done;
    s.seconds = j.value("seconds", 0.0);
    return s;
  }
  if (read_json(marker(plan, task, "running"), j) && j.value("hash", "") == task.hash) {
    s.state = TaskState::Running;
    s.pid = j.value("pid", 0);
    s.host = j.value("host", "");
    s.slurm_job = j.value("slurm_job", "");
    s.detail = "started " + j.value("started", "") + " on " + s.host + " (pid " +
               std::to_string(s.pid) + (s.slurm_job.empty() ? "" : ", Slurm " + s.slurm_job) + ")";
    return s;
  }
  if (read_json(marker(plan, task, "failed"), j) && j.value("hash", "") == task.hash) {
    s.state = TaskState::Failed;
    s.detail = j.value("why", "");
    s.seconds = j.value("seconds", 0.0);
    s.slurm_job = j.value("slurm_job", "");
    return s;
  }
  return s;
}

void mark_running(const Plan& plan, const Task& task, int pid, const std::string& slurm_job) {
  json j{{"task", task.id},
         {"hash", task.hash},
         {"pid", pid},
         {"host", hostname()},
         {"slurm_job", slurm_job},
         {"started", now_iso()},
         {"log", log_path(plan, task)}};
  write_file_atomic(marker(plan, task, "running"), j.dump() + "\n");
  remove_markers(plan, task, "running");
}

void mark_done(const Plan& plan, const Task& task, double seconds) {
  json j{{"task", task.id},
         {"hash", task.hash},
         {"seconds", seconds},
         {"finished", now_iso()},
         {"host", hostname()}};
  write_file_atomic(marker(plan, task, "done"), j.dump() + "\n");
  remove_markers(plan, task, "done");
}

void mark_failed(const Plan& plan, const Task& task, const std::string& why, double seconds) {
  const char* job = std::getenv("SLURM_JOB_ID");
  const char* array_job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* array_task = std::getenv("SLURM_ARRAY_TASK_ID");
  std::string slurm;
  if (array_job != nullptr && array_task != nullptr) {
    slurm = std::string(array_job) + "_" + array_task;
  } else if (job != nullptr) {
    slurm = job;
  }
  json j{{"task", task.id},    {"hash", task.hash},          {"why", why},
         {"seconds", seconds}, {"finished", now_iso()},      {"host", hostname()},
         {"slurm_job", slurm}, {"log", log_path(plan, task)}};
  write_file_atomic(marker(plan, task, "failed"), j.dump() + "\n");
  remove_markers(plan, task, "failed");
}

} // namespace grpo::jobs
