#include "solver/batch_sampler.hpp"

#include <algorithm>

namespace grpo::solver {

namespace {
template <class MemorySpace>
BatchDrawer<MemorySpace> make_drawer(std::uint64_t seed, const std::vector<index_t>& offsets,
                                     bool group_weighted) {
  const int k = static_cast<int>(offsets.size()) - 1;
  std::vector<int> present;
  for (int g = 0; g < k; ++g) {
    if (offsets[g + 1] > offsets[g]) {
      present.push_back(g);
    }
  }
  Kokkos::View<index_t*, MemorySpace> off("grpo::solver::batch::offsets", offsets.size());
  Kokkos::View<int*, MemorySpace> pres("grpo::solver::batch::present", present.size());
  auto off_h = Kokkos::create_mirror_view(off);
  auto pres_h = Kokkos::create_mirror_view(pres);
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    off_h(i) = offsets[i];
  }
  for (std::size_t i = 0; i < present.size(); ++i) {
    pres_h(i) = present[i];
  }
  Kokkos::deep_copy(off, off_h);
  Kokkos::deep_copy(pres, pres_h);
  BatchDrawer<MemorySpace> d;
  d.m_seed = seed;
  d.m_total = offsets.back();
  d.m_group_weighted = group_weighted;
  d.m_offsets = off;
  d.m_present = pres;
  return d;
}
} // namespace

BatchSampler::BatchSampler(std::uint64_t seed, const std::vector<index_t>& offsets,
                           bool group_weighted, index_t batch_size)
    : m_batch(batch_size)
    , m_offsets(offsets)
    , m_host(make_drawer<HostSpace>(seed, offsets, group_weighted))
    , m_device(make_drawer<MemSpace>(seed, offsets, group_weighted))
    , m_rows(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::batch::rows"),
             batch_size) {}

void BatchSampler::draw_rows(index_t step) const {
  const auto drawer = m_device;
  const auto rows = m_rows;
  Kokkos::parallel_for(
      "grpo::solver::batch::draw",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(ExecSpace(), 0, m_batch),
      KOKKOS_LAMBDA(const index_t k) { rows(k) = drawer.row(step, k); });
}

void BatchSampler::count_groups(index_t step, std::vector<index_t>& counts) const {
  const int k = static_cast<int>(m_offsets.size()) - 1;
  counts.assign(k, 0);
  for (index_t slot = 0; slot < m_batch; ++slot) {
    const index_t row = m_host.row(step, slot);
    const auto it = std::upper_bound(m_offsets.begin(), m_offsets.end(), row);
    counts[static_cast<std::size_t>(it - m_offsets.begin() - 1)] += 1;
  }
}

} // namespace grpo::solver
