#include "core/environment.hpp"

#include "core/error.hpp"

#include <Kokkos_Core.hpp>

#include <unistd.h>

#if GRPO_ENABLE_MPI
#include <mpi.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace grpo::core {

Environment::Environment([[maybe_unused]] int& argc, [[maybe_unused]] char**& argv) {
#if GRPO_ENABLE_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized == 0) {
    if (!mpi_launched_here()) {
      return; // the one-rank job without MPI: Communicator is then serial
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    m_mpi_started_here = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &m_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &m_size);
#endif
}

Environment::~Environment() {
  if (m_kokkos_started) {
    Kokkos::finalize();
  }
#if GRPO_ENABLE_MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (m_mpi_started_here && (finalized == 0)) {
    MPI_Finalize();
  }
#endif
}

void Environment::start_kokkos(const std::vector<std::string>& args) {
  if (m_kokkos_started) {
    throw InternalError("Environment::start_kokkos called twice");
  }
  std::vector<std::string> storage;
  storage.emplace_back("grpo");
  for (const auto& arg : args) {
    if (arg.rfind("--kokkos-", 0) == 0) {
      storage.push_back(arg);
    }
  }
  std::vector<char*> pointers;
  pointers.reserve(storage.size() + 1);
  for (auto& s : storage) {
    pointers.push_back(s.data());
  }
  pointers.push_back(nullptr);
  int kargc = static_cast<int>(storage.size());
  Kokkos::initialize(kargc, pointers.data());
  m_kokkos_started = true;
}

void Environment::abort(int code) {
#if GRPO_ENABLE_MPI
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if ((initialized != 0) && (finalized == 0)) {
    MPI_Abort(MPI_COMM_WORLD, code);
  }
#endif
  std::_Exit(code);
}

bool mpi_launched(const char* (*getenv)(const char* name)) {
  if (const char* forced = getenv("GRPO_MPI"); forced != nullptr && *forced != '\0') {
    if (std::strcmp(forced, "1") == 0) {
      return true;
    }
    if (std::strcmp(forced, "0") == 0) {
      return false;
    }
    throw ConfigError(std::string("environment variable GRPO_MPI: invalid value '") + forced +
                      "' (accepted: 1, 0, or unset to detect a launcher)");
  }
  constexpr const char* kLauncherVariables[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                                "PMI_SIZE"};
  return std::any_of(std::begin(kLauncherVariables), std::end(kLauncherVariables),
                     [&](const char* name) { return getenv(name) != nullptr; });
}

bool mpi_launched_here() {
  return mpi_launched([](const char* name) -> const char* { return std::getenv(name); });
}

std::vector<std::string> kokkos_arguments(int argc, const char* const* argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--kokkos-", 9) == 0) {
      out.emplace_back(argv[i]);
    }
  }
  return out;
}

double physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 1e12;
}

} // namespace grpo::core
