// Trainer: the training loop of ALGORITHM.md §2.5 around a MinimaxSolver. After the update of
// step t it evaluates every metric when t % trace_every == 0, and once more after the last step,
// and hands each record to a sink (the HDF5 trace writer, a progress printer, a test). Every rank
// runs the same loop (metrics are collective); sinks decide who writes.
#pragma once

#include "core/trace_record.hpp"
#include "solver/certificate.hpp"
#include "solver/metrics.hpp"
#include "solver/minimax_solver.hpp"

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace grpo::solver {

struct TrainingData {
  const policies::PreferenceSplit* train = nullptr;
  const policies::PreferenceSplit* val = nullptr; ///< optional
  const RewardEnvironment* env = nullptr;         ///< optional
};

using RecordSink = std::function<void(const TraceRecord&)>;

/// When records are made and what they contain.
struct TraceOptions {
  index_t every = 100; ///< a record after step t when t % every == 0, and after the last step
  bool gap = false;    ///< certified duality gap at every record (Newton passes over the data)
  /// > 0: `checkpoint` is called when the number of steps done is a multiple of this (after that
  /// step's record, if any), except after the last step.
  index_t checkpoint_every = 0;
  std::function<void(double wall_seconds)> checkpoint;
  /// Added to every record's wall_seconds: the time a resumed run had already spent.
  double wall_offset = 0.0;
};

/// Work arrays of the metric passes, kept between records.
struct EvaluationScratch {
  FusedLossGradient train;
  FusedLossGradient val;
  std::unique_ptr<DualityGap> gap; ///< set to evaluate the certificate
};

/// Evaluates every metric at the solver's current state (collective); the duality gap too when
/// scratch->gap is set.
TraceRecord evaluate(const MinimaxSolver& solver, const TrainingData& data, index_t iteration,
                     double wall_seconds, EvaluationScratch* scratch = nullptr);

/// The loop of every policy: from `done()` steps to `total`, `step()` makes one step and returns
/// its 0-based index t; `record(t, wall)` is called after step t when t % options.every == 0 and
/// after the last step; options.checkpoint when the steps done are a multiple of
/// options.checkpoint_every (after that step's record), except after the last step. `record`
/// returns the record it made; `schedule` (when given) observes it before any checkpoint, and
/// once the schedule has stopped the loop ends there (early stopping): that record is the last.
/// Wall-clock times include options.wall_offset. Returns the seconds spent in the loop.
double training_loop(const TraceOptions& options, index_t total,
                     const std::function<index_t()>& done, const std::function<index_t()>& step,
                     const std::function<TraceRecord(index_t, double)>& record,
                     LrSchedule* schedule = nullptr);

/// Runs the steps from the solver's current iteration (0, or a restored checkpoint's) to
/// config.iterations, or until the plateau schedule stops the run; calls `sink` on every rank for
/// every record, then feeds the record to the schedule (LrSchedule::observe). Returns the
/// seconds spent in the loop, records included. The ensemble of one (train_ensemble).
double train(MinimaxSolver& solver, const TrainingData& data, const TraceOptions& options,
             const RecordSink& sink);
/// One run of an ensemble (train_ensemble).
struct EnsembleRun {
  MinimaxSolver* solver = nullptr;
  TrainingData data;
  TraceOptions options;
  RecordSink sink;
};

/// How a run of an ensemble ended.
struct EnsembleResult {
  double seconds = 0.0;     ///< from the start of the ensemble's loop to the run's end
  std::exception_ptr error; ///< the NumericalError that stopped the run (null: it completed)
};

/// Trains R runs in lockstep: each pass of the loop makes one step of every run that is not
/// done (MinimaxSolver::step_runs: runs sharing a split share its pass over the data, and one
/// Allreduce carries every run's values), then each run's records, schedule observations and
/// checkpoints exactly as train() would alone: a run's records are bit for bit those of the run
/// alone, wall-clock columns aside. Runs may differ in method, hyperparameters, seed, length
/// and data. A run whose step fails with a NumericalError (divergence) stops with that error in
/// its result; its siblings go on. Any other error ends the ensemble (it is thrown). The
/// solvers must share one communicator's ranks.
std::vector<EnsembleResult> train_ensemble(const std::vector<EnsembleRun>& runs);

inline double train(MinimaxSolver& solver, const TrainingData& data, index_t trace_every,
                    const RecordSink& sink) {
  TraceOptions options;
  options.every = trace_every;
  return train(solver, data, options, sink);
}

} // namespace grpo::solver
