// The subcommands of the grpo executable. Each parses its options (before Kokkos starts, the
// same way on every rank), builds the library objects, runs and returns an exit code.
#pragma once

#include "core/environment.hpp"

#include <string>
#include <vector>

namespace grpo::app {

int run_generate(core::Environment& env, const std::vector<std::string>& args);
int run_train(core::Environment& env, const std::vector<std::string>& args);
int run_info(core::Environment& env, const std::vector<std::string>& args);

/// "grpo 0.1.0 (git ..., Kokkos 3.4.1 Serial, MPI on, HDF5 1.10.8)".
std::string version_line();

/// Prints `text` on rank 0 only.
void root_print(const core::Environment& env, const std::string& text);

} // namespace grpo::app
