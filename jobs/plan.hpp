// The task graph of a study (DESIGN.md "A study is a task graph"): data tasks -> one training
// task per (experiment, data, method, grid point, seed) -> one aggregation per cell (a grid point
// over its seeds) -> the report. The plan is stored as plan.json in the study directory and is
// everything an executor or a Slurm job needs; each task leaves a marker in tasks/.
#pragma once

#include "jobs/study_file.hpp"

#include <map>
#include <string>
#include <vector>

namespace grpo::jobs {

enum class TaskKind { Generate, Train, Aggregate, Report, Convert };
const char* task_kind_name(TaskKind kind);

struct Task {
  std::string id; ///< safe name: data.NAME, train.EXP.NNNNN, aggregate.EXP.cNNNN, report
  TaskKind kind = TaskKind::Train;
  std::vector<std::string> deps;
  std::string output;  ///< relative to the study directory
  OptionList options;  ///< generate / convert / train options (train: without dataset and out)
  std::string source;  ///< convert: the source of `grpo convert SOURCE`
  std::string dataset; ///< train: the dataset (absolute, or relative to the study directory)
  int ranks = 1;
  // Identity of a training task (and of its cell).
  std::string experiment;
  std::string data;
  std::string method;
  std::map<std::string, std::string> params; ///< the grid/case values of its cell
  std::uint64_t seed = 0;
  std::string cell;
  std::string hash; ///< of everything that defines the task's result

  /// Layer name: data (generate and convert), train, aggregate, report.
  const char* layer() const;
};

struct Cell {
  std::string id;
  std::string experiment;
  std::string data;
  std::string method;
  std::map<std::string, std::string> params;
  std::vector<std::string> runs; ///< training task ids
};

struct Plan {
  std::string name;
  std::string study_file;
  std::string directory; ///< absolute
  std::string executor = "local";
  int jobs = 0;
  std::string mpiexec = "mpirun";
  std::string python;
  SlurmResources slurm;
  std::vector<Task> tasks; ///< in dependency order
  std::vector<Cell> cells;
  std::vector<ExperimentSpec> experiments; ///< name, kind, x (the rest is in the tasks)

  const Task* find(const std::string& id) const;
  std::string path(const std::string& relative) const; ///< inside the study directory
};

/// A relative path of safe components (no "..", not absolute): outputs stay in the study.
bool is_safe_relative(const std::string& path);

/// The layers in execution order.
extern const char* const kLayers[4];

Plan build_plan(const StudySpec& spec);

/// plan.json (docs/studies.md). read_plan throws DataError naming the file and field.
std::string plan_to_json(const Plan& plan);
void write_plan(const Plan& plan);
Plan read_plan(const std::string& directory);

/// Atomic small-file write: `path`.tmp, then rename.
void write_file_atomic(const std::string& path, const std::string& text);

// ---- Markers: tasks/<id>.done | .failed | .running, JSON objects.

enum class TaskState { Pending, Running, Done, Failed };
const char* task_state_name(TaskState state);

struct TaskStatus {
  TaskState state = TaskState::Pending;
  std::string detail; ///< failed: why; running: where (host, pid, Slurm job)
  std::string log;    ///< the task's log file (absolute)
  double seconds = 0.0;
  int pid = 0;
  std::string host;
  std::string slurm_job; ///< "jobid_index" when run under Slurm
  /// done: the trace pack that holds the run's trace (relative to the study), empty while
  /// the trace is its own file (Task::output)
  std::string pack;
};

std::string log_path(const Plan& plan, const Task& task);
/// The marker state of a task; a done marker whose hash differs from the task's (the study file
/// changed) counts as pending.
TaskStatus read_status(const Plan& plan, const Task& task);
void mark_running(const Plan& plan, const Task& task, int pid, const std::string& slurm_job);
void mark_done(const Plan& plan, const Task& task, double seconds);
void mark_failed(const Plan& plan, const Task& task, const std::string& why, double seconds);
/// Records in a done task's marker that its trace now lives in `pack` (relative to the study);
/// false (and nothing written) when the task is not done.
bool mark_packed(const Plan& plan, const Task& task, const std::string& pack);

// ---- Trace packs (docs/formats.md): one file per bundle.

/// Packs the traces of the finished training runs among `task_ids` whose trace is still its own
/// file into one pack, runs/pack.<first id>[.N].h5 beside them; records the pack in their done
/// markers and then removes their files. Returns the pack's path relative to the study (empty
/// when there was nothing to pack). Throws on an I/O or data error, leaving every trace as it
/// was (a pack already renamed into place but not recorded is ignored by readers).
std::string pack_traces(const Plan& plan, const std::vector<std::string>& task_ids);

/// A failed marker written ahead of time, for a signal handler: it writes `text` to `temporary`,
/// renames it to `path` and removes `running` with async-signal-safe calls only.
struct PreparedMarker {
  std::string path;
  std::string temporary;
  std::string running;
  std::string text;
};
PreparedMarker prepare_failed_marker(const Plan& plan, const Task& task, const std::string& why);

} // namespace grpo::jobs
