// grpo train --policy loglinear: the log-linear policy's part of the one run path
// (apps/train_policy.hpp): its options, configuration text, theta_0 and solver::MinimaxSolver.
#include "apps/train_policy.hpp"
#include "core/error.hpp"
#include "io/trace_reader.hpp"
#include "io/train_presets.hpp"

#include <cstring>
#include <sstream>

namespace grpo::app {

namespace {

/// --theta-init names a trace file (.h5, .hdf5) rather than listing values.
bool theta_init_is_file(const std::string& v) {
  const auto ends_with = [&](const std::string& suffix) {
    return v.size() > suffix.size() &&
           v.compare(v.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".h5") || ends_with(".hdf5");
}

/// theta_0 from --theta-init: a list, or the theta_final of a trace file.
std::vector<double> initial_theta(const LogLinearTraining::Setup& s, int dim) {
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

LogLinearTraining::Setup LogLinearTraining::resolve(const ParsedOptions& p,
                                                    const SummarySource& summary) {
  Setup s;
  s.run.paths = required_paths(p);
  const std::string& dataset = s.run.paths.dataset;
  const solver::Method method =
      given(p, "method") ? get_parsed(p, "method", solver::parse_method) : solver::Method::GrDpo;
  auto& c = s.config;
  c.method = method;
  if (given(p, "preset")) {
    s.preset = get_string(p, "preset");
    std::string setting;
    if (s.preset == "paper") {
      const auto& attributes = summary(dataset).attributes;
      const auto it = attributes.find("preset");
      setting = it == attributes.end() ? "" : it->second;
    }
    const auto preset = io::train_preset(s.preset, method, setting, dataset);
    c = preset.config;
    s.run.trace_every = preset.trace_every;
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
  set_if_given(p, "trace-every", s.run.trace_every, get_int);
  set_if_given(p, "gap", s.gap, get_bool);
  s.run.checkpoint = checkpoint_settings(p, s.run.paths);
  set_if_given(p, "check-sync", s.check_sync, get_bool);
  set_if_given(p, "quiet", s.run.quiet, get_bool);
  if (s.run.trace_every < 1) {
    throw ConfigError("option --trace-every: invalid value " + std::to_string(s.run.trace_every) +
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

std::string LogLinearTraining::render(const Setup& s) {
  const auto& c = s.config;
  std::ostringstream o;
  o << "dataset = " << s.run.paths.dataset << "\n"
    << "out = " << s.run.paths.out << "\n";
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
  o << "trace-every = " << s.run.trace_every << "\n"
    << "gap = " << (s.gap ? "true" : "false") << "\n"
    << render_schedule(c.schedule);
  return o.str();
}

void LogLinearTraining::validate(Setup& setup, const io::DatasetSummary& data) {
  setup.config.validate(train_group_sizes(data));
  check_schedule_data(setup.config.schedule, data);
  if (!setup.theta_init.empty() && !theta_init_is_file(setup.theta_init)) {
    initial_theta(setup, data.feature_dim); // a list: its values and length (a file: later)
  }
}

LogLinearTraining::Init LogLinearTraining::initial(const Setup& setup,
                                                   const io::DatasetSummary& data) {
  return initial_theta(setup, data.feature_dim);
}

io::LoadOptions LogLinearTraining::load_options(const io::DatasetSummary& /*data*/) { return {}; }

std::unique_ptr<LogLinearTraining::Solver>
LogLinearTraining::make_solver(const Setup& setup, const Communicator& comm,
                               const io::LoadedDataset& data, const Init& init) {
  return std::make_unique<Solver>(setup.config, comm, data.train, init);
}

std::string LogLinearTraining::describe(const Solver& /*solver*/) { return ""; }

void LogLinearTraining::add_header(const Setup& /*setup*/, const Solver& /*solver*/,
                                   io::RunHeader& header) {
  header.dataset_attributes = {"preset", "feature_type"};
}

void LogLinearTraining::before_training(const Setup& /*setup*/, Solver& /*solver*/,
                                        const io::LoadedDataset& /*data*/,
                                        const io::Checkpoint* /*resumed*/,
                                        const core::Environment& /*env*/, TraceEnd& /*end*/) {}

solver::TraceOptions LogLinearTraining::trace_options(const Setup& setup) {
  solver::TraceOptions options;
  options.gap = setup.gap;
  return options;
}

double LogLinearTraining::train(Solver& solver, const io::LoadedDataset& data,
                                const solver::TraceOptions& options,
                                const solver::RecordSink& sink) {
  return solver::train(
      solver,
      {&data.train, data.val.empty() ? nullptr : &data.val, data.env.empty() ? nullptr : &data.env},
      options, sink);
}

void LogLinearTraining::after_record(const Setup& setup, const Solver& solver,
                                     const Communicator& comm, const TraceRecord& record) {
  if (setup.check_sync) {
    const auto h = static_cast<std::int64_t>(theta_hash(solver.theta()) >> 1);
    if (comm.allreduce_min(h) != comm.allreduce_max(h)) {
      throw InternalError(
          "theta differs between ranks at iteration " + std::to_string(record.iteration), false);
    }
  }
}

void LogLinearTraining::add_end(const Solver& solver, TraceEnd& end) {
  end.finals.insert({{"theta_final", solver.theta()},
                     {"theta_avg", solver.theta_avg()},
                     {"alpha_final", solver.alpha()},
                     {"alpha_avg", solver.alpha_avg()}});
  end.attributes.insert({{"empty_group_steps", solver.empty_group_steps()},
                         {"singular_solves", solver.singular_solves()}});
}

std::string LogLinearTraining::summary(const TraceRecord& last) {
  std::ostringstream o;
  if (!last.reward_error.empty()) {
    o << "  max reward error " << format_double(last.max_reward_error);
  }
  if (last.has_gap) {
    o << "  gap " << format_double(last.gap_avg.gap);
  }
  return o.str();
}

} // namespace grpo::app
