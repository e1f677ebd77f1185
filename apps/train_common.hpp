// Shared by the two policies of `grpo train` (cmd_train.cpp: log-linear; cmd_train_mlp.cpp:
// the MLP of solver::NeuralSolver): one option set parsed once, the progress line, and the MLP
// entry points. Internal to apps/.
#pragma once

#include "apps/options.hpp"
#include "core/environment.hpp"
#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/dataset.hpp"
#include "io/trace_writer.hpp"
#include "solver/trainer.hpp"

#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unistd.h>

namespace grpo::app {

/// --dataset and --out, both required and distinct (ConfigError otherwise).
struct RunPaths {
  std::string dataset;
  std::string out;
};
RunPaths required_paths(const ParsedOptions& parsed);

/// --checkpoint-every, --checkpoint (default <out>.ckpt) and --resume, for either policy.
struct CheckpointSetup {
  index_t every = 0;
  std::string path;
  bool resume = false;
};
CheckpointSetup checkpoint_setup(const ParsedOptions& parsed, const RunPaths& paths);

/// With --resume: the checkpoint to continue from (io::resume_checkpoint, collective), or none
/// when there is no checkpoint yet (then a note is printed and the run starts from step 0).
std::optional<io::Checkpoint> resume_run(const CheckpointSetup& setup, const RunPaths& paths,
                                         const std::string& config_text,
                                         const std::string& checksum, const Communicator& comm,
                                         const core::Environment& env);

/// solver.restore(checkpoint.state), with the checkpoint file named in a DataError (the solver's
/// messages start "checkpoint: ...").
template <class Solver>
void restore_checkpoint(Solver& solver, const io::Checkpoint& checkpoint,
                        const CheckpointSetup& setup) {
  try {
    solver.restore(checkpoint.state);
  } catch (const DataError& e) {
    throw DataError("'" + setup.path + "': " + e.what());
  }
}

/// The checkpoint callback of solver::TraceOptions for either policy: rank 0 writes `base` (the
/// run's configuration, checksum, rank count, finals) with the solver's state, the trace's
/// record count and the loop's wall time to setup.path.
template <class Solver>
std::function<void(double)>
checkpoint_writer(const Solver& solver, io::Checkpoint base, const CheckpointSetup& setup,
                  const io::TraceWriter& trace, const Communicator& comm) {
  return [&solver, base = std::move(base), &setup, &trace, &comm](double wall_seconds) {
    if (comm.is_root()) {
      io::Checkpoint c = base;
      c.state = solver.state();
      c.num_ranks = comm.size();
      c.trace_records = trace.records();
      c.wall_seconds = wall_seconds;
      io::write_checkpoint(setup.path, c);
    }
  };
}

/// The learning-rate schedule options (both policies): a group of `grpo train --help`, their
/// values (ConfigError naming the option for a bad value or one that the chosen schedule does
/// not read), the lines of the resolved configuration (none for the constant rate, so that runs
/// without a schedule keep the configuration text and traces of earlier versions), the check
/// that a plateau schedule has a validation split, and the trace attributes at the end of a run
/// with a schedule (steps_done, lr_drops, stopped_early; none without one).
void add_schedule_options(po::options_description& options);
solver::LrScheduleConfig schedule_options(const ParsedOptions& parsed);
std::string render_schedule(const solver::LrScheduleConfig& config);
void check_schedule_data(const solver::LrScheduleConfig& config, const io::DatasetSummary& data);
std::map<std::string, std::int64_t> schedule_attributes(const solver::LrSchedule& schedule,
                                                        index_t steps_done);

/// Adds the options that only the MLP policy reads (a second group of `grpo train --help`).
void add_mlp_options(po::options_description& options);

/// True for --policy mlp, false for loglinear (the default); ConfigError on any other value, and
/// on an option of the other policy ("option --closed-form: not available with --policy mlp").
bool mlp_policy_selected(const ParsedOptions& parsed);

/// Checks an MLP run's options against the dataset's metadata without running it.
void check_train_mlp_options(const ParsedOptions& parsed, const io::DatasetSummary& data);

/// Runs `grpo train --policy mlp`.
int run_train_mlp(core::Environment& env, const ParsedOptions& parsed);

/// Progress on stderr (rank 0): step, worst-group loss, steps/s; at most once a second.
class Progress {
public:
  Progress(bool enabled, index_t total, index_t first = 0, double wall0 = 0.0)
      : m_enabled(enabled)
      , m_total(total)
      , m_first(first)
      , m_last(wall0)
      , m_wall0(wall0) {
    m_tty = isatty(fileno(stderr)) != 0;
  }
  void update(const TraceRecord& r) {
    if (!m_enabled) {
      return;
    }
    const bool last = r.iteration + 1 >= m_total;
    if (!last && r.wall_seconds - m_last < 1.0 && m_printed) {
      return;
    }
    m_last = r.wall_seconds;
    m_printed = true;
    const double elapsed = r.wall_seconds - m_wall0;
    const double rate =
        elapsed > 0 ? static_cast<double>(r.iteration + 1 - m_first) / elapsed : 0.0;
    const bool has_val = !r.val_loss.empty();
    std::string extra;
    if (!r.reward_error.empty()) {
      extra += "  max reward err " + format_double(r.max_reward_error);
    }
    if (r.has_gap) {
      extra += "  gap " + format_double(r.gap_avg.gap);
    }
    std::fprintf(stderr, "%sstep %lld/%lld  worst %s loss %.6g%s  %.3g steps/s%s",
                 m_tty ? "\r" : "", static_cast<long long>(r.iteration) + 1,
                 static_cast<long long>(m_total), has_val ? "val" : "train",
                 has_val ? r.worst_val_loss : r.worst_train_loss, extra.c_str(), rate,
                 m_tty && !last ? "" : "\n");
    std::fflush(stderr);
  }

private:
  bool m_enabled;
  index_t m_total;
  bool m_tty = false;
  bool m_printed = false;
  index_t m_first = 0; ///< steps already done when this process started (resumed runs)
  double m_last = 0.0;
  double m_wall0 = 0.0;
};

} // namespace grpo::app
