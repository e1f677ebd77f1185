// Small preference data with every option of each prompt (what `grpo convert` writes), as
// rank-local splits for the NeuralSolver tests.
#pragma once

#include "core/rng.hpp"
#include "policies/preference_batch.hpp"
#include "solver/group_partition.hpp"
#include "solver/local_split.hpp"

#include <cmath>
#include <vector>

namespace grpo::test {

struct OptionData {
  int dim = 0;
  std::vector<index_t> offsets;        ///< K + 1 group offsets
  std::vector<index_t> option_offsets; ///< N + 1
  std::vector<float> options;          ///< [M x dim]
  std::vector<int> chosen_option;      ///< [N]
  std::vector<int> rejected_option;    ///< [N]
  std::vector<float> ref;              ///< [N]
  index_t rows() const { return offsets.back(); }
};

/// 2 to 4 options per prompt with features in [-1, 1) plus a per-group shift; seeded.
inline OptionData option_data(const std::vector<index_t>& sizes, int dim, std::uint64_t seed,
                              bool with_ref = false) {
  OptionData d;
  d.dim = dim;
  d.offsets.push_back(0);
  for (const auto s : sizes) {
    d.offsets.push_back(d.offsets.back() + s);
  }
  d.option_offsets.push_back(0);
  for (std::size_t g = 0; g < sizes.size(); ++g) {
    for (index_t i = d.offsets[g]; i < d.offsets[g + 1]; ++i) {
      const auto row = static_cast<std::uint64_t>(i);
      const int n = 2 + static_cast<int>(rng::to_index(rng::hash(seed, 10, row), 3));
      for (int k = 0; k < n; ++k) {
        for (int j = 0; j < dim; ++j) {
          const double u = rng::to_unit(rng::hash(seed, 11, row, k, j));
          const double shift = (static_cast<int>(g) + j) % 2 == 0 ? 0.3 : -0.2;
          // Multiples of 1/64: differences of two features are exact in float32, so the
          // zero-hidden network and the log-linear solver (which stores z = chosen - rejected
          // in float32) see the same numbers.
          const double x = 2.0 * u - 1.0 + shift * (k == 0 ? 1 : -1);
          d.options.push_back(static_cast<float>(std::round(x * 64.0) / 64.0));
        }
      }
      d.option_offsets.push_back(d.option_offsets.back() + n);
      const int w = static_cast<int>(rng::to_index(rng::hash(seed, 12, row), n));
      const int l = (w + 1 + static_cast<int>(rng::to_index(rng::hash(seed, 13, row), n - 1))) % n;
      d.chosen_option.push_back(w);
      d.rejected_option.push_back(l);
      const double v = rng::to_unit(rng::hash(seed, 14, row));
      d.ref.push_back(with_ref ? static_cast<float>(0.4 * v - 0.2) : 0.0f);
    }
  }
  return d;
}

/// Rank `rank`'s share of `d` (of `size` ranks) with pair features and options loaded.
inline policies::PreferenceSplit option_split(const OptionData& d, int rank, int size,
                                              const char* name = "train") {
  const solver::GroupPartition partition(d.offsets, size);
  const index_t begin = partition.rank_begin(rank);
  const index_t rows = partition.rank_rows(rank);
  const int dim = d.dim;
  const auto feature = [&](index_t option_row, int j) {
    return d.options[static_cast<std::size_t>(option_row * dim + j)];
  };
  std::vector<float> z(static_cast<std::size_t>(rows * dim));
  for (index_t i = 0; i < rows; ++i) {
    const index_t row = begin + i;
    const index_t w = d.option_offsets[row] + d.chosen_option[row];
    const index_t l = d.option_offsets[row] + d.rejected_option[row];
    for (int j = 0; j < dim; ++j) {
      z[static_cast<std::size_t>(i * dim + j)] = static_cast<float>(
          static_cast<double>(feature(w, j)) - static_cast<double>(feature(l, j)));
    }
  }
  auto split = solver::make_local_split(name, dim, partition, rank, z.data(), d.ref.data() + begin);

  const index_t first_option = d.option_offsets[begin];
  const index_t options = d.option_offsets[begin + rows] - first_option;
  split.chosen = Kokkos::View<float**, MemSpace>("chosen", rows, dim);
  split.rejected = Kokkos::View<float**, MemSpace>("rejected", rows, dim);
  split.options = Kokkos::View<float**, MemSpace>("options", options, dim);
  split.option_offsets = View1<index_t>("option_offsets", rows + 1);
  split.chosen_option = View1<int>("chosen_option", rows);
  split.rejected_option = View1<int>("rejected_option", rows);
  auto chosen = Kokkos::create_mirror_view(split.chosen);
  auto rejected = Kokkos::create_mirror_view(split.rejected);
  auto opts = Kokkos::create_mirror_view(split.options);
  auto offs = Kokkos::create_mirror_view(split.option_offsets);
  auto co = Kokkos::create_mirror_view(split.chosen_option);
  auto ro = Kokkos::create_mirror_view(split.rejected_option);
  for (index_t i = 0; i < rows; ++i) {
    const index_t row = begin + i;
    for (int j = 0; j < dim; ++j) {
      chosen(i, j) = feature(d.option_offsets[row] + d.chosen_option[row], j);
      rejected(i, j) = feature(d.option_offsets[row] + d.rejected_option[row], j);
    }
    co(i) = d.chosen_option[row];
    ro(i) = d.rejected_option[row];
  }
  for (index_t i = 0; i <= rows; ++i) {
    offs(i) = d.option_offsets[begin + i] - first_option;
  }
  for (index_t r = 0; r < options; ++r) {
    for (int j = 0; j < dim; ++j) {
      opts(r, j) = feature(first_option + r, j);
    }
  }
  Kokkos::deep_copy(split.chosen, chosen);
  Kokkos::deep_copy(split.rejected, rejected);
  Kokkos::deep_copy(split.options, opts);
  Kokkos::deep_copy(split.option_offsets, offs);
  Kokkos::deep_copy(split.chosen_option, co);
  Kokkos::deep_copy(split.rejected_option, ro);
  split.pair_features_loaded = true;
  split.options_loaded = true;
  return split;
}

} // namespace grpo::test
