// Environment: the one object per process that starts MPI (when built with it) and Kokkos, and
// stops them in reverse order. Construct it first in main (and in every test main), keep every
// View in an inner scope that closes before it is destroyed.
#pragma once

#include "core/config.hpp"

#include <string>
#include <vector>

namespace grpo::core {

class Environment {
public:
  /// Starts MPI (MPI_THREAD_FUNNELED) when an MPI launcher started this process
  /// (mpi_launched_here()): a process started alone runs as the one-rank job without MPI, and
  /// does not pay for a singleton start-up (Open MPI's took 0.4 s on the development VM).
  /// Kokkos is started separately by start_kokkos(), after the command line has been parsed and
  /// validated on every rank.
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  /// Starts Kokkos with only the `--kokkos-*` arguments of `args` (our parser owns the rest).
  void start_kokkos(const std::vector<std::string>& args = {});
  bool kokkos_started() const noexcept { return m_kokkos_started; }

  /// Whether this Environment started MPI (false without a launcher or when MPI was started
  /// before it).
  bool mpi_started_here() const noexcept { return m_mpi_started_here; }

  /// Rank and size of MPI_COMM_WORLD (0 and 1 without MPI).
  int world_rank() const noexcept { return m_rank; }
  int world_size() const noexcept { return m_size; }

  /// Ends the whole job with `code` (MPI_Abort with MPI, std::exit without).
  [[noreturn]] static void abort(int code);

private:
  int m_rank = 0;
  int m_size = 1;
  bool m_mpi_started_here = false;
  bool m_kokkos_started = false;
};

/// Whether the environment `getenv` describes a process that an MPI launcher started: mpirun or
/// mpiexec of Open MPI (OMPI_COMM_WORLD_SIZE), a PMIx or PMI launcher such as srun --mpi=pmix
/// or MPICH's Hydra (PMIX_RANK, PMI_RANK, PMI_SIZE). GRPO_MPI=1 (or 0) forces MPI on (or off).
/// Throws ConfigError for another value of GRPO_MPI.
bool mpi_launched(const char* (*getenv)(const char* name));
/// mpi_launched of this process' environment.
bool mpi_launched_here();

/// Bytes of physical memory of this machine (1e12 when the system does not say).
double physical_memory_bytes();

/// Only the `--kokkos-*` arguments of a command line (what Kokkos may see).
std::vector<std::string> kokkos_arguments(int argc, const char* const* argv);

} // namespace grpo::core
