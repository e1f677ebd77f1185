// The Slurm executor and the status view. One sbatch job array per layer (per rank count in
// the training layer) over the tasks that are not done; each layer waits for the previous ones
// with --dependency=afterok. Scripts and task lists are kept in DIR/slurm/, every submission in
// DIR/slurm/submissions.json (what `status` asks squeue and sacct about).
#include "core/error.hpp"
#include "jobs/executors.hpp"
#include "jobs/process.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>
#include <unistd.h>

namespace grpo::jobs {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Submission {
  std::string layer;
  std::string job;                                ///< Slurm job id of the array
  std::vector<std::vector<std::string>> elements; ///< the tasks of each array element
};

std::vector<Submission> read_submissions(const Plan& plan) {
  std::vector<Submission> out;
  std::ifstream in(plan.path("slurm/submissions.json"));
  if (!in) {
    return out;
  }
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw DataError("'" + plan.path("slurm/submissions.json") + "': not valid JSON (" + e.what() +
                    ")");
  }
  for (const auto& s : j) {
    Submission sub;
    sub.layer = s.value("layer", "");
    sub.job = s.value("job", "");
    if (s.contains("elements")) {
      sub.elements = s.value("elements", std::vector<std::vector<std::string>>{});
    } else { // written before bundles: one task an element
      for (auto& t : s.value("tasks", std::vector<std::string>{})) {
        sub.elements.push_back({std::move(t)});
      }
    }
    out.push_back(std::move(sub));
  }
  return out;
}

void append_submission(const Plan& plan, const Submission& s) {
  json j = json::array();
  for (const auto& old : read_submissions(plan)) {
    j.push_back({{"layer", old.layer}, {"job", old.job}, {"elements", old.elements}});
  }
  j.push_back({{"layer", s.layer},
               {"job", s.job},
               {"elements", s.elements},
               {"submitted", static_cast<std::int64_t>(std::time(nullptr))}});
  write_file_atomic(plan.path("slurm/submissions.json"), j.dump(1) + "\n");
}

/// Task id -> Slurm state ("PENDING", "RUNNING", ...) of the array elements still in the queue.
std::map<std::string, std::string> queued_tasks(const std::vector<Submission>& subs,
                                                std::string& note) {
  std::map<std::string, std::string> out;
  if (subs.empty()) {
    return out;
  }
  if (!on_path("squeue")) {
    note = "squeue not found: Slurm queue states unknown";
    return out;
  }
  std::map<std::string, const Submission*> by_job;
  for (const auto& s : subs) {
    by_job[s.job] = &s;
  }
  // This user's queue, one line per array element (-r); finished jobs are not listed. (Asking
  // for job ids instead fails as a whole once one of them has left Slurm's memory.)
  std::string text;
  std::string err;
  const auto st = run_capture({"squeue", "-h", "-r", "--me", "-o", "%i %T"}, text, err);
  if (!st.ok()) {
    note = "squeue failed: " + err.substr(0, err.find('\n'));
    return out;
  }
  std::istringstream lines(text);
  std::string id;
  std::string state;
  while (lines >> id >> state) {
    const auto underscore = id.find('_');
    if (underscore == std::string::npos) {
      continue;
    }
    const auto it = by_job.find(id.substr(0, underscore));
    const std::string index = id.substr(underscore + 1);
    if (it == by_job.end() || index.empty() ||
        index.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const auto i = static_cast<std::size_t>(std::stoul(index));
    if (i < it->second->elements.size()) {
      for (const auto& task : it->second->elements[i]) {
        out[task] = state;
      }
    }
  }
  return out;
}

/// Final Slurm states from sacct (where accounting is available): "jobid_index" -> state.
std::map<std::string, std::string> accounted(const std::vector<Submission>& subs) {
  std::map<std::string, std::string> out;
  if (subs.empty() || !on_path("sacct")) {
    return out;
  }
  std::string ids;
  for (const auto& s : subs) {
    ids += (ids.empty() ? "" : ",") + s.job;
  }
  std::string text;
  std::string err;
  const auto st =
      run_capture({"sacct", "-n", "-X", "-P", "-j", ids, "-o", "JobID,State"}, text, err);
  if (!st.ok()) {
    return out;
  }
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto bar = line.find('|');
    if (bar != std::string::npos) {
      out[line.substr(0, bar)] = line.substr(bar + 1);
    }
  }
  return out;
}

std::string script_for(const Plan& plan, const Toolchain& tools, const std::string& layer,
                       const std::string& tasks_file, std::size_t tasks, std::size_t count,
                       int ranks) {
  const auto& r = plan.slurm;
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# grpo study '" << plan.name << "': layer " << layer << ", " << tasks << " task(s) in "
    << count << " array element(s), line i of " << tasks_file
    << " the tasks of element i (run in turn); generated by grpo, kept for reference.\n"
    << "#SBATCH --job-name=grpo-" << plan.name << "-" << layer << "\n"
    << "#SBATCH --array=0-" << count - 1;
  if (r.throttle > 0) {
    s << "%" << r.throttle;
  }
  s << "\n#SBATCH --ntasks=" << ranks << "\n"
    << "#SBATCH --cpus-per-task=" << r.cpus_per_task << "\n"
    << "#SBATCH --output=logs/slurm-" << layer << "-%A_%a.out\n"
    << "#SBATCH --kill-on-invalid-dep=yes\n";
  if (!r.time.empty()) {
    s << "#SBATCH --time=" << r.time << "\n";
  }
  if (!r.memory.empty()) {
    s << "#SBATCH --mem=" << r.memory << "\n";
  }
  if (!r.partition.empty()) {
    s << "#SBATCH --partition=" << r.partition << "\n";
  }
  if (!r.account.empty()) {
    s << "#SBATCH --account=" << r.account << "\n";
  }
  if (!r.qos.empty()) {
    s << "#SBATCH --qos=" << r.qos << "\n";
  }
  for (const auto& line : r.extra) {
    s << "#SBATCH " << line << "\n";
  }
  s << "set -euo pipefail\n"
    << "cd " << shell_quote(plan.directory) << "\n"
    << R"(read -r -a tasks <<< "$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" )"
    << shell_quote(tasks_file) << ")\"\n"
    << "exec " << shell_quote(tools.grpo) << " study task " << shell_quote(plan.directory)
    << " \"${tasks[@]}\"\n";
  return s.str();
}

} // namespace

SlurmLimits parse_slurm_config(const std::string& text) {
  SlurmLimits limits;
  std::istringstream lines(text);
  std::string line;
  const auto value_of = [](const std::string& l, const std::string& key, std::size_t& out) {
    if (l.rfind(key, 0) != 0) {
      return;
    }
    const auto eq = l.find('=', key.size());
    if (eq == std::string::npos || l.find_first_not_of(' ', key.size()) != eq) {
      return;
    }
    const auto begin = l.find_first_not_of(' ', eq + 1);
    if (begin == std::string::npos) {
      return;
    }
    const auto end = l.find_first_not_of("0123456789", begin);
    const std::string digits = l.substr(begin, end - begin);
    if (!digits.empty() && digits.size() < 10) {
      out = static_cast<std::size_t>(std::stoul(digits));
    }
  };
  while (std::getline(lines, line)) {
    value_of(line, "MaxArraySize", limits.max_array_size);
    value_of(line, "MaxJobCount", limits.max_job_count);
  }
  return limits;
}

SlurmLimits slurm_limits(std::string& note) {
  if (!on_path("scontrol")) {
    note = "scontrol not found: Slurm's default limits assumed (MaxArraySize 1001, MaxJobCount "
           "10000)";
    return {};
  }
  std::string text;
  std::string err;
  const auto st = run_capture({"scontrol", "show", "config"}, text, err);
  if (!st.ok()) {
    note = "scontrol show config failed (" + err.substr(0, err.find('\n')) +
           "): Slurm's default limits assumed";
    return {};
  }
  return parse_slurm_config(text);
}

std::vector<std::size_t> array_elements(const std::vector<std::size_t>& tasks,
                                        const SlurmLimits& limits) {
  // Elements per array: at most MaxArraySize (indices 0 to MaxArraySize - 1) and 1000; all
  // arrays together at most half of MaxJobCount (the rest is left to other jobs).
  std::size_t per_array =
      std::max<std::size_t>(1, std::min<std::size_t>(limits.max_array_size, 1000));
  const std::size_t budget = std::max<std::size_t>(tasks.size(), limits.max_job_count / 2);
  const auto total = [&](std::size_t cap) {
    std::size_t sum = 0;
    for (const auto n : tasks) {
      sum += std::min(n, cap);
    }
    return sum;
  };
  while (per_array > 1 && total(per_array) > budget) {
    per_array = std::max<std::size_t>(1, per_array * budget / total(per_array));
    if (total(per_array) > budget) {
      --per_array;
    }
  }
  std::vector<std::size_t> out;
  out.reserve(tasks.size());
  for (const auto n : tasks) {
    out.push_back(std::min(n, per_array));
  }
  return out;
}

int submit_slurm(const Plan& plan, const Toolchain& tools, bool dry_run, std::ostream& out) {
  if (!dry_run && !on_path("sbatch")) {
    throw ConfigError("executor slurm: sbatch not found on PATH (is this a Slurm login node?)");
  }
  const auto previous = read_submissions(plan);
  if (!dry_run) {
    std::string note;
    const auto queued = queued_tasks(previous, note);
    if (!queued.empty()) {
      std::set<std::string> jobs;
      for (const auto& s : previous) {
        jobs.insert(s.job);
      }
      std::string list;
      for (const auto& j : jobs) {
        list += (list.empty() ? "" : " ") + j;
      }
      throw ConfigError("study '" + plan.directory + "': " + std::to_string(queued.size()) +
                        " task(s) are still queued or running in Slurm (jobs " + list +
                        "); wait for them or scancel them, then resume");
    }
  }
  std::error_code ec;
  fs::create_directories(plan.path("slurm"), ec);
  if (ec) {
    throw IoError("cannot create '" + plan.path("slurm") + "': " + ec.message());
  }
  // Pending tasks per (layer, ranks), in layer order.
  std::vector<std::pair<std::string, std::vector<const Task*>>> arrays;
  std::map<std::string, int> array_ranks;
  for (const char* layer : kLayers) {
    std::map<int, std::vector<const Task*>> by_ranks;
    std::set<int> layer_ranks; // over the whole plan, so that array names stay the same
    for (const auto& t : plan.tasks) {
      if (std::string(t.layer()) != layer) {
        continue;
      }
      const int ranks = t.kind == TaskKind::Train ? t.ranks : 1;
      layer_ranks.insert(ranks);
      if (read_status(plan, t).state != TaskState::Done) {
        by_ranks[ranks].push_back(&t);
      }
    }
    for (auto& [ranks, tasks] : by_ranks) {
      const std::string name =
          layer_ranks.size() > 1 ? std::string(layer) + "-n" + std::to_string(ranks) : layer;
      array_ranks[name] = ranks;
      arrays.emplace_back(name, std::move(tasks));
    }
  }
  if (arrays.empty()) {
    out << "study " << plan.name << ": every task is done; nothing to submit\n";
    return 0;
  }
  // Tasks are packed into array elements within the cluster's limits; the tasks of an
  // element run in turn (`grpo study task DIR ID...`), in plan order.
  std::string limits_note;
  const SlurmLimits limits = slurm_limits(limits_note);
  if (!limits_note.empty()) {
    out << "note: " << limits_note << "\n";
  }
  std::vector<std::size_t> sizes;
  sizes.reserve(arrays.size());
  for (const auto& a : arrays) {
    sizes.push_back(a.second.size());
  }
  const auto elements = array_elements(sizes, limits);
  std::size_t array_index = 0;
  std::vector<std::string> submitted; // job ids of earlier layers in this submission
  std::string previous_layer;
  std::vector<std::string> current_jobs; // arrays of the layer being submitted
  for (const auto& [name, tasks] : arrays) {
    const std::string layer = tasks.front()->layer();
    if (layer != previous_layer) {
      // afterok on every array of the layers before this one
      submitted.insert(submitted.end(), current_jobs.begin(), current_jobs.end());
      current_jobs.clear();
      previous_layer = layer;
    }
    const std::string tasks_file = "slurm/" + name + ".tasks";
    const std::string script_file = "slurm/" + name + ".sbatch";
    // Element i holds tasks [i n / m, (i + 1) n / m): sizes differ by one at most.
    const std::size_t count = elements[array_index++];
    std::vector<std::vector<std::string>> ids(count);
    std::string list;
    for (std::size_t e = 0; e < count; ++e) {
      const std::size_t first = e * tasks.size() / count;
      const std::size_t last = (e + 1) * tasks.size() / count;
      for (std::size_t i = first; i < last; ++i) {
        ids[e].push_back(tasks[i]->id);
        list += (i == first ? "" : " ") + tasks[i]->id;
      }
      list += "\n";
    }
    write_file_atomic(plan.path(tasks_file), list);
    const std::string script =
        script_for(plan, tools, name, tasks_file, tasks.size(), count, array_ranks[name]);
    write_file_atomic(plan.path(script_file), script);
    fs::permissions(plan.path(script_file), fs::perms::owner_exec | fs::perms::group_exec,
                    fs::perm_options::add, ec);
    std::vector<std::string> argv{"sbatch", "--parsable"};
    if (!submitted.empty()) {
      std::string dep = "--dependency=afterok";
      for (const auto& j : submitted) {
        dep += ":" + j;
      }
      argv.push_back(dep);
    }
    argv.push_back(script_file);
    if (dry_run) {
      out << "# ---- " << plan.path(script_file) << " (" << tasks.size() << " tasks in " << count
          << " array elements)\n"
          << script << "# submit (from " << plan.directory << "): " << shell_command(argv)
          << "\n\n";
      current_jobs.push_back("<" + name + ">");
      continue;
    }
    std::string text;
    std::string err;
    const auto st = run_capture(argv, text, err, plan.directory);
    const std::string job = text.substr(0, text.find_first_not_of("0123456789"));
    if (!st.ok() || job.empty()) {
      throw IoError("sbatch failed for layer " + name + " (" + st.describe() +
                    "): " + err.substr(0, err.find('\n')));
    }
    append_submission(plan, {name, job, ids});
    out << "submitted " << name << ": job " << job << " (" << tasks.size() << " tasks"
        << (count < tasks.size() ? " in " + std::to_string(count) + " array elements" : "")
        << (submitted.empty() ? "" : ", after " + std::to_string(submitted.size()) + " job(s)")
        << ")\n"
        << std::flush;
    current_jobs.push_back(job);
  }
  if (!dry_run) {
    out << "study " << plan.name << ": follow with: grpo study status " << plan.directory << "\n";
  }
  return 0;
}

int print_status(const Plan& plan, std::ostream& out, bool list_all) {
  const auto subs = read_submissions(plan);
  std::string note;
  const auto queued = queued_tasks(subs, note);
  const auto finals = accounted(subs);
  // The Slurm element of a task in the latest submission that holds it.
  std::map<std::string, std::string> element;
  for (const auto& s : subs) {
    for (std::size_t i = 0; i < s.elements.size(); ++i) {
      for (const auto& task : s.elements[i]) {
        element[task] = s.job + "_" + std::to_string(i);
      }
    }
  }
  char host[256] = {0};
  gethostname(host, sizeof host - 1);

  struct Counts {
    std::size_t total = 0, done = 0, running = 0, queued = 0, failed = 0, pending = 0;
  };
  std::map<std::string, Counts> counts;
  std::vector<std::string> failed_lines;
  std::vector<std::string> running_lines;
  std::vector<std::string> other_lines;
  std::set<std::string> packs; ///< trace packs holding finished runs
  std::size_t unpacked = 0;    ///< finished runs whose trace is still its own file
  for (const auto& t : plan.tasks) {
    TaskStatus s = read_status(plan, t);
    auto& c = counts[t.layer()];
    ++c.total;
    const auto q = queued.find(t.id);
    std::string slurm;
    if (const auto e = element.find(t.id); e != element.end()) {
      slurm = e->second;
    }
    if (s.state == TaskState::Running) {
      // A running marker whose process is gone was killed without a chance to say so.
      bool alive = true;
      if (!s.slurm_job.empty()) {
        alive = q != queued.end() || !note.empty();
        if (!alive) {
          const auto f = finals.find(s.slurm_job);
          s.detail = "its Slurm job " + s.slurm_job + " ended" +
                     (f != finals.end() ? " (" + f->second + ")" : "") +
                     " without finishing the task (killed?)";
        }
      } else if (s.host == host && s.pid > 0 && kill(s.pid, 0) != 0 && errno == ESRCH) {
        alive = false;
        s.detail = "process " + std::to_string(s.pid) + " is gone (killed?)";
      }
      if (!alive) {
        s.state = TaskState::Failed;
      }
    }
    switch (s.state) {
    case TaskState::Done:
      ++c.done;
      if (t.kind == TaskKind::Train) {
        if (s.pack.empty()) {
          ++unpacked;
        } else {
          packs.insert(s.pack);
        }
      }
      if (list_all) {
        other_lines.push_back("  done     " + t.id);
      }
      break;
    case TaskState::Running:
      ++c.running;
      running_lines.push_back("  " + t.id + ": " + s.detail +
                              (q != queued.end() ? " [" + q->second + "]" : "") +
                              "\n    log: " + s.log);
      break;
    case TaskState::Failed: {
      ++c.failed;
      std::string extra;
      if (!s.slurm_job.empty()) {
        if (const auto f = finals.find(s.slurm_job); f != finals.end()) {
          extra = " [Slurm " + s.slurm_job + " " + f->second + "]";
        }
      }
      failed_lines.push_back("  " + t.id + ": " + s.detail + extra + "\n    log: " + s.log);
      break;
    }
    case TaskState::Pending:
      if (q != queued.end()) {
        ++c.queued;
        if (list_all) {
          other_lines.push_back("  queued   " + t.id + " [Slurm " + slurm + " " + q->second + "]");
        }
      } else {
        ++c.pending;
        if (list_all) {
          other_lines.push_back("  pending  " + t.id);
        }
      }
      break;
    }
  }
  out << "study " << plan.name << ": " << plan.directory << "\n";
  char line[160];
  std::snprintf(line, sizeof line, "%-10s %7s %7s %8s %7s %7s %8s\n", "layer", "total", "done",
                "running", "queued", "failed", "pending");
  out << line;
  bool complete = true;
  for (const char* layer : kLayers) {
    const Counts& c = counts[layer];
    std::snprintf(line, sizeof line, "%-10s %7zu %7zu %8zu %7zu %7zu %8zu\n", layer, c.total,
                  c.done, c.running, c.queued, c.failed, c.pending);
    out << line;
    complete = complete && c.done == c.total;
  }
  const Counts& runs = counts["train"];
  out << "runs: " << runs.done << " of " << runs.total << " done";
  if (runs.done > 0) {
    out << "; traces in " << packs.size() << " pack(s)"
        << (unpacked > 0 ? " and " + std::to_string(unpacked) + " file(s) of their own" : "");
  }
  out << "\n";
  if (!note.empty()) {
    out << "note: " << note << "\n";
  }
  if (!failed_lines.empty()) {
    out << "failed (rerun them with: grpo study resume " << plan.directory << "):\n";
    for (const auto& l : failed_lines) {
      out << l << "\n";
    }
  }
  if (!running_lines.empty()) {
    out << "running:\n";
    for (const auto& l : running_lines) {
      out << l << "\n";
    }
  }
  for (const auto& l : other_lines) {
    out << l << "\n";
  }
  if (complete) {
    out << "complete; report: " << plan.path("report/report.md") << "\n";
  }
  return complete ? 0 : 1;
}

} // namespace grpo::jobs
