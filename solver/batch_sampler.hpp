// Counter-based mini-batch draws (ALGORITHM.md §2.3, pitfall 9). Slot k of step t maps to a
// global training row through a hash of (seed, step, k) -- or (seed, step, group, k) for the
// within-group draw of group-weighted batches -- so every rank, any rank count and any backend
// draw the same rows, and a resumed run continues the same sequence.
#pragma once

#include "core/views.hpp"

#include <cstdint>
#include <vector>

namespace grpo::solver {

/// The draws of one run, on the host (every rank computes the same ones).
class BatchSampler {
public:
  BatchSampler() = default;
  BatchSampler(std::uint64_t seed, const std::vector<index_t>& offsets, bool group_weighted,
               index_t batch_size);

  index_t batch_size() const { return m_batch; }
  /// Global row of slot k at step t, with replacement.
  index_t row(index_t step, index_t k) const;
  /// The B global rows of step `step`, sorted ascending (so grouped by group), and the
  /// per-group counts n_g.
  void draw(index_t step, std::vector<index_t>& rows, std::vector<index_t>& counts) const;

private:
  std::uint64_t m_seed = 0;
  index_t m_batch = 0;
  bool m_group_weighted = false;
  std::vector<index_t> m_offsets; ///< K+1 global offsets
  std::vector<int> m_present;     ///< non-empty groups (group-weighted draws)
};

} // namespace grpo::solver
