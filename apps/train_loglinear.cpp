// grpo train --policy loglinear: the log-linear policy's part of the one run path
// (apps/train_policy.hpp): theta_0 and solver::MinimaxSolver; its options and configuration text
// are rows of the option table (apps/train_options.cpp).
#include "apps/train_options.hpp"
#include "apps/train_policy.hpp"
#include "core/error.hpp"
#include "io/trace_reader.hpp"

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
  read_train_options(p, s, summary);
  return s;
}

std::string LogLinearTraining::render(const Setup& s) { return render_train_options(s); }

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
