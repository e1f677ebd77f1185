#include "solver/neural_trainer.hpp"

namespace grpo::solver {

std::vector<TraceRecord::Column> metric_columns(const std::string& split, const PairMetrics& m) {
  std::vector<TraceRecord::Column> out;
  const auto vec = [&](const std::string& name, const std::vector<double>& v) {
    out.push_back({split + "_" + name, v, true});
  };
  const auto scalar = [&](const std::string& name, double v) { out.push_back({name, {v}, false}); };
  vec("reward_accuracy", m.reward_accuracy);
  vec("logprob_accuracy", m.logprob_accuracy);
  vec("reference_accuracy", m.reference_accuracy);
  vec("reward_margin", m.reward_margin);
  if (!m.nll.empty()) {
    vec("nll", m.nll);
  }
  scalar("worst_" + split + "_reward_accuracy", m.worst_reward_accuracy);
  scalar("average_" + split + "_reward_accuracy", m.average_reward_accuracy);
  scalar("worst_" + split + "_logprob_accuracy", m.worst_logprob_accuracy);
  scalar("average_" + split + "_logprob_accuracy", m.average_logprob_accuracy);
  scalar("average_" + split + "_loss", m.average_loss);
  return out;
}

TraceRecord evaluate_neural(NeuralSolver& solver, const NeuralData& data,
                            const NeuralStepReport& last, double wall_seconds) {
  TraceRecord r;
  r.iteration = last.iteration;
  r.wall_seconds = wall_seconds;
  r.alpha = solver.alpha();
  r.weights = solver.weights();
  r.batch_loss = last.batch_loss;
  r.objective = last.loss;
  r.grad_norm = last.grad_norm;
  r.param_norm = solver.param_norm();
  r.step_theta = solver.lr();
  r.step_alpha = solver.step_alpha();
  r.empty_group_steps = last.empty_groups;

  const auto train = solver.evaluate(*data.train);
  r.train_loss = train.loss;
  r.worst_train_loss = train.worst_loss;
  r.extra = metric_columns("train", train);
  if (data.val != nullptr && !data.val->empty()) {
    const auto val = solver.evaluate(*data.val);
    r.val_loss = val.loss;
    r.worst_val_loss = val.worst_loss;
    const auto cols = metric_columns("val", val);
    r.extra.insert(r.extra.end(), cols.begin(), cols.end());
  }
  if (data.test != nullptr && !data.test->empty()) {
    const auto test = solver.evaluate(*data.test);
    r.extra.push_back({"test_loss", test.loss, true});
    r.extra.push_back({"worst_test_loss", {test.worst_loss}, false});
    const auto cols = metric_columns("test", test);
    r.extra.insert(r.extra.end(), cols.begin(), cols.end());
  }
  return r;
}

double train_neural(NeuralSolver& solver, const NeuralData& data, const TraceOptions& options,
                    const RecordSink& sink) {
  NeuralStepReport last;
  return training_loop(
      options, solver.config().iterations, [&] { return solver.iterations_done(); },
      [&] {
        last = solver.step();
        return last.iteration;
      },
      [&](index_t, double wall) {
        TraceRecord record = evaluate_neural(solver, data, last, wall);
        sink(record);
        return record;
      },
      &solver.schedule());
}

} // namespace grpo::solver
