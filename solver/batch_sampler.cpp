#include "solver/batch_sampler.hpp"

#include <algorithm>

namespace grpo::solver {

BatchSampler::BatchSampler(std::uint64_t seed, const std::vector<index_t>& offsets,
                           bool group_weighted, index_t batch_size)
    : m_batch(batch_size)
    , m_offsets(offsets) {
  const int k = static_cast<int>(offsets.size()) - 1;
  for (int g = 0; g < k; ++g) {
    if (offsets[g + 1] > offsets[g]) {
      m_present.push_back(g);
    }
  }
  m_drawer.m_seed = seed;
  m_drawer.m_total = offsets.back();
  m_drawer.m_group_weighted = group_weighted;
  m_drawer.m_offsets = Kokkos::View<const index_t*, HostSpace>(m_offsets.data(), m_offsets.size());
  m_drawer.m_present = Kokkos::View<const int*, HostSpace>(m_present.data(), m_present.size());
}

void BatchSampler::draw(index_t step, std::vector<index_t>& rows,
                        std::vector<index_t>& counts) const {
  rows.resize(static_cast<std::size_t>(m_batch));
  for (index_t slot = 0; slot < m_batch; ++slot) {
    rows[static_cast<std::size_t>(slot)] = m_drawer.row(step, slot);
  }
  std::sort(rows.begin(), rows.end());
  const int k = static_cast<int>(m_offsets.size()) - 1;
  counts.assign(k, 0);
  int g = 0;
  for (const index_t row : rows) {
    while (row >= m_offsets[g + 1]) {
      ++g;
    }
    ++counts[g];
  }
}

} // namespace grpo::solver
