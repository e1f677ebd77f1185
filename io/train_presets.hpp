// Named training presets: the hyperparameters of ALGORITHM.md §7 for the paper's three
// synthetic settings, per method family. Explicit options override what a preset sets.
#pragma once

#include "solver/solver_config.hpp"

#include <string>
#include <vector>

namespace grpo::io {

struct TrainPreset {
  solver::SolverConfig config;
  index_t trace_every = 100;
};

/// Names accepted by --preset: "paper" (the setting is read from the dataset's `preset`
/// attribute) and "paper-<setting>" for the settings of bandit_preset().
std::vector<std::string> train_preset_names();

/// Applies preset `name` for `method` to a default configuration. `dataset_setting` is the
/// dataset's `preset` attribute (may be empty). ConfigError for unknown names or when "paper"
/// meets a dataset generated without a paper setting.
TrainPreset train_preset(const std::string& name, solver::Method method,
                         const std::string& dataset_setting, const std::string& dataset_path);

} // namespace grpo::io
