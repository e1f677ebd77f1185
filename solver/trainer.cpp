#include "solver/trainer.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace grpo::solver {

std::vector<std::pair<std::string, std::vector<double>>> TraceRecord::columns() const {
  std::vector<std::pair<std::string, std::vector<double>>> out;
  out.emplace_back("alpha", alpha);
  out.emplace_back("weights", weights);
  out.emplace_back("train_loss", train_loss);
  out.emplace_back("worst_train_loss", std::vector<double>{worst_train_loss});
  if (!val_loss.empty()) {
    out.emplace_back("val_loss", val_loss);
    out.emplace_back("worst_val_loss", std::vector<double>{worst_val_loss});
  }
  out.emplace_back("batch_loss", batch_loss);
  out.emplace_back("objective", std::vector<double>{objective});
  if (!reward_error.empty()) {
    out.emplace_back("reward_error", reward_error);
    out.emplace_back("reward_error_abs", reward_error_abs);
    out.emplace_back("max_reward_error", std::vector<double>{max_reward_error});
    out.emplace_back("kl", kl);
    out.emplace_back("max_kl", std::vector<double>{max_kl});
  }
  out.emplace_back("theta", theta);
  out.emplace_back("grad_norm", std::vector<double>{grad_norm});
  out.emplace_back("param_norm", std::vector<double>{param_norm});
  out.emplace_back("step_theta", std::vector<double>{step_theta});
  out.emplace_back("step_alpha", std::vector<double>{step_alpha});
  out.emplace_back("live_grad", std::vector<double>{live_grad});
  out.emplace_back("empty_group_steps", std::vector<double>{empty_group_steps});
  out.emplace_back("wall_seconds", std::vector<double>{wall_seconds});
  return out;
}

namespace {
double max_of(const std::vector<double>& v) {
  double m = -INFINITY;
  for (double x : v) {
    m = std::max(m, x);
  }
  return m;
}
} // namespace

TraceRecord evaluate(const MinimaxSolver& solver, const TrainingData& data, index_t iteration,
                     double wall_seconds) {
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
    r.val_loss = group_mean_losses(solver.policy(), config.loss(), config.beta, *data.val, comm);
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
  return r;
}

void train(MinimaxSolver& solver, const TrainingData& data, index_t trace_every,
           const RecordSink& sink) {
  if (trace_every < 1) {
    throw ConfigError("option --trace-every: invalid value " + std::to_string(trace_every) +
                      " (expected an integer >= 1)");
  }
  const auto start = std::chrono::steady_clock::now();
  const index_t total = solver.config().iterations;
  while (solver.iterations_done() < total) {
    const StepReport step = solver.step();
    const index_t t = step.iteration;
    if (t % trace_every == 0 || t == total - 1) {
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      TraceRecord record = evaluate(solver, data, t, wall);
      record.batch_loss = step.batch_loss;
      record.grad_norm = step.grad_norm;
      record.step_theta = step.step_theta;
      record.step_alpha = step.step_alpha;
      record.live_grad = step.live_grad;
      sink(record);
    }
  }
}

} // namespace grpo::solver
