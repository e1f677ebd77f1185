// The policy-specific parts of `grpo train`, one struct per policy, behind the one run path of
// apps/cmd_train.cpp (run_training<Policy>): its setup (the options it reads, how they resolve
// into its solver's configuration and its configuration text are rows of the option table,
// apps/train_options.cpp), the checks against the dataset, the initial parameters, the solver,
// the trace attributes and end values of its own, and the training call. Everything else (paths,
// checkpoints, resume, the trace and its header, progress and the closing line) is common. Internal
// to apps/.
#pragma once

#include "apps/options.hpp"
#include "apps/train_common.hpp"
#include "core/communicator.hpp"
#include "core/environment.hpp"
#include "core/trace_record.hpp"
#include "io/checkpoint.hpp"
#include "io/dataset.hpp"
#include "io/run_header.hpp"
#include "solver/minimax_solver.hpp"
#include "solver/neural_solver.hpp"
#include "solver/trainer.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace grpo::app {

/// The dataset's metadata, inspected on first use (a preset may need it before the run does).
using SummarySource = std::function<const io::DatasetSummary&(const std::string& path)>;

/// Values written at the end of the trace: final datasets, integer and double attributes.
struct TraceEnd {
  std::map<std::string, std::vector<double>> finals;
  std::map<std::string, std::int64_t> attributes;
  std::map<std::string, double> seconds;
};

/// --policy loglinear: solver::MinimaxSolver (log-linear policy, all six methods, presets,
/// the certificate).
struct LogLinearTraining {
  using Solver = solver::MinimaxSolver;
  using Init = std::vector<double>; ///< theta_0
  struct Setup {
    RunSettings run;
    std::string preset;
    solver::SolverConfig config;
    bool gap = false;
    std::string theta_init;
    bool check_sync = false;
  };
  /// Options -> setup: the paths, then the option table (ConfigError naming the option).
  static Setup resolve(const ParsedOptions& parsed, const SummarySource& summary);
  /// The resolved configuration as INI text (in the trace and checkpoints; --config reads it):
  /// render_train_options.
  static std::string render(const Setup& setup);
  /// Checks against the dataset's metadata, before anything is loaded (ConfigError).
  static void validate(Setup& setup, const io::DatasetSummary& data);
  /// theta_0: --theta-init (values, or the theta_final of a trace) or U[0, param-limit].
  static Init initial(const Setup& setup, const io::DatasetSummary& data);
  static io::LoadOptions load_options(const io::DatasetSummary& data);
  static std::unique_ptr<Solver> make_solver(const Setup& setup, const Communicator& comm,
                                             const io::LoadedDataset& data, const Init& init);
  /// The start of the line after the configuration ("" here).
  static std::string describe(const Solver& solver);
  static void add_header(const Setup& setup, const Solver& solver, io::RunHeader& header);
  /// Work before the training loop (none here); `resumed` is the checkpoint of a resumed run.
  static void before_training(const Setup& setup, Solver& solver, const io::LoadedDataset& data,
                              const io::Checkpoint* resumed, const core::Environment& env,
                              TraceEnd& end);
  static solver::TraceOptions trace_options(const Setup& setup);
  static double train(Solver& solver, const io::LoadedDataset& data,
                      const solver::TraceOptions& options, const solver::RecordSink& sink);
  /// After each record (--check-sync).
  static void after_record(const Setup& setup, const Solver& solver, const Communicator& comm,
                           const TraceRecord& record);
  static void add_end(const Solver& solver, TraceEnd& end);
  /// The policy's part of the closing line.
  static std::string summary(const TraceRecord& last);
};

/// --policy mlp: solver::NeuralSolver (ALGORITHM.md §8), with its optional SFT stage.
struct MlpTraining {
  using Solver = solver::NeuralSolver;
  struct Init {};
  struct Setup {
    RunSettings run;
    solver::NeuralConfig config;
  };
  static Setup resolve(const ParsedOptions& parsed, const SummarySource& summary);
  static std::string render(const Setup& setup);
  static void validate(Setup& setup, const io::DatasetSummary& data);
  static Init initial(const Setup& setup, const io::DatasetSummary& data);
  static io::LoadOptions load_options(const io::DatasetSummary& data);
  static std::unique_ptr<Solver> make_solver(const Setup& setup, const Communicator& comm,
                                             const io::LoadedDataset& data, const Init& init);
  static std::string describe(const Solver& solver);
  static void add_header(const Setup& setup, const Solver& solver, io::RunHeader& header);
  /// A fresh run: the SFT stage and the metrics of the model after it (finals sft_*,
  /// seconds sft_seconds); a resumed run: the same values from its checkpoint.
  static void before_training(const Setup& setup, Solver& solver, const io::LoadedDataset& data,
                              const io::Checkpoint* resumed, const core::Environment& env,
                              TraceEnd& end);
  static solver::TraceOptions trace_options(const Setup& setup);
  static double train(Solver& solver, const io::LoadedDataset& data,
                      const solver::TraceOptions& options, const solver::RecordSink& sink);
  static void after_record(const Setup& setup, const Solver& solver, const Communicator& comm,
                           const TraceRecord& record);
  static void add_end(const Solver& solver, TraceEnd& end);
  static std::string summary(const TraceRecord& last);
};

/// True for --policy mlp, false for loglinear (the default); ConfigError on any other value, and
/// on an option of the other policy ("option --closed-form: not available with --policy mlp").
bool mlp_policy_selected(const ParsedOptions& parsed);

} // namespace grpo::app
