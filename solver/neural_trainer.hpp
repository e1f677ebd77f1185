// The training loop of the MLP policy (ALGORITHM.md §8): records of the §8.6 metrics on the
// train, validation and test splits every `every` steps (and after the last), handed to a sink,
// as the log-linear Trainer does. Every rank runs the same loop (metrics are collective).
#pragma once

#include "solver/neural_solver.hpp"
#include "solver/trainer.hpp"

namespace grpo::solver {

struct NeuralData {
  const policies::PreferenceSplit* train = nullptr;
  const policies::PreferenceSplit* val = nullptr;  ///< optional
  const policies::PreferenceSplit* test = nullptr; ///< optional
};

/// The record of the solver's current state: the fixed columns of TraceRecord (alpha, weights,
/// train/val losses, the step's batch loss and objective, norms, step sizes) and, as extra
/// columns, for each split s present: s_reward_accuracy[K], s_logprob_accuracy[K],
/// s_reference_accuracy[K], s_reward_margin[K], s_nll[K] (with options), worst_/average_ of the
/// accuracies (worst = min) and of the loss (worst = max), and test_loss[K].
TraceRecord evaluate_neural(NeuralSolver& solver, const NeuralData& data,
                            const NeuralStepReport& last, double wall_seconds);

/// Metrics of one split as extra trace columns named "<split>_..." (used by evaluate_neural and
/// for the model after the SFT stage).
std::vector<TraceRecord::Column> metric_columns(const std::string& split, const PairMetrics& m);

/// Runs the steps from the solver's current iteration (0, or a restored checkpoint's) to
/// config.iterations, or until the plateau schedule stops the run, with the log-linear policy's
/// loop (training_loop: records, checkpoints, the schedule's observations); calls `sink` on
/// every rank for every record. Returns the seconds spent in the loop.
double train_neural(NeuralSolver& solver, const NeuralData& data, const TraceOptions& options,
                    const RecordSink& sink);
inline double train_neural(NeuralSolver& solver, const NeuralData& data, index_t every,
                           const RecordSink& sink) {
  TraceOptions options;
  options.every = every;
  return train_neural(solver, data, options, sink);
}

} // namespace grpo::solver
