#include "core/error.hpp"
#include "solver/group_partition.hpp"

#include <gtest/gtest.h>

namespace {

using grpo::index_t;
using grpo::solver::GroupPartition;

void expect_covering(const GroupPartition& p) {
  EXPECT_EQ(p.rank_begin(0), 0);
  EXPECT_EQ(p.rank_end(p.num_ranks() - 1), p.total_rows());
  for (int r = 0; r < p.num_ranks(); ++r) {
    EXPECT_LE(p.rank_begin(r), p.rank_end(r));
    if (r > 0) {
      EXPECT_EQ(p.rank_begin(r), p.rank_end(r - 1));
    }
    index_t covered = 0;
    for (const auto& piece : p.pieces(r)) {
      EXPECT_EQ(piece.local_begin, piece.global_begin - p.rank_begin(r));
      EXPECT_GT(piece.size(), 0);
      covered += piece.size();
    }
    EXPECT_EQ(covered, p.rank_rows(r));
  }
}

TEST(GroupPartition, OneRankOwnsEverything) {
  GroupPartition p({0, 60, 300}, 1);
  expect_covering(p);
  ASSERT_EQ(p.pieces(0).size(), 2u);
  EXPECT_EQ(p.pieces(0)[1].group, 1);
  EXPECT_EQ(p.pieces(0)[1].local_begin, 60);
  EXPECT_FALSE(p.is_split(0));
}

TEST(GroupPartition, SnapsToNearbyGroupBoundaries) {
  // 4 equal groups of 100 over 2 ranks: the ideal boundary 200 is a group boundary.
  GroupPartition p({0, 100, 200, 300, 400}, 2);
  expect_covering(p);
  EXPECT_EQ(p.rank_begin(1), 200);
  // Groups of 95/105/100/100: ideal 200 is 5 rows from the boundary 200 -> exact; move it to 195.
  GroupPartition q({0, 95, 195, 300, 400}, 2);
  EXPECT_EQ(q.rank_begin(1), 195); // within 10% of a share (20 rows): snap, no group split
  for (int g = 0; g < 4; ++g) {
    EXPECT_FALSE(q.is_split(g)) << "group " << g;
  }
}

TEST(GroupPartition, SplitsAGroupLargerThanItsShare) {
  GroupPartition p({0, 60, 300}, 2); // ideal boundary 150 lies inside group 1 (60..300)
  expect_covering(p);
  EXPECT_EQ(p.rank_begin(1), 150);
  EXPECT_TRUE(p.is_split(1));
  EXPECT_EQ(p.owners(1), (std::vector<int>{0, 1}));
  EXPECT_EQ(p.owners(0), (std::vector<int>{0}));
  const auto pieces1 = p.pieces(1);
  ASSERT_EQ(pieces1.size(), 1u);
  EXPECT_EQ(pieces1[0].group, 1);
  EXPECT_EQ(pieces1[0].global_begin, 150);
  EXPECT_EQ(pieces1[0].global_end, 300);
}

TEST(GroupPartition, BalancesSampleCountsAcrossManyRanks) {
  std::vector<index_t> offsets{0};
  for (int g = 0; g < 13; ++g) {
    offsets.push_back(offsets.back() + 37 + 11 * g);
  }
  for (int ranks = 1; ranks <= 7; ++ranks) {
    GroupPartition p(offsets, ranks);
    expect_covering(p);
    const double share = static_cast<double>(p.total_rows()) / ranks;
    for (int r = 0; r < ranks; ++r) {
      EXPECT_LE(std::abs(p.rank_rows(r) - share), 0.2 * share + 1) << ranks << " ranks, rank " << r;
    }
  }
}

TEST(GroupPartition, MoreRanksThanRowsLeavesSomeRanksEmpty) {
  GroupPartition p({0, 1, 2}, 3);
  expect_covering(p);
  int empty = 0;
  for (int r = 0; r < 3; ++r) {
    empty += p.rank_rows(r) == 0 ? 1 : 0;
  }
  EXPECT_EQ(empty, 1);
}

TEST(GroupPartition, EmptyGroupsHaveNoOwnerAndNoPiece) {
  GroupPartition p({0, 10, 10, 20}, 2);
  expect_covering(p);
  EXPECT_TRUE(p.owners(1).empty());
  for (int r = 0; r < 2; ++r) {
    for (const auto& piece : p.pieces(r)) {
      EXPECT_NE(piece.group, 1);
    }
  }
}

TEST(GroupPartition, RejectsMalformedOffsets) {
  EXPECT_THROW(GroupPartition({0, 10, 5}, 1), grpo::DataError);
  EXPECT_THROW(GroupPartition({1, 10}, 1), grpo::DataError);
  EXPECT_THROW(GroupPartition({0}, 1), grpo::DataError);
}

} // namespace
