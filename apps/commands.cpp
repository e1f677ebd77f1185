// Helpers shared by the subcommands.
#include "apps/commands.hpp"

#include "core/config.hpp"
#include "core/git_revision.hpp"
#include "core/kokkos_compat.hpp"

#include <H5public.h>

#include <iostream>

namespace grpo::app {

std::string version_line() {
  return std::string("grpo ") + GRPO_VERSION + " (git " + GRPO_GIT_REVISION + ", Kokkos " +
         core::kokkos_version_string() + ", MPI " + (GRPO_ENABLE_MPI ? "on" : "off") + ", HDF5 " +
         std::to_string(H5_VERS_MAJOR) + "." + std::to_string(H5_VERS_MINOR) + "." +
         std::to_string(H5_VERS_RELEASE) + ")";
}

void root_print(const core::Environment& env, const std::string& text) {
  if (env.world_rank() == 0) {
    std::cout << text << std::flush;
  }
}

} // namespace grpo::app
