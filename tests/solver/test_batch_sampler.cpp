// The mini-batch draws on the device (solver/batch_sampler.hpp) against host references written
// out here: the log-linear sampler's slots, the MLP's epoch permutations (the rows sorted by
// (hash, row)), passes that cross epochs, and the locator's sort, per-group counts and local
// rows for a rank that holds parts of groups with gaps between them.
#include "core/rng.hpp"
#include "solver/batch_sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

namespace {

using namespace grpo;

template <class View>
std::vector<index_t> to_host(const View& v, index_t n) {
  std::vector<index_t> out(static_cast<std::size_t>(n));
  if (n > 0) {
    Kokkos::deep_copy(HostView1<index_t>(out.data(), out.size()),
                      Kokkos::subview(v, std::make_pair(index_t(0), n)));
  }
  return out;
}

/// Offsets 0, 5, 5, 40, 41, 100: an empty group and a group of one.
std::vector<index_t> offsets() { return {0, 5, 5, 40, 41, 100}; }

/// A rank holding global rows [20, 40) of group 2, [40, 41) of group 3 and [70, 100) of group 4,
/// stored at local rows 0.., 20, 21.. (the gap [41, 70) belongs to another rank).
policies::PreferenceSplit rank_split() {
  policies::PreferenceSplit s;
  s.offsets = offsets();
  s.pieces = {{2, 20, 40, 0}, {3, 40, 41, 20}, {4, 70, 100, 21}};
  return s;
}

TEST(BatchSampler, DeviceSlotsEqualTheHostRule) {
  for (const bool weighted : {false, true}) {
    const solver::BatchSampler sampler(17, offsets(), weighted, 300);
    View1<index_t> rows("rows", 300);
    for (const index_t step : {0, 1, 12345}) {
      sampler.fill(step, rows);
      const auto got = to_host(rows, 300);
      for (index_t k = 0; k < 300; ++k) {
        ASSERT_EQ(got[k], sampler.row(step, k)) << "step " << step << " slot " << k;
        ASSERT_GE(got[k], 0);
        ASSERT_LT(got[k], 100);
      }
    }
  }
  // Group-weighted draws never land in the empty group and reach the group of one.
  const solver::BatchSampler sampler(3, offsets(), true, 2000);
  bool seen_single = false;
  for (index_t k = 0; k < 2000; ++k) {
    seen_single = seen_single || sampler.row(0, k) == 40;
  }
  EXPECT_TRUE(seen_single);
}

std::vector<index_t> host_permutation(std::uint64_t seed, std::uint64_t stream, std::int64_t epoch,
                                      index_t n) {
  std::vector<std::pair<std::uint64_t, index_t>> keyed;
  for (index_t r = 0; r < n; ++r) {
    keyed.emplace_back(
        rng::hash(seed, stream, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(r)),
        r);
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<index_t> perm;
  perm.reserve(keyed.size());
  for (const auto& [key, r] : keyed) {
    perm.push_back(r);
  }
  return perm;
}

TEST(EpochPermutations, EqualTheHostSortOfHashedRows) {
  for (const index_t n : {1, 2, 3, 7, 100, 5000}) {
    solver::EpochPermutations passes(99, n);
    for (const std::int64_t epoch : {0, 1, 7}) {
      const auto got = to_host(passes.permutation(rng::kStreamPairOrder, epoch), n);
      EXPECT_EQ(got, host_permutation(99, rng::kStreamPairOrder, epoch, n))
          << "n = " << n << ", epoch " << epoch;
    }
  }
}

TEST(EpochPermutations, PassesCrossEpochsSlotBySlot) {
  const index_t n = 37;
  solver::EpochPermutations passes(5, n);
  // Parts that start mid-epoch, end mid-epoch and span more than two epochs.
  for (const auto& [first, size] : std::vector<std::pair<std::int64_t, index_t>>{
           {0, 10}, {30, 20}, {74, 37}, {100, 120}, {3, 1}}) {
    View1<index_t> rows("rows", size);
    passes.fill(rng::kStreamSftOrder, first, size, rows);
    const auto got = to_host(rows, size);
    for (index_t s = 0; s < size; ++s) {
      const std::int64_t slot = first + s;
      const auto perm = host_permutation(5, rng::kStreamSftOrder, slot / n, n);
      ASSERT_EQ(got[s], perm[slot % n]) << "slot " << slot;
    }
  }
}

TEST(DrawLocator, SortsCountsAndFindsTheRanksRows) {
  const auto split = rank_split();
  solver::DrawLocator locator(split);
  const std::vector<std::vector<index_t>> draws = {
      {99, 0, 40, 20, 41, 69, 70, 39, 40, 4, 99, 5, 19},
      {50, 60}, // nothing held here
      {},
      {42},
  };
  for (const auto& draw : draws) {
    const auto n = static_cast<index_t>(draw.size());
    auto rows = locator.rows(n);
    if (n > 0) {
      Kokkos::deep_copy(
          Kokkos::subview(rows, std::make_pair(index_t(0), n)),
          Kokkos::View<const index_t*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
              draw.data(), n));
    }
    locator.locate(n);
    // Host reference.
    auto sorted = draw;
    std::sort(sorted.begin(), sorted.end());
    std::vector<index_t> counts(5, 0);
    for (const index_t r : sorted) {
      counts[std::upper_bound(split.offsets.begin(), split.offsets.end(), r) -
             split.offsets.begin() - 1]++;
    }
    std::vector<index_t> local;
    std::vector<index_t> piece_offsets{0};
    for (const auto& piece : split.pieces) {
      for (const index_t r : sorted) {
        if (r >= piece.global_begin && r < piece.global_end) {
          local.push_back(piece.local_begin + r - piece.global_begin);
        }
      }
      piece_offsets.push_back(static_cast<index_t>(local.size()));
    }
    EXPECT_EQ(locator.group_counts(), counts);
    EXPECT_EQ(locator.piece_offsets(), piece_offsets);
    ASSERT_EQ(locator.local_count(), static_cast<index_t>(local.size()));
    EXPECT_EQ(to_host(locator.local(), locator.local_count()), local);
    EXPECT_EQ(to_host(locator.rows(n), n), sorted);
  }
}

TEST(DrawLocator, AStepCopiesOnlyItsLayout) {
  // 8 bytes for each of the K + 1 + 3P layout values, whatever the number of rows drawn.
  const auto split = rank_split();
  solver::DrawLocator locator(split);
  const solver::BatchSampler sampler(1, offsets(), false, 4096);
  sampler.fill(0, locator.rows(4096));
  std::uint64_t bytes = 0;
  static std::uint64_t* counter = nullptr;
  counter = &bytes;
  Kokkos::Tools::Experimental::set_begin_deep_copy_callback(
      [](Kokkos::Tools::SpaceHandle, const char*, const void*, Kokkos::Tools::SpaceHandle,
         const char*, const void*, std::uint64_t size) { *counter += size; });
  locator.locate(4096);
  Kokkos::Tools::Experimental::set_begin_deep_copy_callback(nullptr);
  EXPECT_EQ(bytes, 8U * (5 + 1 + 3 * 3));
  EXPECT_GT(locator.local_count(), 0);
}

} // namespace
