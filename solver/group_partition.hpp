// GroupPartition: which rank owns which rows of a split whose samples are sorted by group.
// Pure (no MPI): built from the group offsets and the number of ranks, identical on every rank.
//
// Each rank owns one contiguous range of rows. The ideal boundaries split the rows evenly; a
// boundary snaps to a nearby group boundary (within `snap_fraction` of a share) so that groups
// stay whole whenever that costs little balance, and a group larger than its share is split.
#pragma once

#include "core/views.hpp"
#include "policies/preference_batch.hpp"

#include <vector>

namespace grpo::solver {

using policies::GroupPiece;

class GroupPartition {
public:
  GroupPartition() = default;
  /// `offsets` has K+1 non-decreasing entries starting at 0 (validated: DataError otherwise).
  GroupPartition(std::vector<index_t> offsets, int num_ranks, double snap_fraction = 0.1);

  int num_ranks() const { return static_cast<int>(m_bounds.size()) - 1; }
  int num_groups() const { return static_cast<int>(m_offsets.size()) - 1; }
  index_t total_rows() const { return m_offsets.back(); }
  const std::vector<index_t>& offsets() const { return m_offsets; }
  index_t group_size(int g) const { return m_offsets[g + 1] - m_offsets[g]; }

  /// Global rows [rank_begin(r), rank_end(r)) belong to rank r.
  index_t rank_begin(int r) const { return m_bounds[r]; }
  index_t rank_end(int r) const { return m_bounds[r + 1]; }
  index_t rank_rows(int r) const { return m_bounds[r + 1] - m_bounds[r]; }

  /// Non-empty group pieces of rank r, in group order.
  std::vector<GroupPiece> pieces(int r) const;
  /// Ranks holding rows of group g (empty for an empty group).
  std::vector<int> owners(int g) const;
  bool is_split(int g) const { return owners(g).size() > 1; }

private:
  std::vector<index_t> m_offsets;
  std::vector<index_t> m_bounds;
};

/// Contiguous even split of `count` items over ranks: [begin, end) of rank r.
index_t even_share_begin(index_t count, int num_ranks, int r);

} // namespace grpo::solver
