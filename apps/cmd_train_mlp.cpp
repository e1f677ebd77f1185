// grpo train --policy mlp: an MLP policy trained by solver::NeuralSolver (ALGORITHM.md §8),
// with an optional SFT stage, written to the same kind of HDF5 trace as log-linear runs.
#include "apps/commands.hpp"
#include "apps/train_common.hpp"
#include "core/error.hpp"
#include "core/git_revision.hpp"
#include "core/kokkos_compat.hpp"
#include "io/trace_writer.hpp"
#include "solver/neural_trainer.hpp"

#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace grpo::app {

namespace {

/// Options read only by the MLP policy, and options only the log-linear policy reads.
const std::vector<std::string> kMlpOnly = {
    "hidden",    "activation", "optimizer",     "lr",           "weight-decay",
    "momentum",  "clip-norm",  "micro-batches", "alpha-update", "reference",
    "sft-steps", "sft-batch",  "sft-optimizer", "sft-lr",       "sft-warmup"};
const std::vector<std::string> kLogLinearOnly = {"preset",
                                                 "l2",
                                                 "adj",
                                                 "ada-coef",
                                                 "exp-adaptive",
                                                 "sampling",
                                                 "batch-mode",
                                                 "projection-radius",
                                                 "closed-form",
                                                 "closed-form-weights",
                                                 "alpha-loss-norm",
                                                 "ridge",
                                                 "is-normalization",
                                                 "param-limit",
                                                 "theta-init",
                                                 "gap",
                                                 "check-sync"};

struct MlpSetup {
  RunPaths paths;
  CheckpointSetup checkpoint;
  solver::NeuralConfig config;
  index_t trace_every = 100;
  bool quiet = false;
};

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

MlpSetup resolve_mlp(const ParsedOptions& p) {
  MlpSetup s;
  s.paths = required_paths(p);
  s.checkpoint = checkpoint_setup(p, s.paths);
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
  set_if_given(p, "trace-every", s.trace_every, get_int);
  set_if_given(p, "quiet", s.quiet, get_bool);
  if (s.trace_every < 1) {
    throw ConfigError("option --trace-every: invalid value " + std::to_string(s.trace_every) +
                      " (expected an integer >= 1)");
  }
  return s;
}

/// The resolved configuration as INI text (stored in the trace, accepted back by --config).
std::string render_mlp_config(const MlpSetup& s) {
  const auto& c = s.config;
  std::ostringstream o;
  o << "dataset = " << s.paths.dataset << "\n"
    << "out = " << s.paths.out << "\n"
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
    << "trace-every = " << s.trace_every << "\n"
    << render_schedule(c.schedule);
  return o.str();
}

std::vector<index_t> train_group_sizes(const io::DatasetSummary& data) {
  std::vector<index_t> sizes;
  const auto& offsets = data.split("train")->offsets;
  for (std::size_t g = 0; g + 1 < offsets.size(); ++g) {
    sizes.push_back(offsets[g + 1] - offsets[g]);
  }
  return sizes;
}

bool all_splits_have_options(const io::DatasetSummary& data) {
  for (const auto& split : data.splits) {
    if (!split.has_options) {
      return false;
    }
  }
  return !data.splits.empty();
}

/// Validates `setup` against the dataset (ConfigError naming the option).
void validate(MlpSetup& setup, const io::DatasetSummary& data) {
  setup.config.network.input_dim = data.feature_dim;
  setup.config.validate(train_group_sizes(data), all_splits_have_options(data));
  check_schedule_data(setup.config.schedule, data);
}

} // namespace

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

bool mlp_policy_selected(const ParsedOptions& p) {
  bool mlp = false;
  if (given(p, "policy")) {
    const std::string policy = get_string(p, "policy");
    if (policy == "mlp") {
      mlp = true;
    } else if (policy != "loglinear") {
      throw ConfigError("option --policy: invalid value '" + policy +
                        "' (expected loglinear or mlp)");
    }
  }
  for (const auto& name : mlp ? kLogLinearOnly : kMlpOnly) {
    if (given(p, name.c_str())) {
      throw ConfigError("option --" + name + ": " +
                        (mlp ? "not available with --policy mlp" : "only with --policy mlp"));
    }
  }
  return mlp;
}

void check_train_mlp_options(const ParsedOptions& parsed, const io::DatasetSummary& data) {
  naming_config_file(parsed, [&] {
    MlpSetup setup = resolve_mlp(parsed);
    validate(setup, data);
  });
}

int run_train_mlp(core::Environment& env, const ParsedOptions& parsed) {
  Communicator comm;
  MlpSetup setup = naming_config_file(parsed, [&] { return resolve_mlp(parsed); });
  const auto summary = io::inspect_dataset(setup.paths.dataset, &comm);
  naming_config_file(parsed, [&] { validate(setup, summary); });
  env.start_kokkos(parsed.kokkos_args);

  io::LoadOptions load;
  load.pair_features = true;
  load.options = all_splits_have_options(summary);
  load.test = true;
  const auto data = io::load_dataset(summary, comm, load);
  solver::NeuralSolver solver(setup.config, comm, data.train);

  const std::string config_text = render_mlp_config(setup);
  std::string checksum = comm.is_root() ? io::file_checksum(setup.paths.dataset) : "";
  comm.broadcast(checksum);
  const auto checkpoint =
      resume_run(setup.checkpoint, setup.paths, config_text, checksum, comm, env);
  if (checkpoint) {
    restore_checkpoint(solver, *checkpoint, setup.checkpoint);
  }
  if (!setup.quiet) {
    root_print(env, "# grpo train: resolved configuration\n" + config_text + "# network " +
                        solver.policy().config().describe() + ", " +
                        std::to_string(solver.policy().num_params()) +
                        " parameters; ranks = " + std::to_string(comm.size()) + ", Kokkos " +
                        core::kokkos_backend_name() + "\n");
    if (checkpoint) {
      root_print(env, "# resuming from '" + setup.checkpoint.path + "' after step " +
                          std::to_string(checkpoint->state.iteration) + "\n");
    }
  }
  io::TraceHeader header;
  header.group_names = data.summary.group_names;
  header.text_attributes = {
      {"config", config_text},
      {"method", solver::method_name(setup.config.method)},
      {"policy", "mlp"},
      {"network", solver.policy().config().describe()},
      {"git_revision", GRPO_GIT_REVISION},
      {"grpo_version", GRPO_VERSION},
      {"kokkos_backend", core::kokkos_backend_name()},
      {"kokkos_version", core::kokkos_version_string()},
      {"dataset_path", setup.paths.dataset},
      {"dataset_checksum", checksum},
      {"dataset_source", data.summary.source},
  };
  header.int_attributes = {{"num_ranks", comm.size()},
                           {"iterations", setup.config.iterations},
                           {"trace_every", setup.trace_every},
                           {"feature_dim", data.summary.feature_dim},
                           {"num_params", solver.policy().num_params()},
                           {"seed", static_cast<std::int64_t>(setup.config.seed)}};
  io::TraceWriter trace = checkpoint
                              ? io::TraceWriter(setup.paths.out, comm, checkpoint->trace_records)
                              : io::TraceWriter(setup.paths.out, comm, header);

  const solver::NeuralData splits{&data.train, data.val.empty() ? nullptr : &data.val,
                                  data.test.empty() ? nullptr : &data.test};
  // Final values computed before the loop (the model after SFT); a checkpoint carries them.
  std::map<std::string, std::vector<double>> finals;
  double sft_seconds = 0.0;
  double loop_seconds = 0.0;
  TraceRecord last;
  try {
    if (checkpoint) {
      finals = checkpoint->finals;
      sft_seconds = checkpoint->sft_seconds;
    } else {
      const double sft_nll = solver.prepare();
      sft_seconds = solver.sft_seconds();
      if (setup.config.sft_steps > 0) {
        // The model after the SFT stage (the reference of the preference stage by default).
        finals["sft_train_nll"] = {sft_nll};
        for (const auto* split : {splits.val, splits.test}) {
          if (split == nullptr) {
            continue;
          }
          for (const auto& column : solver::metric_columns(split->name, solver.evaluate(*split))) {
            finals["sft_" + column.name] = column.values;
          }
        }
        if (!setup.quiet) {
          root_print(env, "# SFT: " + std::to_string(setup.config.sft_steps) +
                              " steps, last batch NLL " + format_double(sft_nll) + ", " +
                              format_double(sft_seconds) + " s\n");
        }
      }
    }
    Progress progress(!setup.quiet && comm.is_root(), setup.config.iterations,
                      checkpoint ? checkpoint->state.iteration : 0,
                      checkpoint ? checkpoint->wall_seconds : 0.0);
    solver::TraceOptions options;
    options.every = setup.trace_every;
    options.checkpoint_every = setup.checkpoint.every;
    options.wall_offset = checkpoint ? checkpoint->wall_seconds : 0.0;
    io::Checkpoint base;
    base.config = config_text;
    base.dataset_checksum = checksum;
    base.finals = finals; // complete: the loop adds only theta_final and alpha_final
    base.sft_seconds = sft_seconds;
    options.checkpoint = checkpoint_writer(solver, base, setup.checkpoint, trace, comm);
    loop_seconds = solver::train_neural(solver, splits, options, [&](const TraceRecord& r) {
      trace.append(r);
      progress.update(r);
      last = r;
    });
  } catch (const Error& e) {
    trace.fail(e.what());
    throw;
  }
  finals["theta_final"] = solver.params();
  finals["alpha_final"] = solver.alpha();
  auto attributes = schedule_attributes(solver.schedule(), solver.iterations_done());
  attributes.insert({"records", trace.records()});
  trace.finish(finals, attributes, {{"train_seconds", loop_seconds}, {"sft_seconds", sft_seconds}});
  if (comm.is_root() && (setup.checkpoint.every > 0 || checkpoint)) {
    std::remove(setup.checkpoint.path.c_str()); // the run is complete: its trace holds everything
  }
  if (!setup.quiet) {
    std::ostringstream o;
    o << "done: " << setup.paths.out << "  method " << solver::method_name(setup.config.method)
      << "  iterations " << solver.iterations_done();
    if (solver.schedule().stopped()) {
      o << " (stopped early: the rate fell below --plateau-stop-lr)";
    }
    if (!last.val_loss.empty()) {
      o << "  worst val loss " << format_double(last.worst_val_loss);
    }
    for (const auto& column : last.extra) {
      if (column.name == "worst_test_loss" || column.name == "worst_test_reward_accuracy") {
        o << "  " << column.name << " " << format_double(column.values[0]);
      }
    }
    root_print(env, o.str() + "\n");
  }
  return 0;
}

} // namespace grpo::app
