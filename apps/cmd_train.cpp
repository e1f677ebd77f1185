// grpo train: load a dataset, run one method, write an HDF5 trace.
#include "apps/commands.hpp"
#include "apps/options.hpp"
#include "apps/train_common.hpp"
#include "core/error.hpp"
#include "core/git_revision.hpp"
#include "core/kokkos_compat.hpp"
#include "io/checkpoint.hpp"
#include "io/dataset.hpp"
#include "io/trace_reader.hpp"
#include "io/trace_writer.hpp"
#include "io/train_presets.hpp"
#include "solver/minimax_solver.hpp"
#include "solver/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <unistd.h>

namespace grpo::app {

namespace {

po::options_description train_options() {
  po::options_description o("grpo train options");
  // clang-format off
  o.add_options()
    ("help,h", "show this help")
    ("config", text(), "INI file with any of these options (command line wins)")
    ("dataset", text(), "input dataset (HDF5, docs/formats.md) [required]")
    ("out", text(), "output trace (HDF5) [required]")
    ("policy", text(), "loglinear | mlp (the MLP options below) [loglinear]")
    ("method", text(), "dpo | ipo | is-dpo | is-ipo | gr-dpo | gr-ipo [gr-dpo]")
    ("preset", text(), "hyperparameters of the paper: paper (setting from the dataset), "
                       "paper-even-imbalanced, paper-uneven-balanced, paper-uneven-imbalanced")
    ("seed", text(), "seed of theta_0 and of mini-batch draws [2021]")
    ("iterations", text(), "number of steps T [1000]")
    ("beta", text(), "DPO temperature / IPO target 1/(2 beta), > 0 [1]")
    ("step-theta", text(), "eta_theta, >= 0 [0.1]")
    ("step-alpha", text(), "eta_alpha, >= 0 [0.01]")
    ("chi", text(), "worst-case weight in [0,1]: w_g = (1-chi)/K + chi alpha_g [1]")
    ("l2", text(), "L2 penalty lambda_2 ||theta||^2 (added once) [0]")
    ("adj", text(), "generalisation adjustment C (one value or K, comma-separated) [0]")
    ("ada-coef", text(), "> 0: AdaGrad-type eta_theta = ada_coef / sqrt(H) [0 = off]")
    ("exp-adaptive", text(), "> 0: eta_alpha * exp_adaptive / sqrt(H) [0 = off]")
    ("sampling", text(), "code_batch | paper_single [code_batch]")
    ("batch-size", text(), "pairs per step; 0 = full batch (code_batch), 1 (paper_single) [0]")
    ("batch-mode", text(), "mini-batch draw: uniform | group-weighted [uniform]")
    ("projection-radius", text(), "project theta on the L2 ball of this radius; 0 = off [0]")
    ("closed-form", text()->implicit_value("true"), "IPO family: exact theta best response [false]")
    ("closed-form-weights", text(), "closed form v_g: paper (w_g/N_g) | code (w_g) [paper]")
    ("alpha-loss-norm", text(), "closed-form alpha signal: mean | code_double [mean]")
    ("ridge", text(), "ridge lambda of the closed-form solve [0]")
    ("is-weights", text(), "importance weights (K values) [proportional to 1/N_g]")
    ("is-normalization", text(), "IS gradient divisor: batch (|B|) | group (n_g) [batch]")
    ("param-limit", text(), "theta_0 ~ U[0, param-limit] [1]")
    ("theta-init", text(), "initial theta: comma-separated values, or a trace .h5 (its theta_final)")
    ("trace-every", text(), "record metrics every N steps (and after the last) [100]")
    ("checkpoint-every", text(), "write a checkpoint every N steps; 0 = never [0]")
    ("checkpoint", text(), "checkpoint file [<out>.ckpt]")
    ("resume", text()->implicit_value("true"),
     "continue from the checkpoint (same options): the trace and results equal an uninterrupted "
     "run; without a checkpoint, start from the beginning [false]")
    ("gap", text()->implicit_value("true"),
     "certified duality gap at every record: a Newton solve in d dimensions [false]")
    ("check-sync", text()->implicit_value("true"),
     "at every record, verify theta is bit-identical on all ranks [false]")
    ("quiet,q", text()->implicit_value("true"), "no configuration or progress output");
  // clang-format on
  add_schedule_options(o);
  add_mlp_options(o);
  return o;
}

/// The resolved run, after preset and explicit options.
struct TrainSetup {
  std::string dataset;
  std::string out;
  std::string preset;
  solver::SolverConfig config;
  index_t trace_every = 100;
  bool gap = false;
  CheckpointSetup checkpoint;
  std::string theta_init;
  bool check_sync = false;
  bool quiet = false;
};

/// The resolved configuration as INI text (stored in the trace, accepted back by --config).
std::string render_config(const TrainSetup& s) {
  const auto& c = s.config;
  std::ostringstream o;
  o << "dataset = " << s.dataset << "\n"
    << "out = " << s.out << "\n";
  if (!s.preset.empty()) {
    o << "# preset = " << s.preset << " (already applied below)\n";
  }
  o << "method = " << solver::method_name(c.method) << "\n"
    << "seed = " << c.seed << "\n"
    << "iterations = " << c.iterations << "\n"
    << "beta = " << format_double(c.beta) << "\n"
    << "step-theta = " << format_double(c.step_theta) << "\n"
    << "step-alpha = " << format_double(c.step_alpha) << "\n"
    << "chi = " << format_double(c.chi) << "\n"
    << "l2 = " << format_double(c.l2) << "\n"
    << "adj = " << (c.adj.empty() ? "0" : join_values(c.adj)) << "\n"
    << "ada-coef = " << format_double(c.ada_coef) << "\n"
    << "exp-adaptive = " << format_double(c.exp_adaptive) << "\n"
    << "sampling = " << solver::sampling_name(c.sampling) << "\n"
    << "batch-size = " << c.batch_size << "\n"
    << "batch-mode = " << solver::batch_mode_name(c.batch_mode) << "\n"
    << "projection-radius = " << format_double(c.projection_radius) << "\n"
    << "closed-form = " << (c.closed_form ? "true" : "false") << "\n"
    << "closed-form-weights = " << solver::closed_form_weights_name(c.closed_form_weights) << "\n"
    << "alpha-loss-norm = " << solver::alpha_loss_norm_name(c.alpha_loss_norm) << "\n"
    << "ridge = " << format_double(c.ridge) << "\n";
  if (!c.is_weights.empty()) {
    o << "is-weights = " << join_values(c.is_weights) << "\n";
  }
  o << "is-normalization = " << solver::is_normalization_name(c.is_normalization) << "\n"
    << "param-limit = " << format_double(c.param_limit) << "\n";
  if (!s.theta_init.empty()) {
    o << "theta-init = " << s.theta_init << "\n";
  }
  o << "trace-every = " << s.trace_every << "\n"
    << "gap = " << (s.gap ? "true" : "false") << "\n"
    << render_schedule(c.schedule);
  return o.str();
}

/// `summary` gives the dataset's metadata (read once, on first use).
TrainSetup resolve(const ParsedOptions& p,
                   const std::function<const io::DatasetSummary&(const std::string&)>& summary) {
  TrainSetup s;
  const RunPaths paths = required_paths(p);
  s.dataset = paths.dataset;
  s.out = paths.out;
  const solver::Method method =
      given(p, "method") ? get_parsed(p, "method", solver::parse_method) : solver::Method::GrDpo;
  auto& c = s.config;
  c.method = method;
  if (given(p, "preset")) {
    s.preset = get_string(p, "preset");
    std::string setting;
    if (s.preset == "paper") {
      const auto& attributes = summary(s.dataset).attributes;
      const auto it = attributes.find("preset");
      setting = it == attributes.end() ? "" : it->second;
    }
    const auto preset = io::train_preset(s.preset, method, setting, s.dataset);
    c = preset.config;
    s.trace_every = preset.trace_every;
  }
  set_if_given(p, "seed", c.seed, get_uint);
  set_if_given(p, "iterations", c.iterations, get_int);
  set_if_given(p, "beta", c.beta, get_double);
  set_if_given(p, "step-theta", c.step_theta, get_double);
  set_if_given(p, "step-alpha", c.step_alpha, get_double);
  set_if_given(p, "chi", c.chi, get_double);
  if (given(p, "l2")) {
    c.l2 = get_double(p, "l2");
  }
  if (given(p, "adj")) {
    c.adj = get_list(p, "adj");
  }
  set_if_given(p, "ada-coef", c.ada_coef, get_double);
  set_if_given(p, "exp-adaptive", c.exp_adaptive, get_double);
  if (given(p, "sampling")) {
    c.sampling = get_parsed(p, "sampling", solver::parse_sampling);
  }
  set_if_given(p, "batch-size", c.batch_size, get_int);
  if (given(p, "batch-mode")) {
    c.batch_mode = get_parsed(p, "batch-mode", solver::parse_batch_mode);
  }
  set_if_given(p, "projection-radius", c.projection_radius, get_double);
  set_if_given(p, "closed-form", c.closed_form, get_bool);
  if (given(p, "closed-form-weights")) {
    c.closed_form_weights = get_parsed(p, "closed-form-weights", solver::parse_closed_form_weights);
  }
  if (given(p, "alpha-loss-norm")) {
    c.alpha_loss_norm = get_parsed(p, "alpha-loss-norm", solver::parse_alpha_loss_norm);
  }
  set_if_given(p, "ridge", c.ridge, get_double);
  if (given(p, "is-weights")) {
    c.is_weights = get_list(p, "is-weights");
  }
  if (given(p, "is-normalization")) {
    c.is_normalization = get_parsed(p, "is-normalization", solver::parse_is_normalization);
  }
  set_if_given(p, "param-limit", c.param_limit, get_double);
  c.schedule = schedule_options(p);
  set_if_given(p, "theta-init", s.theta_init, get_string);
  set_if_given(p, "trace-every", s.trace_every, get_int);
  set_if_given(p, "gap", s.gap, get_bool);
  s.checkpoint = checkpoint_setup(p, {s.dataset, s.out});
  set_if_given(p, "check-sync", s.check_sync, get_bool);
  set_if_given(p, "quiet", s.quiet, get_bool);
  if (s.trace_every < 1) {
    throw ConfigError("option --trace-every: invalid value " + std::to_string(s.trace_every) +
                      " (expected an integer >= 1)");
  }
  if (c.batch_size < 0) {
    throw ConfigError("option --batch-size: invalid value " + std::to_string(c.batch_size) +
                      " (expected an integer >= 0, 0 = full batch)");
  }
  if (c.iterations < 1) {
    throw ConfigError("option --iterations: invalid value " + std::to_string(c.iterations) +
                      " (expected an integer >= 1)");
  }
  return s;
}

/// --theta-init names a trace file (.h5, .hdf5) rather than listing values.
bool theta_init_is_file(const std::string& v) {
  const auto ends_with = [&](const std::string& suffix) {
    return v.size() > suffix.size() &&
           v.compare(v.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".h5") || ends_with(".hdf5");
}

/// theta_0 from --theta-init: a list, or the theta_final of a trace file.
std::vector<double> initial_theta(const TrainSetup& s, int dim) {
  if (s.theta_init.empty()) {
    return solver::MinimaxSolver::initial_theta(s.config, dim);
  }
  const auto& v = s.theta_init;
  if (!theta_init_is_file(v)) {
    auto theta = parse_list("theta-init", v);
    if (static_cast<int>(theta.size()) != dim) {
      throw ConfigError("option --theta-init: " + std::to_string(theta.size()) +
                        " values given, the policy has " + std::to_string(dim) + " parameters");
    }
    return theta;
  }
  std::vector<double> theta;
  try {
    theta = io::TraceReader(v).final_vector("theta_final");
  } catch (const DataError& e) {
    throw DataError(std::string(e.what()) +
                    " (option --theta-init takes the theta_final of a completed grpo trace)");
  }
  if (static_cast<int>(theta.size()) != dim) {
    throw DataError("'" + v + "': theta_final has " + std::to_string(theta.size()) +
                    " values (option --theta-init), the dataset's policy has " +
                    std::to_string(dim) + " parameters");
  }
  return theta;
}

std::uint64_t theta_hash(const std::vector<double>& theta) {
  std::uint64_t h = 1469598103934665603ULL;
  for (double x : theta) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &x, sizeof bits);
    h = (h ^ bits) * 1099511628211ULL;
  }
  return h;
}

} // namespace

CheckpointSetup checkpoint_setup(const ParsedOptions& p, const RunPaths& paths) {
  CheckpointSetup s;
  set_if_given(p, "checkpoint-every", s.every, get_int);
  set_if_given(p, "checkpoint", s.path, get_string);
  set_if_given(p, "resume", s.resume, get_bool);
  if (s.every < 0) {
    throw ConfigError("option --checkpoint-every: invalid value " + std::to_string(s.every) +
                      " (expected an integer >= 0)");
  }
  if (s.path.empty()) {
    s.path = paths.out + ".ckpt";
  }
  if (s.path == paths.out || s.path == paths.dataset) {
    throw ConfigError("option --checkpoint: '" + s.path +
                      "' is the dataset or the trace; choose another file");
  }
  return s;
}

std::optional<io::Checkpoint> resume_run(const CheckpointSetup& setup, const RunPaths& paths,
                                         const std::string& config_text,
                                         const std::string& checksum, const Communicator& comm,
                                         const core::Environment& env) {
  if (!setup.resume) {
    return std::nullopt;
  }
  auto checkpoint = io::resume_checkpoint(setup.path, paths.dataset, config_text, checksum, comm);
  if (!checkpoint) {
    root_print(env,
               "# --resume: no checkpoint '" + setup.path + "' yet; starting from the beginning\n");
  }
  return checkpoint;
}

RunPaths required_paths(const ParsedOptions& p) {
  if (!given(p, "dataset")) {
    throw ConfigError("grpo train: the option '--dataset' is required but missing");
  }
  if (!given(p, "out")) {
    throw ConfigError("grpo train: the option '--out' is required but missing");
  }
  RunPaths r{get_string(p, "dataset"), get_string(p, "out")};
  std::error_code ec;
  if (r.out == r.dataset || std::filesystem::equivalent(r.out, r.dataset, ec)) {
    throw ConfigError("option --out: '" + r.out +
                      "' is the input dataset; refusing to overwrite it with a trace");
  }
  return r;
}

void check_train_options(const std::vector<std::string>& args, const io::DatasetSummary& data) {
  const auto parsed = parse_options("train", train_options(), args);
  if (naming_config_file(parsed, [&] { return mlp_policy_selected(parsed); })) {
    check_train_mlp_options(parsed, data);
    return;
  }
  naming_options([&] {
    const TrainSetup setup =
        resolve(parsed, [&](const std::string&) -> const io::DatasetSummary& { return data; });
    std::vector<index_t> group_sizes;
    const auto& offsets = data.split("train")->offsets;
    for (std::size_t g = 0; g + 1 < offsets.size(); ++g) {
      group_sizes.push_back(offsets[g + 1] - offsets[g]);
    }
    setup.config.validate(group_sizes);
    check_schedule_data(setup.config.schedule, data);
    if (!setup.theta_init.empty() && !theta_init_is_file(setup.theta_init)) {
      initial_theta(setup, data.feature_dim); // a list: its values and length (a file: later)
    }
  });
}

int run_train(core::Environment& env, const std::vector<std::string>& args) {
  const auto options = train_options();
  const auto parsed = parse_options("train", options, args);
  if (parsed.help) {
    std::ostringstream o;
    o << "Usage: grpo train --dataset FILE --out TRACE [--method M] [--preset P] [options]\n\n"
      << "Runs one method on a preference dataset and writes an HDF5 trace. Runs the same\n"
      << "under mpirun -n N (groups are partitioned over ranks by sample count).\n\n"
      << options;
    root_print(env, o.str());
    return 0;
  }
  if (naming_config_file(parsed, [&] { return mlp_policy_selected(parsed); })) {
    return run_train_mlp(env, parsed);
  }
  Communicator comm;
  std::optional<io::DatasetSummary> cached;
  const auto dataset_summary = [&](const std::string& path) -> const io::DatasetSummary& {
    if (!cached) {
      cached = io::inspect_dataset(path, &comm);
    }
    return *cached;
  };
  const TrainSetup setup =
      naming_config_file(parsed, [&] { return resolve(parsed, dataset_summary); });
  // Validate everything that needs only the dataset's metadata before loading its rows.
  const auto& summary = dataset_summary(setup.dataset);
  std::vector<index_t> group_sizes;
  const auto& train_offsets = summary.split("train")->offsets;
  for (std::size_t g = 0; g + 1 < train_offsets.size(); ++g) {
    group_sizes.push_back(train_offsets[g + 1] - train_offsets[g]);
  }
  naming_config_file(parsed, [&] {
    setup.config.validate(group_sizes);
    check_schedule_data(setup.config.schedule, summary);
  });
  const auto theta0 =
      naming_config_file(parsed, [&] { return initial_theta(setup, summary.feature_dim); });
  env.start_kokkos(parsed.kokkos_args);

  const auto data = io::load_dataset(summary, comm);
  const int dim = data.summary.feature_dim;
  solver::MinimaxSolver solver(setup.config, comm, data.train, theta0);

  const std::string config_text = render_config(setup);
  std::string checksum = comm.is_root() ? io::file_checksum(setup.dataset) : "";
  comm.broadcast(checksum);
  const auto checkpoint =
      resume_run(setup.checkpoint, {setup.dataset, setup.out}, config_text, checksum, comm, env);
  if (checkpoint) {
    restore_checkpoint(solver, *checkpoint, setup.checkpoint);
  }
  if (!setup.quiet) {
    root_print(env, "# grpo train: resolved configuration\n" + config_text +
                        "# ranks = " + std::to_string(comm.size()) + ", Kokkos " +
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
      {"git_revision", GRPO_GIT_REVISION},
      {"grpo_version", GRPO_VERSION},
      {"kokkos_backend", core::kokkos_backend_name()},
      {"kokkos_version", core::kokkos_version_string()},
      {"dataset_path", setup.dataset},
      {"dataset_checksum", checksum},
      {"dataset_source", data.summary.source},
  };
  for (const char* key : {"preset", "feature_type"}) {
    if (const auto it = data.summary.attributes.find(key); it != data.summary.attributes.end()) {
      header.text_attributes[std::string("dataset_") + key] = it->second;
    }
  }
  header.int_attributes = {{"num_ranks", comm.size()},
                           {"iterations", setup.config.iterations},
                           {"trace_every", setup.trace_every},
                           {"feature_dim", dim},
                           {"seed", static_cast<std::int64_t>(setup.config.seed)}};
  io::TraceWriter trace = checkpoint ? io::TraceWriter(setup.out, comm, checkpoint->trace_records)
                                     : io::TraceWriter(setup.out, comm, header);

  Progress progress(!setup.quiet && comm.is_root(), setup.config.iterations,
                    checkpoint ? checkpoint->state.iteration : 0,
                    checkpoint ? checkpoint->wall_seconds : 0.0);
  TraceRecord last;
  double loop_seconds = 0.0;
  solver::TraceOptions trace_options;
  trace_options.every = setup.trace_every;
  trace_options.gap = setup.gap;
  trace_options.checkpoint_every = setup.checkpoint.every;
  trace_options.wall_offset = checkpoint ? checkpoint->wall_seconds : 0.0;
  io::Checkpoint base;
  base.config = config_text;
  base.dataset_checksum = checksum;
  trace_options.checkpoint = checkpoint_writer(solver, base, setup.checkpoint, trace, comm);
  try {
    loop_seconds = solver::train(
        solver,
        {&data.train, data.val.empty() ? nullptr : &data.val,
         data.env.empty() ? nullptr : &data.env},
        trace_options, [&](const TraceRecord& r) {
          trace.append(r);
          progress.update(r);
          last = r;
          if (setup.check_sync) {
            const auto h = static_cast<std::int64_t>(theta_hash(solver.theta()) >> 1);
            if (comm.allreduce_min(h) != comm.allreduce_max(h)) {
              throw InternalError(
                  "theta differs between ranks at iteration " + std::to_string(r.iteration), false);
            }
          }
        });
  } catch (const Error& e) {
    trace.fail(e.what());
    throw;
  }
  std::vector<double> alpha_final = solver.alpha();
  auto attributes = schedule_attributes(solver.schedule(), solver.iterations_done());
  attributes.insert({{"records", trace.records()},
                     {"empty_group_steps", solver.empty_group_steps()},
                     {"singular_solves", solver.singular_solves()}});
  trace.finish({{"theta_final", solver.theta()},
                {"theta_avg", solver.theta_avg()},
                {"alpha_final", alpha_final},
                {"alpha_avg", solver.alpha_avg()}},
               attributes, {{"train_seconds", loop_seconds}});
  if (comm.is_root() && (setup.checkpoint.every > 0 || checkpoint)) {
    std::remove(setup.checkpoint.path.c_str()); // the run is complete: its trace holds everything
  }
  if (!setup.quiet) {
    std::ostringstream o;
    o << "done: " << setup.out << "  method " << solver::method_name(setup.config.method)
      << "  iterations " << solver.iterations_done();
    if (solver.schedule().stopped()) {
      o << " (stopped early: the rate fell below --plateau-stop-lr)";
    }
    if (!last.val_loss.empty()) {
      o << "  worst val loss " << format_double(last.worst_val_loss);
    }
    if (!last.reward_error.empty()) {
      o << "  max reward error " << format_double(last.max_reward_error);
    }
    if (last.has_gap) {
      o << "  gap " << format_double(last.gap_avg.gap);
    }
    root_print(env, o.str() + "\n");
  }
  return 0;
}

} // namespace grpo::app
