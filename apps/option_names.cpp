#include "apps/option_names.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace grpo::app {

namespace {

/// Fields whose option is not the field spelled with '-' (solver::SolverConfig,
/// solver::NeuralConfig and their members schedule, optimizer, sft_optimizer and network; the
/// trace options of solver::train).
constexpr std::pair<const char*, const char*> kRenamed[] = {
    {"schedule.type", "lr-schedule"},
    {"schedule.warmup", "lr-warmup"},
    {"schedule.min_factor", "lr-min-factor"},
    {"schedule.metric", "plateau-metric"},
    {"schedule.factor", "plateau-factor"},
    {"schedule.patience", "plateau-patience"},
    {"schedule.threshold", "plateau-threshold"},
    {"schedule.cooldown", "plateau-cooldown"},
    {"schedule.stop_lr", "plateau-stop-lr"},
    {"schedule.alpha_factor", "plateau-alpha-factor"},
    {"optimizer.lr", "lr"},
    {"optimizer.weight_decay", "weight-decay"},
    {"optimizer.momentum", "momentum"},
    {"sft_optimizer.lr", "sft-lr"},
    {"network.hidden", "hidden"},
    {"network.activation", "activation"},
    {"trace.every", "trace-every"},
};

} // namespace

std::string option_of_field(const std::string& field) {
  const auto* const it = std::find_if(std::begin(kRenamed), std::end(kRenamed),
                                      [&](const auto& entry) { return field == entry.first; });
  if (it != std::end(kRenamed)) {
    return it->second;
  }
  std::string option = field;
  std::replace(option.begin(), option.end(), '_', '-');
  std::replace(option.begin(), option.end(), '.', '-');
  return option;
}

std::string option_message(const ConfigFieldError& e) {
  return "option " +
         e.message([](const std::string& field) { return "--" + option_of_field(field); });
}

} // namespace grpo::app
