#include "solver/batch_sampler.hpp"

#include "core/rng.hpp"

#include <algorithm>

namespace grpo::solver {

BatchSampler::BatchSampler(std::uint64_t seed, const std::vector<index_t>& offsets,
                           bool group_weighted, index_t batch_size)
    : m_seed(seed)
    , m_batch(batch_size)
    , m_group_weighted(group_weighted)
    , m_offsets(offsets) {
  for (std::size_t g = 0; g + 1 < offsets.size(); ++g) {
    if (offsets[g + 1] > offsets[g]) {
      m_present.push_back(static_cast<int>(g));
    }
  }
}

index_t BatchSampler::row(index_t step, index_t k) const {
  const auto t = static_cast<std::uint64_t>(step);
  const auto slot = static_cast<std::uint64_t>(k);
  const std::uint64_t bits = rng::hash(m_seed, rng::kStreamBatchSlot, t, slot);
  if (!m_group_weighted) {
    return rng::to_index(bits, m_offsets.back());
  }
  const int g = m_present[static_cast<std::size_t>(
      rng::to_index(bits, static_cast<index_t>(m_present.size())))];
  const index_t size = m_offsets[g + 1] - m_offsets[g];
  return m_offsets[g] +
         rng::to_index(
             rng::hash(m_seed, rng::kStreamBatchRow, t, static_cast<std::uint64_t>(g), slot), size);
}

void BatchSampler::draw(index_t step, std::vector<index_t>& rows,
                        std::vector<index_t>& counts) const {
  rows.resize(static_cast<std::size_t>(m_batch));
  for (index_t slot = 0; slot < m_batch; ++slot) {
    rows[static_cast<std::size_t>(slot)] = row(step, slot);
  }
  std::sort(rows.begin(), rows.end());
  const int k = static_cast<int>(m_offsets.size()) - 1;
  counts.assign(k, 0);
  int g = 0;
  for (const index_t r : rows) {
    while (r >= m_offsets[g + 1]) {
      ++g;
    }
    ++counts[g];
  }
}

} // namespace grpo::solver
