// The options of `grpo train` as data: one descriptor per option (TrainOption) with its name,
// help text, --help group, the policies that take it and, per policy, how its value is read into
// the run's setup, derived when absent, checked, and written in the resolved configuration. From
// the one table (apps/train_options.cpp) are generated: the Boost.Program_options description
// (the command line, --config INI files and --help), the setups of both policies
// (read_train_options), their configuration text (render_train_options; checkpoints and traces
// keep it and resume compares it, so its lines and their order never change), and the refusal
// of an option that the chosen policy does not take.
//
// A default lives in one place, the setup's structs (solver::SolverConfig, solver::NeuralConfig,
// solver::LrScheduleConfig, RunSettings; the defaults that both policies share are
// solver::shared_defaults): --help shows the value of a default-constructed setup. Internal to
// apps/.
#pragma once

#include "apps/options.hpp"
#include "apps/train_policy.hpp"

#include <functional>
#include <string>
#include <vector>

namespace grpo::app {

/// The policies that take an option (a bit set).
enum PolicySet : unsigned { kLogLinearPolicy = 1U, kMlpPolicy = 2U, kBothPolicies = 3U };

/// The group of `grpo train --help` that lists an option.
enum class HelpGroup { Train, Schedule, Mlp };

/// How one policy's setup takes an option. Any member may be empty.
template <class Setup>
struct OptionBinding {
  /// Reads the given value into the setup (ConfigError naming the option). Empty for an option
  /// read before the table (--dataset, --out: required_paths; --policy: mlp_policy_selected) and
  /// for one the policy accepts and ignores.
  std::function<void(const std::string& value, Setup& setup, const SummarySource& summary)> set;
  /// After every given option is read: a value that depends on others (--reference, --checkpoint).
  std::function<void(const ParsedOptions& parsed, Setup& setup)> derive;
  /// After that: range and combination checks (ConfigError naming the option).
  std::function<void(const ParsedOptions& parsed, const Setup& setup)> check;
  /// The value as the resolved configuration writes it ("1", "gr-dpo", "64,64").
  std::function<std::string(const Setup& setup)> value;
  /// Whether the configuration has the option's line for this setup (empty: always).
  std::function<bool(const Setup& setup)> written;
};

/// One option of `grpo train`.
struct TrainOption {
  std::string name;    ///< the long name, without "--"
  char short_name = 0; ///< 'h' for -h, 0 for none
  HelpGroup group = HelpGroup::Train;
  unsigned policies = kBothPolicies;
  std::string help; ///< the help text without its default
  /// The default as --help shows it in brackets: "{}" stands for the value of a default setup
  /// (the first policy's that takes the option); "" shows none.
  std::string shown_default = "{}";
  bool takes_value = true; ///< false for --help only
  bool flag = false;       ///< given alone, the value is "true" (--gap)
  bool comment = false;    ///< written as "# name = value (already applied below)" (--preset)
  OptionBinding<LogLinearTraining::Setup> loglinear;
  OptionBinding<MlpTraining::Setup> mlp;

  bool accepts(unsigned policy) const { return (policies & policy) != 0U; }
  template <class Setup>
  const OptionBinding<Setup>& binding() const;
};

template <>
inline const OptionBinding<LogLinearTraining::Setup>& TrainOption::binding() const {
  return loglinear;
}
template <>
inline const OptionBinding<MlpTraining::Setup>& TrainOption::binding() const {
  return mlp;
}

/// Every option of `grpo train`, in the order of --help (and the order in which they are read).
const std::vector<TrainOption>& train_option_table();
/// The option called `name` (InternalError when there is none).
const TrainOption& train_option(const std::string& name);
/// The options of `policy`'s resolved configuration, one line each, in their order.
const std::vector<std::string>& configuration_lines(unsigned policy);

/// The default that --help shows for `option` ("" for none), and its whole help text.
std::string help_default(const TrainOption& option);
std::string help_text(const TrainOption& option);
/// The Boost.Program_options description of `grpo train` (command line, INI files, --help).
po::options_description train_options();

/// ConfigError for a given option that `policy` does not take: "option --closed-form: not
/// available with --policy mlp", "option --hidden: only with --policy mlp".
void refuse_other_policy_options(const ParsedOptions& parsed, unsigned policy);

/// Reads every option `Setup`'s policy takes into `setup` (its paths already set), in table
/// order; then derives the values that depend on others, then checks (ConfigError naming the
/// option).
template <class Setup>
void read_train_options(const ParsedOptions& parsed, Setup& setup, const SummarySource& summary);
/// The resolved configuration of `setup`: "name = value" lines (configuration_lines).
template <class Setup>
std::string render_train_options(const Setup& setup);

} // namespace grpo::app
