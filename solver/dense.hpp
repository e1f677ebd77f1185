// Small dense symmetric solves on the host (d x d, d = feature dimension): Cholesky, with a
// pseudo-inverse fallback through a Jacobi eigendecomposition for singular systems (§3).
#pragma once

#include <cmath>
#include <vector>

namespace grpo::solver::dense {

/// Row-major n x n matrix.
using Matrix = std::vector<double>;

/// Solves A x = b for symmetric positive definite A by Cholesky. Returns false (and leaves x
/// untouched) when A is not numerically positive definite.
bool cholesky_solve(const Matrix& a, const std::vector<double>& b, int n, std::vector<double>& x);

/// Minimum-norm least-squares solution x = A^+ b of a symmetric A, eigenvalues below
/// rel_tol * max|eigenvalue| treated as zero. Returns the numerical rank.
int pseudo_inverse_solve(const Matrix& a, const std::vector<double>& b, int n,
                         std::vector<double>& x, double rel_tol = 1e-12);

/// Symmetric eigendecomposition by cyclic Jacobi: eigenvalues (ascending) and row-major
/// eigenvectors (column j of `vectors` belongs to eigenvalue j).
void symmetric_eigen(const Matrix& a, int n, std::vector<double>& values, Matrix& vectors);

/// Euclidean norm, summed in index order. Inline: the solvers' traces were made with it inlined
/// into each caller (GCC's FMA contraction of the sum depends on that).
inline double norm2(const std::vector<double>& v) {
  double s = 0.0;
  for (const double x : v) {
    s += x * x;
  }
  return std::sqrt(s);
}

} // namespace grpo::solver::dense
