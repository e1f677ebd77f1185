#include "core/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

namespace {

using namespace grpo::rng;

TEST(Rng, IsAPureFunctionOfItsKey) {
  EXPECT_EQ(hash(1, 2, 3, 4, 5), hash(1, 2, 3, 4, 5));
  EXPECT_NE(hash(1, 2, 3, 4, 5), hash(1, 2, 3, 4, 6));
  EXPECT_NE(hash(1, 2, 3, 4, 5), hash(2, 2, 3, 4, 5));
  // Swapping two key words must change the value (the key is a tuple, not a set).
  EXPECT_NE(hash(7, 1, 2), hash(7, 2, 1));
}

TEST(Rng, UniformsHaveTheMomentsOfU01) {
  // 10^6 draws: the mean has standard error 1/sqrt(12 * 10^6) = 2.9e-4; allow 5 of them.
  const int n = 1000000;
  double sum = 0.0;
  double sum_sq = 0.0;
  double lo = 1.0;
  double hi = 0.0;
  for (int k = 0; k < n; ++k) {
    const double u = to_unit(hash(42, kStreamData, static_cast<std::uint64_t>(k)));
    sum += u;
    sum_sq += u * u;
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  EXPECT_NEAR(sum / n, 0.5, 5 * 2.9e-4);
  EXPECT_NEAR(sum_sq / n - (sum / n) * (sum / n), 1.0 / 12.0, 1e-3);
  EXPECT_GE(lo, 0.0);
  EXPECT_LT(hi, 1.0);
}

TEST(Rng, IndicesCoverTheRangeUniformly) {
  const std::int64_t n = 7;
  std::vector<int> counts(n, 0);
  const int draws = 70000;
  for (int k = 0; k < draws; ++k) {
    const auto i = to_index(hash(3, static_cast<std::uint64_t>(k)), n);
    ASSERT_GE(i, 0);
    ASSERT_LT(i, n);
    ++counts[i];
  }
  // Chi-square with 6 degrees of freedom: P(X > 22.5) < 0.001.
  double chi2 = 0.0;
  for (int c : counts) {
    chi2 += (c - 10000.0) * (c - 10000.0) / 10000.0;
  }
  EXPECT_LT(chi2, 22.5);
}

TEST(Rng, KeyedStreamDrawsAreDistinct) {
  KeyedStream s(hash(1, 2));
  std::set<double> seen;
  for (int k = 0; k < 1000; ++k) {
    seen.insert(s.uniform(static_cast<std::uint64_t>(k)));
  }
  EXPECT_EQ(seen.size(), 1000u);
}

} // namespace
