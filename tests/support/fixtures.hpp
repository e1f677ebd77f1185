// Small host datasets for solver tests, and their conversion into (rank-local) splits.
#pragma once

#include "core/communicator.hpp"
#include "core/config.hpp"
#include "core/rng.hpp"
#include "policies/preference_batch.hpp"
#include "solver/group_partition.hpp"
#include "solver/local_split.hpp"

#include <cmath>
#include <vector>

namespace grpo::test {

/// A one-rank communicator, whatever the number of ranks the test runs on.
inline Communicator self_communicator() {
#if GRPO_ENABLE_MPI
  return Communicator(MPI_COMM_SELF);
#else
  return Communicator();
#endif
}

struct HostData {
  int dim = 0;
  std::vector<index_t> offsets;
  std::vector<float> z;   ///< [N x dim]
  std::vector<float> ref; ///< [N]
  index_t rows() const { return offsets.back(); }
};

/// Random features in [-1, 1) (plus a per-group shift, so groups disagree), seeded.
inline HostData random_data(const std::vector<index_t>& sizes, int dim, std::uint64_t seed,
                            bool with_ref = false) {
  HostData d;
  d.dim = dim;
  d.offsets.push_back(0);
  for (auto s : sizes) {
    d.offsets.push_back(d.offsets.back() + s);
  }
  for (std::size_t g = 0; g < sizes.size(); ++g) {
    for (index_t i = d.offsets[g]; i < d.offsets[g + 1]; ++i) {
      for (int j = 0; j < dim; ++j) {
        const double u = rng::to_unit(rng::hash(seed, 1, static_cast<std::uint64_t>(i), j));
        const double shift = ((static_cast<int>(g) + j) % 2 == 0 ? 0.4 : -0.3);
        d.z.push_back(static_cast<float>(2.0 * u - 1.0 + shift));
      }
      const double v = rng::to_unit(rng::hash(seed, 2, static_cast<std::uint64_t>(i)));
      d.ref.push_back(with_ref ? static_cast<float>(0.5 * v - 0.25) : 0.0f);
    }
  }
  return d;
}

inline policies::PreferenceSplit split_for_rank(const HostData& d, int rank, int size,
                                                const char* name = "train") {
  solver::GroupPartition partition(d.offsets, size);
  const index_t begin = partition.rank_begin(rank);
  return solver::make_local_split(name, d.dim, partition, rank, d.z.data() + begin * d.dim,
                                  d.ref.data() + begin);
}

inline policies::PreferenceSplit whole_split(const HostData& d, const char* name = "train") {
  return split_for_rank(d, 0, 1, name);
}

/// Max over entries of |a - b| / max(1, |b|).
inline double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    m = std::max(m, std::abs(a[i] - b[i]) / std::max(1.0, std::abs(b[i])));
  }
  return m;
}

} // namespace grpo::test
