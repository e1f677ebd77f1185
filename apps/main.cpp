// The grpo command line: dispatches to a subcommand, turns errors into one line on stderr and
// the exit code of their class (docs/cli.md). Rank-local failures abort the whole MPI job.
#include "apps/commands.hpp"
#include "core/config.hpp"
#include "core/environment.hpp"
#include "core/error.hpp"
#include "core/git_revision.hpp"
#include "core/kokkos_compat.hpp"
#include "io/hdf5.hpp"

#include <H5public.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

namespace grpo::app {

namespace {
const char* kUsage =
    "Usage: grpo <command> [options]\n\n"
    "Group Robust Preference Optimization: minimax DPO/IPO over user groups.\n\n"
    "Commands:\n"
    "  generate   write the synthetic group bandit of the paper as a dataset\n"
    "  convert    turn real data (globalopinionqa, your pairs) into a dataset\n"
    "  train      run a method (dpo, ipo, is-dpo, is-ipo, gr-dpo, gr-ipo) and write a trace\n"
    "  info FILE  summarise a dataset or a trace\n"
    "  study      plan, run (locally or on Slurm), follow and report a study (a TOML grid)\n\n"
    "Options: --help (also after a command), --version.\n"
    "Exit codes: 0 ok, 2 configuration, 3 data, 4 I/O, 5 numerical, 70 internal.\n";
} // namespace

} // namespace grpo::app

int main(int argc, char** argv) {
  using namespace grpo;
  if (argc > 1 && std::string(argv[1]) == "study") {
    // Studies launch mpirun themselves: no MPI (a singleton MPI parent would leak its
    // environment into the children), no Kokkos.
    io::h5::silence_errors();
    try {
      return app::run_study(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", printable(e.what()).c_str());
      return e.exit_code();
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "error: out of memory\n");
      return static_cast<int>(ExitCode::Io);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "internal error: %s\n", printable(e.what()).c_str());
      return static_cast<int>(ExitCode::Internal);
    }
  }
  try {
    (void)core::mpi_launched_here(); // a bad GRPO_MPI is a configuration error, before MPI
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", printable(e.what()).c_str());
    return e.exit_code();
  }
  core::Environment env(argc, argv);
  io::h5::silence_errors();
  const std::vector<std::string> all(argv + 1, argv + argc);
  return app::run_reporting_errors(env, [&] {
    if (all.empty()) {
      throw ConfigError(
          "missing command (expected generate, convert, train, info or study; see grpo --help)");
    }
    if (all[0] == "--help" || all[0] == "-h" || all[0] == "help") {
      app::root_print(env, app::kUsage);
      return 0;
    }
    if (all[0] == "--version") {
      app::root_print(env, app::version_line() + "\n");
      return 0;
    }
    const std::vector<std::string> rest(all.begin() + 1, all.end());
    if (all[0] == "generate") {
      return app::run_generate(env, rest);
    }
    if (all[0] == "convert") {
      return app::run_convert(env, rest);
    }
    if (all[0] == "train") {
      return app::run_train(env, rest);
    }
    if (all[0] == "info") {
      return app::run_info(env, rest);
    }
    throw ConfigError("unknown command '" + all[0] +
                      "' (expected generate, convert, train, info or study)");
  });
}
