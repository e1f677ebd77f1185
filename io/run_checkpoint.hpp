// Checkpoints seen from a training run, for a solver of either policy (anything with
// `SolverState state() const` and `restore(const SolverState&)`): where and how often to write
// them, resuming from one (io::resume_checkpoint), restoring the solver from it, the callback
// that writes them from the training loop, and their removal once the run is complete (its trace
// then holds everything). docs/reliability.md.
#pragma once

#include "core/communicator.hpp"
#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/trace_writer.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace grpo::io {

/// `grpo train`'s --checkpoint-every, --checkpoint and --resume.
struct CheckpointSettings {
  std::int64_t every = 0; ///< steps between checkpoints; 0 = never
  std::string path;       ///< the checkpoint file
  bool resume = false;    ///< continue from `path` if it exists
};

/// Collective. Without `settings.resume`, or with it and no file at `settings.path` yet: nullopt
/// (the run starts from step 0). Else the checkpoint, checked to belong to this run
/// (io::resume_checkpoint: ConfigError for other options, DataError for another dataset).
std::optional<Checkpoint> resume_run(const CheckpointSettings& settings, const std::string& dataset,
                                     const std::string& config_text, const std::string& checksum,
                                     const Communicator& comm);

/// solver.restore(checkpoint.state), with the checkpoint file `path` named in a DataError (the
/// solvers' messages start "checkpoint: ...").
template <class Solver>
void restore_solver(Solver& solver, const Checkpoint& checkpoint, const std::string& path) {
  try {
    solver.restore(checkpoint.state);
  } catch (const DataError& e) {
    throw DataError("'" + path + "': " + e.what());
  }
}

/// The checkpoint callback of solver::TraceOptions: rank 0 writes `base` (the run's
/// configuration, checksum, finals) with the solver's state, the rank count, the trace's record
/// count and the loop's wall time to settings.path. `solver`, `settings`, `trace` and `comm` must
/// outlive the callback.
template <class Solver>
std::function<void(double)> checkpoint_writer(const Solver& solver, Checkpoint base,
                                              const CheckpointSettings& settings,
                                              const TraceWriter& trace, const Communicator& comm) {
  return [&solver, base = std::move(base), &settings, &trace, &comm](double wall_seconds) {
    if (comm.is_root()) {
      Checkpoint c = base;
      c.state = solver.state();
      c.num_ranks = comm.size();
      c.trace_records = trace.records();
      c.wall_seconds = wall_seconds;
      write_checkpoint(settings.path, c);
    }
  };
}

/// After a completed run (rank 0): removes the checkpoint file when the run wrote or resumed one.
void remove_checkpoint(const CheckpointSettings& settings, bool resumed, const Communicator& comm);

} // namespace grpo::io
