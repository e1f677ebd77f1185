// Communicator: owns a duplicated MPI communicator (library traffic never mixes with the
// caller's) and offers the few typed collectives the solver needs, on host buffers. Built
// without MPI it is a one-rank communicator whose collectives are identities.
#pragma once

#include "core/config.hpp"

#if GRPO_ENABLE_MPI
#include <mpi.h>
#endif

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace grpo {

class Communicator {
public:
  /// A duplicate of MPI_COMM_WORLD (or the serial communicator).
  Communicator();
#if GRPO_ENABLE_MPI
  /// A duplicate of `comm`; the one-rank communicator, without MPI calls, when MPI was not
  /// started (a process started without a launcher: core::Environment).
  explicit Communicator(MPI_Comm comm);
  /// The duplicated communicator, e.g. for parallel HDF5.
  MPI_Comm native() const { return *m_comm; }
#endif

  int rank() const noexcept { return m_rank; }
  int size() const noexcept { return m_size; }
  bool is_root() const noexcept { return m_rank == 0; }

  /// In-place element-wise sums over all ranks.
  void allreduce_sum(double* data, std::size_t count) const;
  void allreduce_sum(std::int64_t* data, std::size_t count) const;
  void allreduce_sum(std::vector<double>& data) const { allreduce_sum(data.data(), data.size()); }
  /// One Allreduce of `count` doubles that sums every entry except a log-scaled segment:
  /// data[scaled] holds a log scale m and the `length` entries after it are values times e^-m.
  /// Segments combine as m = max(m1, m2), v = v1 e^(m1 - m) + v2 e^(m2 - m), so sums of
  /// exponentially weighted vectors never overflow (m = -inf marks an empty segment).
  void allreduce_sum_logscaled(double* data, std::size_t count, std::size_t scaled,
                               std::size_t length) const;
  /// The same with several log-scaled segments (start, length), in increasing order and
  /// disjoint: the payloads of several runs in one Allreduce (solver/minimax_solver.hpp).
  void
  allreduce_sum_logscaled(double* data, std::size_t count,
                          const std::vector<std::pair<std::size_t, std::size_t>>& scaled) const;
  double allreduce_max(double value) const;
  double allreduce_min(double value) const;
  std::int64_t allreduce_min(std::int64_t value) const;
  std::int64_t allreduce_max(std::int64_t value) const;
  /// True on every rank when `flag` is true on at least one.
  bool any(bool flag) const;

  void broadcast(std::vector<double>& data, int root = 0) const;
  void broadcast(std::string& text, int root = 0) const;
  void broadcast(std::int64_t& value, int root = 0) const;
  void barrier() const;

private:
#if GRPO_ENABLE_MPI
  /// The user-defined reduction of allreduce_sum_logscaled and its block datatype, created on
  /// first use and kept (the datatype is rebuilt only when the block length changes).
  struct LogScaledReduction {
    MPI_Op op = MPI_OP_NULL;
    MPI_Datatype block = MPI_DATATYPE_NULL;
    std::size_t count = 0;
    ~LogScaledReduction();
  };
  std::shared_ptr<MPI_Comm> m_comm;
  std::shared_ptr<LogScaledReduction> m_logscaled = std::make_shared<LogScaledReduction>();
#endif
  int m_rank = 0;
  int m_size = 1;
};

} // namespace grpo
