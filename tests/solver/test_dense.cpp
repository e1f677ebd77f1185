#include "solver/dense.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace grpo::solver::dense;

TEST(Dense, CholeskySolvesAnSpdSystem) {
  // A = [[4,2],[2,3]], x = (1,-2) -> b = (0,-4).
  const Matrix a{4, 2, 2, 3};
  std::vector<double> x;
  ASSERT_TRUE(cholesky_solve(a, {0, -4}, 2, x));
  EXPECT_NEAR(x[0], 1.0, 1e-14);
  EXPECT_NEAR(x[1], -2.0, 1e-14);
}

TEST(Dense, CholeskyRefusesASingularMatrix) {
  const Matrix a{1, 1, 1, 1};
  std::vector<double> x;
  EXPECT_FALSE(cholesky_solve(a, {1, 1}, 2, x));
}

TEST(Dense, PseudoInverseGivesTheMinimumNormSolution) {
  // A = [[1,1],[1,1]] (rank 1), b = (2,2): solutions x0 + x1 = 2; minimum norm (1,1).
  const Matrix a{1, 1, 1, 1};
  std::vector<double> x;
  EXPECT_EQ(pseudo_inverse_solve(a, {2, 2}, 2, x), 1);
  EXPECT_NEAR(x[0], 1.0, 1e-12);
  EXPECT_NEAR(x[1], 1.0, 1e-12);
}

TEST(Dense, EigenDecompositionReconstructsTheMatrix) {
  const int n = 4;
  Matrix a(n * n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      a[i * n + j] = a[j * n + i] = 1.0 / (1.0 + i + j) + (i == j ? 0.5 : 0.0);
    }
  }
  std::vector<double> values;
  Matrix vectors;
  symmetric_eigen(a, n, values, vectors);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      double s = 0.0;
      for (int k = 0; k < n; ++k) {
        s += vectors[i * n + k] * values[k] * vectors[j * n + k];
      }
      EXPECT_NEAR(s, a[i * n + j], 1e-12);
    }
  }
  for (int k = 1; k < n; ++k) {
    EXPECT_LE(values[k - 1], values[k]);
  }
}

} // namespace
