// Helpers shared by the subcommands.
#include "apps/commands.hpp"

#include "apps/option_names.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/git_revision.hpp"
#include "core/kokkos_compat.hpp"

#include <H5public.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

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

int run_reporting_errors(const core::Environment& env, const std::function<int()>& command) {
  const auto report = [&](const char* prefix, const std::string& raw, int code, bool rank_local) {
    const std::string message = printable(raw);
    if (rank_local && env.world_size() > 1) {
      std::fprintf(stderr, "%s (rank %d): %s\n", prefix, env.world_rank(), message.c_str());
      core::Environment::abort(code);
    }
    if (env.world_rank() == 0) {
      std::fprintf(stderr, "%s: %s\n", prefix, message.c_str());
    }
    return code;
  };
  try {
    return command();
  } catch (const ConfigFieldError& e) {
    return report("error", option_message(e), e.exit_code(), e.rank_local());
  } catch (const Error& e) {
    return report("error", e.what(), e.exit_code(), e.rank_local());
  } catch (const std::bad_alloc&) {
    return report("error", "out of memory", static_cast<int>(ExitCode::Io), true);
  } catch (const std::exception& e) {
    return report("internal error", e.what(), static_cast<int>(ExitCode::Internal), true);
  }
}

} // namespace grpo::app
