// Running a study's plan: one task at a time (`grpo study task`, what every executor launches,
// locally or inside a Slurm job), the local executor (bounded concurrency on this machine), the
// Slurm executor (one job array per layer chained by afterok dependencies) and the status view.
#pragma once

#include "jobs/plan.hpp"

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace grpo::jobs {

/// Where the programs a task needs are.
struct Toolchain {
  std::string grpo;         ///< this executable
  std::string python;       ///< interpreter of the report
  std::string analysis_dir; ///< folder holding study_report.py
  /// When set, runs `grpo COMMAND ARGS` (given without the executable: "train", "--dataset=...",
  /// ...) in this process and returns its exit code, errors printed as the command prints them:
  /// one-rank training runs, generations and conversions (runs_here) then run in the study's
  /// process instead of a child (the tasks of a bundle share one start-up).
  std::function<int(const std::vector<std::string>& command)> run_here;
};

/// Whether a task's command can run inside a study's process (Toolchain::run_here): a one-rank
/// training run, a generation or a conversion (not a multi-rank run nor the Python report).
bool runs_here(const Task& task);
/// grpo = this executable; python from the plan (or /usr/bin/python3, or python3 on PATH);
/// analysis from $GRPO_ANALYSIS_DIR, the install tree, or the source tree.
Toolchain default_toolchain(const Plan& plan);

/// The command a generate, convert, train or report task runs (empty for aggregation, done
/// in-process).
std::vector<std::string> task_command(const Plan& plan, const Task& task, const Toolchain& tools);

/// Runs one task here: checks its dependencies are done, writes the running marker, runs the
/// command with its output in logs/<id>.log, checks the output, and leaves a done or failed
/// marker. SIGTERM/SIGINT/SIGHUP are forwarded to the command and recorded. Returns 0 on success,
/// else the failure's exit code (128 + signal when killed).
int run_task(const Plan& plan, const std::string& task_id, const Toolchain& tools);

/// Runs a bundle of tasks here, in order, each as run_task does (its own markers and log), but
/// skips those already done (a requeued Slurm element resumes its bundle): a task that fails
/// does not stop the others; a forwarded signal stops the bundle, leaving the
/// tasks not yet started pending. Returns 0 when every task succeeded, else the first failure's
/// code (128 + signal when interrupted).
int run_tasks(const Plan& plan, const std::vector<std::string>& task_ids, const Toolchain& tools);

/// Reads the traces of a cell and writes cells/<id>.json: the last value of every headline
/// metric of every run, and their mean and standard error over seeds.
void aggregate_cell(const Plan& plan, const Task& task);

/// Runs every task that is not done, dependencies first, at most `jobs` cores busy (a training
/// task with R ranks takes R); tasks depending on a failed one are skipped. One-rank training
/// runs go in bundles of up to `bundle` ready runs (0: auto_bundle_size), one process each
/// (`grpo study task DIR ID...`). Returns 0 when the whole plan is done.
int run_local(const Plan& plan, const Toolchain& tools, int jobs, int bundle, std::ostream& out);

/// The bundle size for `runs` pending one-rank runs on `jobs` cores: about four bundles a core
/// (runs of unequal length still balance), at most 32 runs a bundle.
int auto_bundle_size(std::size_t runs, int jobs);

/// The limits of a Slurm cluster that bound a submission (Slurm's defaults when unknown).
struct SlurmLimits {
  std::size_t max_array_size = 1001; ///< array indices 0 to MaxArraySize - 1
  std::size_t max_job_count = 10000;
};
/// MaxArraySize and MaxJobCount from the text of `scontrol show config` (defaults for what it
/// does not say).
SlurmLimits parse_slurm_config(const std::string& text);
/// This cluster's limits through `scontrol show config`; the defaults, with a note saying so,
/// when scontrol is absent or fails.
SlurmLimits slurm_limits(std::string& note);
/// The number of array elements for arrays of `tasks[i]` tasks: at most min(MaxArraySize, 1000)
/// each, and together at most half of MaxJobCount (never fewer than one an array); an array
/// with no more tasks than that gets one task an element.
std::vector<std::size_t> array_elements(const std::vector<std::size_t>& tasks,
                                        const SlurmLimits& limits);

/// Writes one sbatch script per layer (per rank count in the training layer) for the tasks that
/// are not done, packed into array elements within the cluster's limits (array_elements), and
/// submits them with --dependency=afterok on the previous layers (unless dry_run: then prints the
/// scripts and the sbatch commands). Refuses while tasks of the study are still queued or running
/// in Slurm.
int submit_slurm(const Plan& plan, const Toolchain& tools, bool dry_run, std::ostream& out);

/// The state of every layer and the failed and running tasks with their logs, from the markers
/// and, when Slurm is present, squeue/sacct. Returns 0 when everything is done, 1 otherwise.
int print_status(const Plan& plan, std::ostream& out, bool list_all);

} // namespace grpo::jobs
