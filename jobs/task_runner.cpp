// One task of a study: the `grpo study task DIR ID` command every executor launches.
#include "core/error.hpp"
#include "io/trace_pack.hpp"
#include "io/trace_reader.hpp"
#include "jobs/executors.hpp"
#include "jobs/process.hpp"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#ifndef GRPO_SOURCE_ANALYSIS_DIR
#define GRPO_SOURCE_ANALYSIS_DIR ""
#endif

namespace grpo::jobs {

namespace fs = std::filesystem;
using json = nlohmann::json;

Toolchain default_toolchain(const Plan& plan) {
  Toolchain t;
  t.grpo = self_executable();
  if (!plan.python.empty()) {
    t.python = plan.python;
  } else if (access("/usr/bin/python3", X_OK) == 0) {
    t.python = "/usr/bin/python3"; // Debian's, with h5py (a venv's python3 may lack it)
  } else {
    t.python = "python3";
  }
  std::error_code ec;
  const char* env = std::getenv("GRPO_ANALYSIS_DIR");
  const fs::path installed = fs::path(t.grpo).parent_path().parent_path() / "share/grpo/analysis";
  if (env != nullptr && *env != '\0') {
    t.analysis_dir = env;
  } else if (fs::is_regular_file(installed / "study_report.py", ec)) {
    t.analysis_dir = installed.string();
  } else {
    t.analysis_dir = GRPO_SOURCE_ANALYSIS_DIR;
  }
  return t;
}

std::vector<std::string> task_command(const Plan& plan, const Task& task, const Toolchain& tools) {
  std::vector<std::string> argv;
  switch (task.kind) {
  case TaskKind::Generate:
    argv = {tools.grpo, "generate", "--out=" + plan.path(task.output)};
    for (const auto& [k, v] : task.options) {
      argv.push_back("--" + k + "=" + v);
    }
    break;
  case TaskKind::Convert: // options: input first
    argv = {tools.grpo, "convert", task.source};
    for (const auto& [k, v] : task.options) {
      argv.push_back("--" + k + "=" + v);
    }
    argv.push_back("--out=" + plan.path(task.output));
    break;
  case TaskKind::Train:
    if (task.ranks > 1) {
      argv = {plan.mpiexec, "-n", std::to_string(task.ranks)};
    }
    argv.insert(argv.end(), {tools.grpo, "train", "--dataset=" + plan.path(task.dataset),
                             "--out=" + plan.path(task.output)});
    for (const auto& [k, v] : task.options) {
      argv.push_back("--" + k + "=" + v);
    }
    break;
  case TaskKind::Aggregate:
    break;
  case TaskKind::Report:
    argv = {tools.python, (fs::path(tools.analysis_dir) / "study_report.py").string(),
            plan.directory};
    break;
  }
  return argv;
}

namespace {

volatile std::sig_atomic_t g_signal = 0;
volatile pid_t g_child = 0;

extern "C" void forward_signal(int sig) {
  g_signal = sig;
  if (g_child > 0) {
    kill(-g_child, sig);
  }
}

/// The failed markers that the handler of an in-process run writes, one per forwarded signal
/// (SIGTERM, SIGINT, SIGHUP), prepared before the run; null outside of one.
const PreparedMarker* volatile g_interrupted_markers = nullptr;

int forwarded_index(int sig) { return sig == SIGTERM ? 0 : sig == SIGINT ? 1 : 2; }

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

/// A signal during an in-process run: the run cannot be stopped cleanly, so the process ends
/// here, leaving the run's failed marker (async-signal-safe calls only) and the log line.
extern "C" void interrupt_in_process_run(int sig) {
  const PreparedMarker* markers = g_interrupted_markers;
  if (markers != nullptr) {
    const PreparedMarker& m = markers[forwarded_index(sig)];
    const int fd = open(m.temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      write_all(fd, m.text);
      close(fd);
      rename(m.temporary.c_str(), m.path.c_str());
    }
    unlink(m.running.c_str());
    write_all(STDERR_FILENO, "grpo study: interrupted by a signal during the run\n");
  }
  _exit(128 + sig);
}

std::string slurm_job_id() {
  const char* array_job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* array_task = std::getenv("SLURM_ARRAY_TASK_ID");
  if (array_job != nullptr && array_task != nullptr) {
    return std::string(array_job) + "_" + array_task;
  }
  const char* job = std::getenv("SLURM_JOB_ID");
  return job != nullptr ? job : "";
}

/// A training run succeeded only if its trace says so.
std::string check_output(const Plan& plan, const Task& task) {
  const std::string path = plan.path(task.output);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return "the task exited 0 but did not write '" + path + "'";
  }
  if (task.kind == TaskKind::Train) {
    try {
      const auto status = io::TraceReader(path).status();
      if (status != "completed") {
        return "trace '" + path + "' has status '" + status + "'";
      }
    } catch (const Error& e) {
      return std::string("cannot read the trace: ") + e.what();
    }
  }
  return "";
}

/// A task whose command succeeded: done if its output checks out.
template <class Append>
int finish(const Plan& plan, const Task& task, double seconds, const Append& append) {
  if (const std::string why = check_output(plan, task); !why.empty()) {
    append("grpo study: " + why);
    mark_failed(plan, task, why, seconds);
    return 1;
  }
  append("grpo study: done in " + format_double(seconds) + " s");
  mark_done(plan, task, seconds);
  return 0;
}

/// Restores what train_in_process redirects, whatever way the run ends.
class Redirection {
public:
  Redirection(const std::string& log, const std::string& directory) {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const int fd = open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) {
      throw IoError("cannot write the task log '" + log + "'");
    }
    m_out = dup(STDOUT_FILENO);
    m_err = dup(STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    std::error_code ec;
    m_cwd = fs::current_path(ec);
    fs::current_path(directory, ec);
    if (ec) {
      restore();
      throw IoError("cannot enter the study directory '" + directory + "': " + ec.message());
    }
  }
  ~Redirection() { restore(); }
  Redirection(const Redirection&) = delete;
  Redirection& operator=(const Redirection&) = delete;

private:
  void restore() {
    if (m_out < 0) {
      return;
    }
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    dup2(m_out, STDOUT_FILENO);
    dup2(m_err, STDERR_FILENO);
    close(m_out);
    close(m_err);
    m_out = -1;
    std::error_code ec;
    fs::current_path(m_cwd, ec);
  }
  int m_out = -1;
  int m_err = -1;
  fs::path m_cwd;
};

/// Runs a task's grpo command in this process (Toolchain::run_here), in the study directory
/// with its output in the task's log, as the spawned command would. A forwarded signal ends the
/// process with the task's failed marker (interrupt_in_process_run).
int run_in_process(const Plan& plan, const Task& task, const std::vector<std::string>& argv,
                   const Toolchain& tools, const std::string& log) {
  PreparedMarker markers[3];
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    markers[forwarded_index(sig)] = prepare_failed_marker(
        plan, task,
        std::string("interrupted: the task received signal ") + std::to_string(sig) + " (" +
            strsignal(sig) + ") while it ran in the study's process");
  }
  const std::vector<std::string> command(argv.begin() + 1, argv.end()); // without `grpo`
  const Redirection redirection(log, plan.directory);
  g_interrupted_markers = markers;
  struct sigaction action {};
  struct sigaction previous[3]{};
  action.sa_handler = interrupt_in_process_run;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    sigaction(sig, &action, &previous[forwarded_index(sig)]);
  }
  if (g_signal != 0) { // a signal that came before the handler
    interrupt_in_process_run(g_signal);
  }
  int code = 0;
  try {
    code = tools.run_here(command);
  } catch (...) {
    code = static_cast<int>(ExitCode::Internal);
  }
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    sigaction(sig, &previous[forwarded_index(sig)], nullptr);
  }
  g_interrupted_markers = nullptr;
  return code;
}

} // namespace

bool runs_here(const Task& task) {
  return (task.kind == TaskKind::Train && task.ranks == 1) || task.kind == TaskKind::Generate ||
         task.kind == TaskKind::Convert;
}

int run_task(const Plan& plan, const std::string& task_id, const Toolchain& tools) {
  const Task* found = plan.find(task_id);
  if (found == nullptr) {
    throw ConfigError("study '" + plan.directory + "': no task '" + task_id + "' in plan.json");
  }
  const Task& task = *found;
  const std::string log = log_path(plan, task);
  {
    std::ofstream truncate(log, std::ios::trunc);
    if (!truncate) {
      throw IoError("cannot write the task log '" + log + "'");
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const auto append = [&](const std::string& line) {
    std::ofstream out(log, std::ios::app);
    out << line << "\n";
  };
  for (const auto& dep : task.deps) {
    const Task* d = plan.find(dep);
    if (d == nullptr || read_status(plan, *d).state != TaskState::Done) {
      const std::string why = "dependency '" + dep + "' is not done";
      append("grpo study: " + why);
      mark_failed(plan, task, why, 0.0);
      return 1;
    }
  }
  mark_running(plan, task, static_cast<int>(getpid()), slurm_job_id());

  if (task.kind == TaskKind::Aggregate) {
    try {
      aggregate_cell(plan, task);
    } catch (const Error& e) {
      append(std::string("error: ") + e.what());
      mark_failed(plan, task, e.what(), seconds());
      return e.exit_code();
    }
    append("grpo study: wrote " + plan.path(task.output));
    mark_done(plan, task, seconds());
    return 0;
  }

  const auto argv = task_command(plan, task, tools);
  append("# grpo study task " + task.id + " (" + task_kind_name(task.kind) + ")");
  append("# " + shell_command(argv));
  if (runs_here(task) && tools.run_here) {
    append("# (in the study's process)");
    const int code = run_in_process(plan, task, argv, tools, log);
    if (code != 0) {
      const std::string why =
          task_kind_name(task.kind) + std::string(" exit code ") + std::to_string(code);
      append("grpo study: " + why);
      mark_failed(plan, task, why, seconds());
      return code;
    }
    return finish(plan, task, seconds(), append);
  }
  struct sigaction action {};
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    sigaction(sig, &action, nullptr);
  }
  ExitStatus status;
  try {
    // Tasks run in the study directory, and die with this runner (no orphan writing outputs).
    const pid_t pid = spawn(argv, log, plan.directory, true);
    g_child = pid;
    if (g_signal != 0) {
      kill(-pid, g_signal);
    }
    status = wait_for(pid);
    g_child = 0;
  } catch (const Error& e) {
    mark_failed(plan, task, e.what(), seconds());
    return e.exit_code();
  }
  if (g_signal != 0) {
    const std::string why = std::string("interrupted: the task received signal ") +
                            std::to_string(g_signal) + " (" + strsignal(g_signal) +
                            "); the command " + status.describe();
    append("grpo study: " + why);
    mark_failed(plan, task, why, seconds());
    return 128 + g_signal;
  }
  if (!status.ok()) {
    const std::string why = task_kind_name(task.kind) + std::string(" ") + status.describe();
    append("grpo study: " + why);
    mark_failed(plan, task, why, seconds());
    return status.signal != 0 ? 128 + status.signal : status.code;
  }
  return finish(plan, task, seconds(), append);
}

int run_tasks(const Plan& plan, const std::vector<std::string>& task_ids, const Toolchain& tools) {
  int first_failure = 0;
  for (const auto& id : task_ids) {
    const Task* task = plan.find(id);
    if (task != nullptr && read_status(plan, *task).state == TaskState::Done) {
      continue; // a requeued Slurm element: its finished tasks stay done
    }
    const int code = run_task(plan, id, tools);
    if (g_signal != 0) {
      return 128 + g_signal; // interrupted: the other tasks stay pending
    }
    if (code != 0 && first_failure == 0) {
      first_failure = code;
    }
  }
  // One trace file per bundle. A pack that cannot be written leaves the runs' own files, which
  // every reader takes as well: the bundle's result stands.
  try {
    const std::string pack = pack_traces(plan, task_ids);
    if (!pack.empty()) {
      std::cout << "grpo study: packed the traces of the bundle into " << pack << std::endl;
    }
  } catch (const Error& e) {
    std::cerr << "grpo study: the bundle's traces stay unpacked: " << e.what() << std::endl;
  }
  return first_failure;
}

// ---- Aggregation

namespace {

const char* const kHeadline[] = {"worst_val_loss", "worst_train_loss", "max_reward_error", "max_kl",
                                 "objective", "gap", "gap_upper", "gap_lower", "gap_last",
                                 "param_norm", "wall_seconds",
                                 // MLP runs (grpo train --policy mlp) on data with a test split
                                 "worst_test_loss", "worst_test_reward_accuracy",
                                 "average_test_reward_accuracy", "worst_val_reward_accuracy"};

json stats(const std::vector<double>& values) {
  json o{{"values", values}};
  const auto n = static_cast<double>(values.size());
  if (values.empty()) {
    o["mean"] = nullptr;
    o["sem"] = nullptr;
    return o;
  }
  double mean = 0.0;
  for (double v : values) {
    mean += v;
  }
  mean /= n;
  o["mean"] = mean;
  if (values.size() < 2) {
    o["sem"] = nullptr;
    return o;
  }
  double ss = 0.0;
  for (double v : values) {
    ss += (v - mean) * (v - mean);
  }
  o["sem"] = std::sqrt(ss / (n - 1.0)) / std::sqrt(n);
  return o;
}

using PackCache = std::map<std::string, std::unique_ptr<io::TracePack>>;

/// A training run's trace status and the last value of each headline metric it has, from its
/// own trace file while that exists, else from the pack its done marker names.
std::pair<std::string, std::map<std::string, double>>
final_values(const Plan& plan, const Task& task, PackCache& packs) {
  std::map<std::string, double> last;
  const std::string path = plan.path(task.output);
  std::error_code ec;
  const std::string pack = fs::exists(path, ec) ? std::string() : read_status(plan, task).pack;
  if (pack.empty()) {
    const io::TraceReader trace(path);
    for (const char* name : kHeadline) {
      if (const auto value = trace.last(name)) {
        last[name] = *value;
      }
    }
    return {trace.status(), last};
  }
  auto& open = packs[pack];
  if (!open) {
    open = std::make_unique<io::TracePack>(plan.path(pack));
  }
  const auto run = open->find(task.id, task.hash);
  if (!run) {
    throw DataError("trace pack '" + plan.path(pack) + "' does not hold run '" + task.id +
                    "' (hash " + task.hash + ")");
  }
  for (const char* name : kHeadline) {
    if (const auto value = open->last(*run, name)) {
      last[name] = *value;
    }
  }
  return {open->status(*run), last};
}

} // namespace

void aggregate_cell(const Plan& plan, const Task& task) {
  const Cell* cell = nullptr;
  for (const auto& c : plan.cells) {
    if (c.id == task.cell) {
      cell = &c;
    }
  }
  if (cell == nullptr) {
    throw DataError("study plan '" + plan.path("plan.json") + "': no cell '" + task.cell + "'");
  }
  json out{{"cell", cell->id},       {"experiment", cell->experiment}, {"data", cell->data},
           {"method", cell->method}, {"params", cell->params},         {"seeds", json::array()},
           {"runs", json::array()},  {"missing", json::array()}};
  std::map<std::string, std::vector<double>> finals;
  PackCache packs;
  for (const auto& run : cell->runs) {
    const Task* t = plan.find(run);
    if (t == nullptr) {
      throw DataError("study plan '" + plan.path("plan.json") + "': no task '" + run + "'");
    }
    try {
      const auto [status, last] = final_values(plan, *t, packs);
      if (status != "completed") {
        out["missing"].push_back({{"run", t->output}, {"why", "status: " + status}});
        continue;
      }
      for (const auto& [name, value] : last) {
        finals[name].push_back(value);
      }
      out["seeds"].push_back(t->seed);
      out["runs"].push_back(t->output);
    } catch (const Error& e) {
      out["missing"].push_back({{"run", t->output}, {"why", e.what()}});
    }
  }
  json final_stats = json::object();
  for (const auto& [name, values] : finals) {
    final_stats[name] = stats(values);
  }
  out["final"] = final_stats;
  if (out["runs"].empty()) {
    throw DataError("cell '" + cell->id + "': no completed trace among its " +
                    std::to_string(cell->runs.size()) + " runs");
  }
  write_file_atomic(plan.path(task.output), out.dump(1) + "\n");
}

} // namespace grpo::jobs
