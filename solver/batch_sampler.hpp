// Counter-based mini-batch draws (ALGORITHM.md §2.3, pitfall 9). Slot k of step t maps to a
// global training row through a hash of (seed, step, k) -- or (seed, step, group, k) for the
// within-group draw of group-weighted batches -- so every rank, any rank count and any backend
// draw the same rows, and a resumed run continues the same sequence.
#pragma once

#include "core/rng.hpp"
#include "core/views.hpp"

#include <cstdint>
#include <vector>

namespace grpo::solver {

template <class MemorySpace>
struct BatchDrawer {
  std::uint64_t m_seed = 0;
  index_t m_total = 0; ///< N
  bool m_group_weighted = false;
  Kokkos::View<const index_t*, MemorySpace> m_offsets; ///< K+1 global offsets
  Kokkos::View<const int*, MemorySpace> m_present;     ///< non-empty groups (group-weighted)

  /// Global row of slot k at step t, with replacement.
  KOKKOS_INLINE_FUNCTION index_t row(index_t step, index_t k) const {
    const auto t = static_cast<std::uint64_t>(step);
    const auto slot = static_cast<std::uint64_t>(k);
    const std::uint64_t bits = rng::hash(m_seed, rng::kStreamBatchSlot, t, slot);
    if (!m_group_weighted) {
      return rng::to_index(bits, m_total);
    }
    const auto num_present = static_cast<index_t>(m_present.extent(0));
    const int g = m_present(rng::to_index(bits, num_present));
    const index_t size = m_offsets(g + 1) - m_offsets(g);
    return m_offsets(g) + rng::to_index(rng::hash(m_seed, rng::kStreamBatchRow, t,
                                                  static_cast<std::uint64_t>(g), slot),
                                        size);
  }
};

/// The draws of one run, on the host (every rank computes the same ones).
class BatchSampler {
public:
  BatchSampler() = default;
  BatchSampler(std::uint64_t seed, const std::vector<index_t>& offsets, bool group_weighted,
               index_t batch_size);
  // The drawer views the vectors' storage: moves keep it, copies would not.
  BatchSampler(const BatchSampler&) = delete;
  BatchSampler& operator=(const BatchSampler&) = delete;
  BatchSampler(BatchSampler&&) = default;
  BatchSampler& operator=(BatchSampler&&) = default;

  index_t batch_size() const { return m_batch; }
  /// The B global rows of step `step`, sorted ascending (so grouped by group), and the
  /// per-group counts n_g.
  void draw(index_t step, std::vector<index_t>& rows, std::vector<index_t>& counts) const;

private:
  index_t m_batch = 0;
  std::vector<index_t> m_offsets;
  std::vector<int> m_present;
  BatchDrawer<HostSpace> m_drawer;
};

} // namespace grpo::solver
