// The study's task graph (jobs/plan.hpp, docs/studies.md): build_plan expands a study file into
// data, train, aggregate and report tasks with their hashes and dependencies. plan.json is
// written and read by plan_json.cpp, the task markers by task_markers.cpp.
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
  // The selections shape the report only: they enter its hash (an edited selection redraws it)
  // and nothing else (report options are not written to plan.json).
  for (const auto& e : spec.experiments) {
    if (e.selection.enabled()) {
      std::string over;
      for (const auto& k : e.selection.over) {
        over += (over.empty() ? "" : ",") + k;
      }
      report.options.emplace_back("selection." + e.name, e.selection.metric + ";" +
                                                             e.selection.goal + ";" + over + ";" +
                                                             e.selection.statistic);
    }
  }
  plan.tasks.push_back(std::move(report));
  for (auto& t : plan.tasks) {
    t.hash = task_hash(t);
  }
  return plan;
}

} // namespace grpo::jobs
