// In-memory synthetic preference splits for benchmarks: the rows of this rank's share are
// filled in place on the device by a counter-based kernel (no host staging), so a benchmark
// can hold 2^24 x 32 features without the I/O path and without a second copy.
#pragma once

#include "core/rng.hpp"
#include "policies/preference_batch.hpp"
#include "solver/group_partition.hpp"

#include <vector>

namespace grpo::bench {

/// K groups of equal size (the last takes the remainder) over n rows.
inline std::vector<index_t> equal_offsets(index_t n, int k) {
  std::vector<index_t> offsets(k + 1, 0);
  for (int g = 1; g <= k; ++g) {
    offsets[g] = solver::even_share_begin(n, k, g);
  }
  return offsets;
}

/// This rank's share of a split with the given offsets: z_ij uniform in [-1, 1) plus a
/// group-dependent shift, reference log-ratios zero.
inline policies::PreferenceSplit synthetic_split(const std::vector<index_t>& offsets, int dim,
                                                 int rank, int size, std::uint64_t seed = 1) {
  const solver::GroupPartition partition(offsets, size);
  policies::PreferenceSplit split;
  split.name = "train";
  split.feature_dim = dim;
  split.offsets = offsets;
  split.global_begin = partition.rank_begin(rank);
  split.pieces = partition.pieces(rank);
  const index_t rows = partition.rank_rows(rank);
  split.z = Kokkos::View<float**, MemSpace>(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::bench::z"), rows, dim);
  split.ref_logratio = View1<float>("grpo::bench::ref", rows);
  const auto z = split.z;
  const index_t first = split.global_begin;
  Kokkos::parallel_for(
      "grpo::bench::fill",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(ExecSpace(), 0, rows),
      KOKKOS_LAMBDA(const index_t i) {
        const auto row = static_cast<std::uint64_t>(first + i);
        for (int j = 0; j < dim; ++j) {
          const double u = rng::to_unit(rng::hash(seed, row, static_cast<std::uint64_t>(j)));
          z(i, j) = static_cast<float>(2.0 * u - 1.0 + 0.3 * ((row + j) % 3));
        }
      });
  Kokkos::fence();
  return split;
}

} // namespace grpo::bench
