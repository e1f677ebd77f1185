#include "solver/communicator.hpp"

#include "core/error.hpp"

#include <limits>

namespace grpo::solver {

#if GRPO_ENABLE_MPI

namespace {
void check_mpi(int status, const char* what) {
  if (status != MPI_SUCCESS) {
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(status, message, &length);
    throw InternalError(std::string("MPI call ") + what +
                        " failed: " + std::string(message, length));
  }
}

int checked_count(std::size_t count) {
  if (count > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw InternalError("MPI message of " + std::to_string(count) + " elements exceeds INT_MAX");
  }
  return static_cast<int>(count);
}
} // namespace

Communicator::Communicator()
    : Communicator(MPI_COMM_WORLD) {}

Communicator::Communicator(MPI_Comm comm) {
  auto* dup = new MPI_Comm(MPI_COMM_NULL);
  check_mpi(MPI_Comm_dup(comm, dup), "MPI_Comm_dup");
  m_comm = std::shared_ptr<MPI_Comm>(dup, [](MPI_Comm* c) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && *c != MPI_COMM_NULL) {
      MPI_Comm_free(c);
    }
    delete c;
  });
  MPI_Comm_rank(*m_comm, &m_rank);
  MPI_Comm_size(*m_comm, &m_size);
}

void Communicator::allreduce_sum(double* data, std::size_t count) const {
  if (m_size > 1 && count > 0) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, checked_count(count), MPI_DOUBLE, MPI_SUM, *m_comm),
              "MPI_Allreduce");
  }
}

void Communicator::allreduce_sum(std::int64_t* data, std::size_t count) const {
  if (m_size > 1 && count > 0) {
    check_mpi(
        MPI_Allreduce(MPI_IN_PLACE, data, checked_count(count), MPI_INT64_T, MPI_SUM, *m_comm),
        "MPI_Allreduce");
  }
}

double Communicator::allreduce_max(double value) const {
  if (m_size > 1) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, *m_comm),
              "MPI_Allreduce");
  }
  return value;
}

double Communicator::allreduce_min(double value) const {
  if (m_size > 1) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MIN, *m_comm),
              "MPI_Allreduce");
  }
  return value;
}

std::int64_t Communicator::allreduce_min(std::int64_t value) const {
  if (m_size > 1) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, MPI_MIN, *m_comm),
              "MPI_Allreduce");
  }
  return value;
}

std::int64_t Communicator::allreduce_max(std::int64_t value) const {
  if (m_size > 1) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, MPI_MAX, *m_comm),
              "MPI_Allreduce");
  }
  return value;
}

bool Communicator::any(bool flag) const {
  return allreduce_max(static_cast<std::int64_t>(flag ? 1 : 0)) != 0;
}

void Communicator::broadcast(std::vector<double>& data, int root) const {
  if (m_size == 1) {
    return;
  }
  auto count = static_cast<std::int64_t>(data.size());
  broadcast(count, root);
  data.resize(static_cast<std::size_t>(count));
  check_mpi(MPI_Bcast(data.data(), checked_count(data.size()), MPI_DOUBLE, root, *m_comm),
            "MPI_Bcast");
}

void Communicator::broadcast(std::string& text, int root) const {
  if (m_size == 1) {
    return;
  }
  auto count = static_cast<std::int64_t>(text.size());
  broadcast(count, root);
  text.resize(static_cast<std::size_t>(count));
  check_mpi(MPI_Bcast(text.data(), checked_count(text.size()), MPI_CHAR, root, *m_comm),
            "MPI_Bcast");
}

void Communicator::broadcast(std::int64_t& value, int root) const {
  if (m_size > 1) {
    check_mpi(MPI_Bcast(&value, 1, MPI_INT64_T, root, *m_comm), "MPI_Bcast");
  }
}

void Communicator::barrier() const {
  if (m_size > 1) {
    check_mpi(MPI_Barrier(*m_comm), "MPI_Barrier");
  }
}

#else // serial communicator

Communicator::Communicator() = default;
void Communicator::allreduce_sum(double*, std::size_t) const {}
void Communicator::allreduce_sum(std::int64_t*, std::size_t) const {}
double Communicator::allreduce_max(double value) const { return value; }
double Communicator::allreduce_min(double value) const { return value; }
std::int64_t Communicator::allreduce_min(std::int64_t value) const { return value; }
std::int64_t Communicator::allreduce_max(std::int64_t value) const { return value; }
bool Communicator::any(bool flag) const { return flag; }
void Communicator::broadcast(std::vector<double>&, int) const {}
void Communicator::broadcast(std::string&, int) const {}
void Communicator::broadcast(std::int64_t&, int) const {}
void Communicator::barrier() const {}

#endif

} // namespace grpo::solver
