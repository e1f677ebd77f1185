#include "core/communicator.hpp"

#include "core/error.hpp"

#include <cmath>
#include <limits>

namespace grpo {

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
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized == 0) {
    // A process started without a launcher (core::Environment): the one-rank communicator,
    // whose collectives are identities (each returns before touching MPI when size is 1).
    m_comm = std::make_shared<MPI_Comm>(MPI_COMM_NULL);
    return;
  }
  auto* dup = new MPI_Comm(MPI_COMM_NULL);
  check_mpi(MPI_Comm_dup(comm, dup), "MPI_Comm_dup");
  m_comm = std::shared_ptr<MPI_Comm>(dup, [](MPI_Comm* c) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if ((finalized == 0) && *c != MPI_COMM_NULL) {
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

namespace {
/// Layout of the buffer being reduced by the log-scaled operation (set by the calling thread;
/// MPI calls the user function from within MPI_Allreduce on that thread).
thread_local std::size_t t_count = 0;
/// The log-scaled segments (start, length), increasing and disjoint.
thread_local const std::vector<std::pair<std::size_t, std::size_t>>* t_segments = nullptr;

void combine_logscaled(const double* in, double* inout) {
  std::size_t i = 0;
  for (const auto& [scaled, length] : *t_segments) {
    for (; i < scaled; ++i) {
      inout[i] += in[i];
    }
    i = scaled + length + 1;
    const double m_in = in[scaled];
    const double m_out = inout[scaled];
    const double m = m_in > m_out ? m_in : m_out;
    if (m == -std::numeric_limits<double>::infinity()) {
      continue;
    }
    const double f_in = std::exp(m_in - m);
    const double f_out = std::exp(m_out - m);
    for (std::size_t j = 1; j <= length; ++j) {
      inout[scaled + j] = inout[scaled + j] * f_out + in[scaled + j] * f_in;
    }
    inout[scaled] = m;
  }
  for (; i < t_count; ++i) {
    inout[i] += in[i];
  }
}

// MPI_User_function fixes the signature (int*, not const int*).
void logscaled_op(void* in, void* inout,
                  int* len, // NOLINT(readability-non-const-parameter)
                  MPI_Datatype* /*unused*/) {
  // The datatype is one contiguous block of t_count doubles: len counts such blocks.
  for (int b = 0; b < *len; ++b) {
    combine_logscaled(static_cast<const double*>(in) + b * t_count,
                      static_cast<double*>(inout) + b * t_count);
  }
}
} // namespace

void Communicator::allreduce_sum_logscaled(double* data, std::size_t count, std::size_t scaled,
                                           std::size_t length) const {
  allreduce_sum_logscaled(data, count, {{scaled, length}});
}

void Communicator::allreduce_sum_logscaled(
    double* data, std::size_t count,
    const std::vector<std::pair<std::size_t, std::size_t>>& scaled) const {
  if (m_size == 1 || count == 0) {
    return;
  }
  for (std::size_t s = 0; s < scaled.size(); ++s) {
    if (scaled[s].first + scaled[s].second >= count ||
        (s > 0 && scaled[s].first <= scaled[s - 1].first + scaled[s - 1].second)) {
      throw InternalError("allreduce_sum_logscaled: segment " + std::to_string(s) +
                              " out of order or past the " + std::to_string(count) + " values",
                          false);
    }
  }
  t_count = count;
  t_segments = &scaled;
  auto& r = *m_logscaled;
  if (r.op == MPI_OP_NULL) {
    check_mpi(MPI_Op_create(&logscaled_op, 1, &r.op), "MPI_Op_create");
  }
  if (r.count != count) {
    if (r.block != MPI_DATATYPE_NULL) {
      MPI_Type_free(&r.block);
    }
    check_mpi(MPI_Type_contiguous(checked_count(count), MPI_DOUBLE, &r.block),
              "MPI_Type_contiguous");
    check_mpi(MPI_Type_commit(&r.block), "MPI_Type_commit");
    r.count = count;
  }
  const int status = MPI_Allreduce(MPI_IN_PLACE, data, 1, r.block, r.op, *m_comm);
  t_segments = nullptr; // the list lives only as long as this call
  check_mpi(status, "MPI_Allreduce");
}

Communicator::LogScaledReduction::~LogScaledReduction() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized != 0) {
    return;
  }
  if (block != MPI_DATATYPE_NULL) {
    MPI_Type_free(&block);
  }
  if (op != MPI_OP_NULL) {
    MPI_Op_free(&op);
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
void Communicator::allreduce_sum_logscaled(double*, std::size_t, std::size_t, std::size_t) const {}
void Communicator::allreduce_sum_logscaled(
    double*, std::size_t, const std::vector<std::pair<std::size_t, std::size_t>>&) const {}
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

} // namespace grpo
