// The command-line spelling of configuration fields. The solver's errors name the fields of its
// configuration structs (ConfigFieldError: `closed_form`, `schedule.warmup`, `optimizer.lr`);
// `grpo train` shows them as the options that set them ("option --closed-form: ...",
// "--lr-warmup"), so that a message tells the user what to change on the command line.
#pragma once

#include "core/error.hpp"

#include <string>

namespace grpo::app {

/// The option (without "--") that sets configuration field `field`: an entry of the table of
/// fields whose option is spelled differently (`schedule.warmup` -> `lr-warmup`, `optimizer.lr`
/// -> `lr`), else the field with '_' and '.' as '-' (`step_theta` -> `step-theta`).
std::string option_of_field(const std::string& field);

/// The message of `e` as grpo's command line says it: "option --closed-form: needs full batches
/// (--sampling code_batch and --batch-size 0)".
std::string option_message(const ConfigFieldError& e);

/// Runs `f`; a ConfigFieldError leaves it as the ConfigError of option_message().
template <class F>
decltype(auto) naming_options(F&& f) {
  try {
    return f();
  } catch (const ConfigFieldError& e) {
    throw ConfigError(option_message(e));
  }
}

} // namespace grpo::app
