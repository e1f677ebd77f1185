#include "solver/trainer.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace grpo::solver {

namespace {
double max_of(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) {
    m = std::max(m, x);
  }
  return m;
}
} // namespace

TraceRecord evaluate(const MinimaxSolver& solver, const TrainingData& data, index_t iteration,
                     double wall_seconds, EvaluationScratch* scratch) {
  const auto& config = solver.config();
  const auto& comm = solver.comm();
  TraceRecord r;
  r.iteration = iteration;
  r.wall_seconds = wall_seconds;
  r.alpha = solver.alpha();
  r.weights = solver.weights();
  r.theta = solver.theta();
  double norm = 0.0;
  for (double x : r.theta) {
    norm += x * x;
  }
  r.param_norm = std::sqrt(norm);
  r.train_loss = group_mean_losses(solver.policy(), config.loss(), config.beta, *data.train, comm);
  r.worst_train_loss = max_of(r.train_loss);
  double mean = 0.0;
  for (double l : r.train_loss) {
    mean += l;
  }
  mean /= static_cast<double>(r.train_loss.size());
  r.objective = (1.0 - config.chi) * mean + config.chi * r.worst_train_loss +
                config.l2 * r.param_norm * r.param_norm;
  if (data.val != nullptr && !data.val->empty()) {
    r.val_loss = group_mean_losses(solver.policy(), config.loss(), config.beta, *data.val, comm,
                                   scratch != nullptr ? &scratch->val : nullptr);
    r.worst_val_loss = max_of(r.val_loss);
  }
  if (data.env != nullptr && !data.env->empty()) {
    const auto rewards = evaluate_rewards(solver.policy(), *data.env, comm);
    r.reward_error = rewards.relative_error;
    r.reward_error_abs = rewards.absolute_error;
    r.max_reward_error = max_of(r.reward_error);
    r.kl = rewards.kl;
    r.max_kl = max_of(r.kl);
  }
  r.empty_group_steps = static_cast<double>(solver.empty_group_steps());
  if (scratch != nullptr && scratch->gap) {
    r.has_gap = true;
    r.gap_avg = scratch->gap->evaluate(solver.theta_avg(), solver.alpha_avg());
    r.gap_last = scratch->gap->evaluate(solver.theta(), solver.alpha());
  }
  return r;
}

double training_loop(const TraceOptions& options, index_t total,
                     const std::function<index_t()>& done, const std::function<index_t()>& step,
                     const std::function<TraceRecord(index_t, double)>& record,
                     LrSchedule* schedule) {
  if (options.every < 1) {
    throw ConfigFieldError("trace.every", "invalid value " + std::to_string(options.every) +
                                              " (expected an integer >= 1)");
  }
  const auto start = std::chrono::steady_clock::now();
  const auto wall = [&] {
    return options.wall_offset +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  while (done() < total) {
    const index_t t = step();
    if (t % options.every == 0 || t == total - 1) {
      const TraceRecord r = record(t, wall());
      if (schedule != nullptr) {
        schedule->observe(r);
        if (schedule->stopped()) {
          break;
        }
      }
    }
    const index_t steps = done();
    if (options.checkpoint_every > 0 && options.checkpoint && steps < total &&
        steps % options.checkpoint_every == 0) {
      options.checkpoint(wall());
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<EnsembleResult> train_ensemble(const std::vector<EnsembleRun>& runs) {
  const std::size_t count = runs.size();
  std::vector<EnsembleResult> results(count);
  std::vector<EvaluationScratch> scratch(count);
  std::vector<std::size_t> active;
  for (std::size_t a = 0; a < count; ++a) {
    const EnsembleRun& run = runs[a];
    if (run.options.every < 1) {
      throw ConfigFieldError("trace.every", "invalid value " + std::to_string(run.options.every) +
                                                " (expected an integer >= 1)");
    }
    if (run.options.gap) {
      scratch[a].gap = std::make_unique<DualityGap>(run.solver->config(), run.solver->comm(),
                                                    *run.data.train, run.solver->group_sizes());
    }
    if (run.solver->iterations_done() < run.solver->config().iterations) {
      active.push_back(a);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  StepScratch step_scratch;
  std::vector<MinimaxSolver*> solvers;
  std::vector<StepOutcome> outcomes;
  std::vector<std::size_t> next;
  while (!active.empty()) {
    solvers.clear();
    for (const std::size_t a : active) {
      solvers.push_back(runs[a].solver);
    }
    outcomes.resize(active.size());
    MinimaxSolver::step_runs(solvers.data(), static_cast<int>(solvers.size()), step_scratch,
                             outcomes.data());
    next.clear();
    for (std::size_t k = 0; k < active.size(); ++k) {
      const std::size_t a = active[k];
      const EnsembleRun& run = runs[a];
      MinimaxSolver& solver = *run.solver;
      const StepOutcome& outcome = outcomes[k];
      if (outcome.error) {
        results[a].error = outcome.error;
        results[a].seconds = elapsed();
        continue;
      }
      const StepReport& last = outcome.report;
      const index_t t = last.iteration;
      const index_t total = solver.config().iterations;
      bool stopped = false;
      if (t % run.options.every == 0 || t == total - 1) {
        TraceRecord record =
            evaluate(solver, run.data, t, run.options.wall_offset + elapsed(), &scratch[a]);
        record.batch_loss = last.batch_loss;
        record.grad_norm = last.grad_norm;
        record.step_theta = last.step_theta;
        record.step_alpha = last.step_alpha;
        record.live_grad = last.live_grad;
        run.sink(record);
        solver.schedule().observe(record);
        stopped = solver.schedule().stopped();
      }
      const index_t steps = solver.iterations_done();
      if (!stopped && run.options.checkpoint_every > 0 && run.options.checkpoint && steps < total &&
          steps % run.options.checkpoint_every == 0) {
        run.options.checkpoint(run.options.wall_offset + elapsed());
      }
      if (stopped || steps >= total) {
        results[a].seconds = elapsed();
      } else {
        next.push_back(a);
      }
    }
    active.swap(next);
  }
  return results;
}

double train(MinimaxSolver& solver, const TrainingData& data, const TraceOptions& options,
             const RecordSink& sink) {
  const auto results = train_ensemble({EnsembleRun{&solver, data, options, sink}});
  if (results[0].error) {
    std::rethrow_exception(results[0].error);
  }
  return results[0].seconds;
}

} // namespace grpo::solver
