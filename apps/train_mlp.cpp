// grpo train --policy mlp: the MLP policy's part of the one run path (apps/train_policy.hpp):
// solver::NeuralSolver (ALGORITHM.md §8), with the optional SFT stage before the preference steps;
// its options and configuration text are rows of the option table (apps/train_options.cpp).
#include "apps/commands.hpp"
#include "apps/train_options.hpp"
#include "apps/train_policy.hpp"
#include "core/error.hpp"
#include "solver/neural_trainer.hpp"

#include <sstream>
#include <string>
#include <vector>

namespace grpo::app {

namespace {

bool all_splits_have_options(const io::DatasetSummary& data) {
  for (const auto& split : data.splits) {
    if (!split.has_options) {
      return false;
    }
  }
  return !data.splits.empty();
}

} // namespace

MlpTraining::Setup MlpTraining::resolve(const ParsedOptions& p, const SummarySource& summary) {
  Setup s;
  s.run.paths = required_paths(p);
  read_train_options(p, s, summary); // NeuralConfig's defaults are the command's
  return s;
}

std::string MlpTraining::render(const Setup& s) { return render_train_options(s); }

void MlpTraining::validate(Setup& setup, const io::DatasetSummary& data) {
  setup.config.network.input_dim = data.feature_dim;
  setup.config.validate(train_group_sizes(data), all_splits_have_options(data));
  check_schedule_data(setup.config.schedule, data);
}

MlpTraining::Init MlpTraining::initial(const Setup& /*setup*/, const io::DatasetSummary& /*data*/) {
  return {};
}

io::LoadOptions MlpTraining::load_options(const io::DatasetSummary& data) {
  io::LoadOptions load;
  load.pair_features = true;
  load.options = all_splits_have_options(data);
  load.test = true;
  return load;
}

std::unique_ptr<MlpTraining::Solver> MlpTraining::make_solver(const Setup& setup,
                                                              const Communicator& comm,
                                                              const io::LoadedDataset& data,
                                                              const Init& /*init*/) {
  return std::make_unique<Solver>(setup.config, comm, data.train);
}

std::string MlpTraining::describe(const Solver& solver) {
  return "network " + solver.policy().config().describe() + ", " +
         std::to_string(solver.policy().num_params()) + " parameters; ";
}

void MlpTraining::add_header(const Setup& /*setup*/, const Solver& solver, io::RunHeader& header) {
  header.policy_text = {{"policy", "mlp"}, {"network", solver.policy().config().describe()}};
  header.policy_int = {{"num_params", solver.policy().num_params()}};
}

namespace {

solver::NeuralData neural_data(const io::LoadedDataset& data) {
  return {&data.train, data.val.empty() ? nullptr : &data.val,
          data.test.empty() ? nullptr : &data.test};
}

} // namespace

void MlpTraining::before_training(const Setup& setup, Solver& solver, const io::LoadedDataset& data,
                                  const io::Checkpoint* resumed, const core::Environment& env,
                                  TraceEnd& end) {
  // Final values computed before the loop (the model after SFT); a checkpoint carries them.
  if (resumed != nullptr) {
    end.finals = resumed->finals;
    end.seconds["sft_seconds"] = resumed->sft_seconds;
    return;
  }
  const double sft_nll = solver.prepare();
  const double sft_seconds = solver.sft_seconds();
  end.seconds["sft_seconds"] = sft_seconds;
  if (setup.config.sft_steps > 0) {
    // The model after the SFT stage (the reference of the preference stage by default).
    end.finals["sft_train_nll"] = {sft_nll};
    const auto splits = neural_data(data);
    for (const auto* split : {splits.val, splits.test}) {
      if (split == nullptr) {
        continue;
      }
      for (const auto& column : solver::metric_columns(split->name, solver.evaluate(*split))) {
        end.finals["sft_" + column.name] = column.values;
      }
    }
    if (!setup.run.quiet) {
      root_print(env, "# SFT: " + std::to_string(setup.config.sft_steps) +
                          " steps, last batch NLL " + format_double(sft_nll) + ", " +
                          format_double(sft_seconds) + " s\n");
    }
  }
}

solver::TraceOptions MlpTraining::trace_options(const Setup& /*setup*/) { return {}; }

double MlpTraining::train(Solver& solver, const io::LoadedDataset& data,
                          const solver::TraceOptions& options, const solver::RecordSink& sink) {
  return solver::train_neural(solver, neural_data(data), options, sink);
}

void MlpTraining::after_record(const Setup& /*setup*/, const Solver& /*solver*/,
                               const Communicator& /*comm*/, const TraceRecord& /*record*/) {}

void MlpTraining::add_end(const Solver& solver, TraceEnd& end) {
  end.finals["theta_final"] = solver.params();
  end.finals["alpha_final"] = solver.alpha();
}

std::string MlpTraining::summary(const TraceRecord& last) {
  std::ostringstream o;
  for (const auto& column : last.extra) {
    if (column.name == "worst_test_loss" || column.name == "worst_test_reward_accuracy") {
      o << "  " << column.name << " " << format_double(column.values[0]);
    }
  }
  return o.str();
}

} // namespace grpo::app
