// Running a study's plan: one task at a time (`grpo study task`, what every executor launches,
// locally or inside a Slurm job), the local executor (bounded concurrency on this machine), the
// Slurm executor (one job array per layer chained by afterok dependencies) and the status view.
#pragma once

#include "jobs/plan.hpp"

#include <iosfwd>
#include <string>
#include <vector>

namespace grpo::jobs {

/// Where the programs a task needs are.
struct Toolchain {
  std::string grpo;         ///< this executable
  std::string python;       ///< interpreter of the report
  std::string analysis_dir; ///< folder holding study_report.py
};
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

/// Reads the traces of a cell and writes cells/<id>.json: the last value of every headline
/// metric of every run, and their mean and standard error over seeds.
void aggregate_cell(const Plan& plan, const Task& task);

/// Runs every task that is not done, dependencies first, at most `jobs` cores busy (a training
/// task with R ranks takes R); tasks depending on a failed one are skipped. Returns 0 when the
/// whole plan is done.
int run_local(const Plan& plan, const Toolchain& tools, int jobs, std::ostream& out);

/// Writes one sbatch script per layer (per rank count in the training layer) for the tasks that
/// are not done, and submits them with --dependency=afterok on the previous layers (unless
/// dry_run: then prints the scripts and the sbatch commands). Refuses while tasks of the study
/// are still queued or running in Slurm.
int submit_slurm(const Plan& plan, const Toolchain& tools, bool dry_run, std::ostream& out);

/// The state of every layer and the failed and running tasks with their logs, from the markers
/// and, when Slurm is present, squeue/sacct. Returns 0 when everything is done, 1 otherwise.
int print_status(const Plan& plan, std::ostream& out, bool list_all);

} // namespace grpo::jobs
