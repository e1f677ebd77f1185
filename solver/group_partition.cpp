#include "solver/group_partition.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>

namespace grpo::solver {

index_t even_share_begin(index_t count, int num_ranks, int r) {
  // count * r / num_ranks without overflow for count < 2^62.
  const index_t q = count / num_ranks;
  const index_t rem = count % num_ranks;
  return q * r + (rem * r) / num_ranks;
}

GroupPartition::GroupPartition(std::vector<index_t> offsets, int num_ranks, double snap_fraction)
    : m_offsets(std::move(offsets)) {
  if (num_ranks < 1) {
    throw InternalError("GroupPartition: num_ranks must be >= 1, got " + std::to_string(num_ranks));
  }
  if (m_offsets.size() < 2 || m_offsets.front() != 0) {
    throw DataError("group offsets must have at least 2 entries and start at 0");
  }
  for (std::size_t g = 1; g < m_offsets.size(); ++g) {
    if (m_offsets[g] < m_offsets[g - 1]) {
      throw DataError("group offsets are not monotone: offsets[" + std::to_string(g) +
                      "] = " + std::to_string(m_offsets[g]) + " < offsets[" +
                      std::to_string(g - 1) + "] = " + std::to_string(m_offsets[g - 1]));
    }
  }
  const index_t n = m_offsets.back();
  const double share = static_cast<double>(n) / num_ranks;
  const auto tolerance = static_cast<index_t>(std::floor(snap_fraction * share));
  m_bounds.assign(num_ranks + 1, 0);
  m_bounds[num_ranks] = n;
  for (int r = 1; r < num_ranks; ++r) {
    const index_t ideal = even_share_begin(n, num_ranks, r);
    index_t best = ideal;
    index_t best_distance = tolerance + 1;
    // The group boundary nearest to the ideal one (offsets are sorted).
    auto it = std::lower_bound(m_offsets.begin(), m_offsets.end(), ideal);
    for (auto cand : {it, it == m_offsets.begin() ? it : std::prev(it)}) {
      if (cand == m_offsets.end()) {
        continue;
      }
      const index_t distance = std::abs(*cand - ideal);
      if (distance < best_distance) {
        best_distance = distance;
        best = *cand;
      }
    }
    m_bounds[r] = std::max(best, m_bounds[r - 1]);
  }
}

std::vector<GroupPiece> GroupPartition::pieces(int r) const {
  std::vector<GroupPiece> out;
  const index_t begin = m_bounds[r];
  const index_t end = m_bounds[r + 1];
  for (int g = 0; g < num_groups(); ++g) {
    const index_t b = std::max(begin, m_offsets[g]);
    const index_t e = std::min(end, m_offsets[g + 1]);
    if (b < e) {
      out.push_back(GroupPiece{g, b, e, b - begin});
    }
  }
  return out;
}

std::vector<int> GroupPartition::owners(int g) const {
  std::vector<int> out;
  for (int r = 0; r < num_ranks(); ++r) {
    if (std::max(m_bounds[r], m_offsets[g]) < std::min(m_bounds[r + 1], m_offsets[g + 1])) {
      out.push_back(r);
    }
  }
  return out;
}

} // namespace grpo::solver
