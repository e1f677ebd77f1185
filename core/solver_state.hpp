// SolverState: everything a training step depends on besides the data and the configuration,
// for either policy: what a checkpoint stores (docs/reliability.md). Plain data, so that io/
// writes and reads it without the solver; MinimaxSolver and NeuralSolver fill and restore it.
// Mini-batch draws and pair orders are counter-based functions of (seed, step), so they need no
// state of their own.
#pragma once

#include "core/views.hpp"

#include <string>
#include <vector>

namespace grpo {

struct SolverState {
  std::string policy = "loglinear"; ///< "loglinear" or "mlp"
  index_t iteration = 0;            ///< updates done
  std::vector<double> theta;        ///< the parameters: log-linear theta or the MLP's flat vector
  std::vector<double> log_alpha;
  std::vector<double> alpha_avg;
  // Log-linear policy.
  std::vector<double> theta_avg;
  double adagrad = 0.0; ///< H_t, the accumulated squared gradient norms
  index_t empty_group_steps = 0;
  index_t singular_solves = 0;
  // MLP policy.
  std::vector<double> reference; ///< the frozen reference network (empty: uniform reference)
  std::vector<double> optimizer; ///< solver::Optimizer::export_state()
  double lr = 0.0;               ///< the learning rate of the next step
  // Either policy.
  std::vector<double> schedule; ///< solver::LrSchedule::export_state() (empty: stateless)
};

} // namespace grpo
