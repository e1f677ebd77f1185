// grpo train --policy mlp: the MLP policy's part of the one run path (apps/train_policy.hpp):
// its options, configuration text and solver::NeuralSolver (ALGORITHM.md §8), with the optional
// SFT stage before the preference steps.
#include "apps/commands.hpp"
#include "apps/train_policy.hpp"
#include "core/error.hpp"
#include "solver/neural_trainer.hpp"

#include <sstream>
#include <string>
#include <vector>

namespace grpo::app {

namespace {

std::string hidden_text(const std::vector<int>& hidden) {
  if (hidden.empty()) {
    return "none";
  }
  std::string s;
  for (std::size_t i = 0; i < hidden.size(); ++i) {
    s += (i != 0U ? "," : "") + std::to_string(hidden[i]);
  }
  return s;
}

bool all_splits_have_options(const io::DatasetSummary& data) {
  for (const auto& split : data.splits) {
    if (!split.has_options) {
      return false;
    }
  }
  return !data.splits.empty();
}

} // namespace

MlpTraining::Setup MlpTraining::resolve(const ParsedOptions& p, const SummarySource& /*summary*/) {
  Setup s;
  s.run.paths = required_paths(p);
  s.run.checkpoint = checkpoint_settings(p, s.run.paths);
  auto& c = s.config; // NeuralConfig's defaults are the command's
  if (given(p, "method")) {
    c.method = get_parsed(p, "method", solver::parse_method);
  }
  set_if_given(p, "seed", c.seed, get_uint);
  set_if_given(p, "iterations", c.iterations, get_int);
  set_if_given(p, "beta", c.beta, get_double);
  set_if_given(p, "step-alpha", c.step_alpha, get_double);
  set_if_given(p, "chi", c.chi, get_double);
  if (given(p, "is-weights")) {
    c.is_weights = get_list(p, "is-weights");
  }
  set_if_given(p, "batch-size", c.batch_size, get_int);
  set_if_given(p, "micro-batches", c.micro_batches, get_int);
  if (given(p, "alpha-update")) {
    c.alpha_update = get_parsed(p, "alpha-update", solver::parse_alpha_update);
  }
  if (given(p, "hidden")) {
    c.network.hidden = get_parsed(p, "hidden", policies::parse_hidden);
  }
  if (given(p, "activation")) {
    c.network.activation = get_parsed(p, "activation", policies::parse_activation);
  }
  if (given(p, "optimizer")) {
    const auto type = get_parsed(p, "optimizer", solver::parse_optimizer);
    const double lr = c.optimizer.lr;
    c.optimizer = solver::OptimizerConfig::defaults(type);
    c.optimizer.lr = lr;
  }
  set_if_given(p, "lr", c.optimizer.lr, get_double);
  set_if_given(p, "weight-decay", c.optimizer.weight_decay, get_double);
  set_if_given(p, "momentum", c.optimizer.momentum, get_double);
  set_if_given(p, "clip-norm", c.clip_norm, get_double);
  set_if_given(p, "sft-steps", c.sft_steps, get_int);
  set_if_given(p, "sft-batch", c.sft_batch, get_int);
  if (given(p, "sft-optimizer")) {
    const double lr = c.sft_optimizer.lr;
    c.sft_optimizer =
        solver::OptimizerConfig::defaults(get_parsed(p, "sft-optimizer", solver::parse_optimizer));
    c.sft_optimizer.lr = lr;
  }
  set_if_given(p, "sft-lr", c.sft_optimizer.lr, get_double);
  set_if_given(p, "sft-warmup", c.sft_warmup, get_int);
  c.reference = given(p, "reference") ? get_parsed(p, "reference", solver::parse_reference)
                                      : (c.sft_steps > 0 ? solver::ReferenceKind::Sft
                                                         : solver::ReferenceKind::Initial);
  c.schedule = schedule_options(p);
  set_if_given(p, "trace-every", s.run.trace_every, get_int);
  set_if_given(p, "quiet", s.run.quiet, get_bool);
  if (s.run.trace_every < 1) {
    throw ConfigError("option --trace-every: invalid value " + std::to_string(s.run.trace_every) +
                      " (expected an integer >= 1)");
  }
  return s;
}

std::string MlpTraining::render(const Setup& s) {
  const auto& c = s.config;
  std::ostringstream o;
  o << "dataset = " << s.run.paths.dataset << "\n"
    << "out = " << s.run.paths.out << "\n"
    << "policy = mlp\n"
    << "hidden = " << hidden_text(c.network.hidden) << "\n"
    << "activation = " << policies::activation_name(c.network.activation) << "\n"
    << "method = " << solver::method_name(c.method) << "\n"
    << "seed = " << c.seed << "\n"
    << "iterations = " << c.iterations << "\n"
    << "beta = " << format_double(c.beta) << "\n"
    << "step-alpha = " << format_double(c.step_alpha) << "\n"
    << "chi = " << format_double(c.chi) << "\n";
  if (!c.is_weights.empty()) {
    o << "is-weights = " << join_values(c.is_weights) << "\n";
  }
  o << "batch-size = " << c.batch_size << "\n"
    << "micro-batches = " << c.micro_batches << "\n"
    << "alpha-update = " << solver::alpha_update_name(c.alpha_update) << "\n"
    << "optimizer = " << solver::optimizer_name(c.optimizer.type) << "\n"
    << "lr = " << format_double(c.optimizer.lr) << "\n"
    << "weight-decay = " << format_double(c.optimizer.weight_decay) << "\n"
    << "momentum = " << format_double(c.optimizer.momentum) << "\n"
    << "clip-norm = " << format_double(c.clip_norm) << "\n"
    << "sft-steps = " << c.sft_steps << "\n"
    << "sft-batch = " << c.sft_batch << "\n"
    << "sft-optimizer = " << solver::optimizer_name(c.sft_optimizer.type) << "\n"
    << "sft-lr = " << format_double(c.sft_optimizer.lr) << "\n"
    << "sft-warmup = " << c.sft_warmup << "\n"
    << "reference = " << solver::reference_name(c.reference) << "\n"
    << "trace-every = " << s.run.trace_every << "\n"
    << render_schedule(c.schedule);
  return o.str();
}

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

void add_mlp_options(po::options_description& options) {
  po::options_description o("options of --policy mlp (ALGORITHM.md §8; docs/cli.md)");
  // clang-format off
  o.add_options()
    ("hidden", text(), "hidden layer widths, comma-separated; none = log-linear [64]")
    ("activation", text(), "relu | tanh | gelu (tanh approximation) [tanh]")
    ("optimizer", text(), "sgd | adam | adamw | rmsprop [adamw]")
    ("lr", text(), "learning rate [0.001]")
    ("weight-decay", text(), "L2 (sgd, adam, rmsprop) or decoupled (adamw) [0.01 adamw, else 0]")
    ("momentum", text(), "SGD momentum [0]")
    ("clip-norm", text(), "clip the gradient norm to this value; 0 = off [10]")
    ("micro-batches", text(), "parts of each step's batch; alpha is updated per part [1]")
    ("alpha-update", text(), "step (group means, §2.2) | micro-batch (N/N_g-weighted sums, "
                             "§8.3) [step]")
    ("reference", text(), "uniform | initial | sft: the frozen reference policy "
                          "[sft with --sft-steps, else initial]")
    ("sft-steps", text(), "SFT steps before preference training (needs option data) [0]")
    ("sft-batch", text(), "prompts per SFT step; 0 = all [16]")
    ("sft-optimizer", text(), "optimizer of the SFT stage [rmsprop]")
    ("sft-lr", text(), "SFT learning rate [0.0001]")
    ("sft-warmup", text(), "linear SFT learning-rate warm-up, in steps [0]");
  // clang-format on
  options.add(o);
}

} // namespace grpo::app
