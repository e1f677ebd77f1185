#include "solver/dense.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace grpo::solver::dense {

bool cholesky_solve(const Matrix& a, const std::vector<double>& b, int n, std::vector<double>& x) {
  Matrix l(static_cast<std::size_t>(n) * n, 0.0);
  double max_diag = 0.0;
  for (int i = 0; i < n; ++i) {
    max_diag = std::max(max_diag, std::abs(a[i * n + i]));
  }
  const double floor = max_diag * 1e-13;
  for (int j = 0; j < n; ++j) {
    double diag = a[j * n + j];
    for (int k = 0; k < j; ++k) {
      diag -= l[j * n + k] * l[j * n + k];
    }
    if (!(diag > floor) || !std::isfinite(diag)) {
      return false;
    }
    const double ljj = std::sqrt(diag);
    l[j * n + j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int k = 0; k < j; ++k) {
        s -= l[i * n + k] * l[j * n + k];
      }
      l[i * n + j] = s / ljj;
    }
  }
  std::vector<double> y(n);
  for (int i = 0; i < n; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) {
      s -= l[i * n + k] * y[k];
    }
    y[i] = s / l[i * n + i];
  }
  x.assign(n, 0.0);
  for (int i = n - 1; i >= 0; --i) {
    double s = y[i];
    for (int k = i + 1; k < n; ++k) {
      s -= l[k * n + i] * x[k];
    }
    x[i] = s / l[i * n + i];
  }
  return true;
}

void symmetric_eigen(const Matrix& a_in, int n, std::vector<double>& values, Matrix& vectors) {
  Matrix a = a_in;
  vectors.assign(static_cast<std::size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) {
    vectors[i * n + i] = 1.0;
  }
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    for (int p = 0; p < n; ++p) {
      for (int q = p + 1; q < n; ++q) {
        off += a[p * n + q] * a[p * n + q];
      }
    }
    if (off < 1e-30) {
      break;
    }
    for (int p = 0; p < n; ++p) {
      for (int q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (std::abs(apq) < 1e-300) {
          continue;
        }
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0);
        const double s = t * c;
        for (int k = 0; k < n; ++k) {
          const double akp = a[k * n + p];
          const double akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {
          const double apk = a[p * n + k];
          const double aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {
          const double vkp = vectors[k * n + p];
          const double vkq = vectors[k * n + q];
          vectors[k * n + p] = c * vkp - s * vkq;
          vectors[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int i, int j) { return a[i * n + i] < a[j * n + j]; });
  values.assign(n, 0.0);
  Matrix sorted(static_cast<std::size_t>(n) * n);
  for (int j = 0; j < n; ++j) {
    values[j] = a[order[j] * n + order[j]];
    for (int k = 0; k < n; ++k) {
      sorted[k * n + j] = vectors[k * n + order[j]];
    }
  }
  vectors = std::move(sorted);
}

int pseudo_inverse_solve(const Matrix& a, const std::vector<double>& b, int n,
                         std::vector<double>& x, double rel_tol) {
  std::vector<double> values;
  Matrix vectors;
  symmetric_eigen(a, n, values, vectors);
  double max_abs = 0.0;
  for (double v : values) {
    max_abs = std::max(max_abs, std::abs(v));
  }
  x.assign(n, 0.0);
  int rank = 0;
  for (int j = 0; j < n; ++j) {
    if (std::abs(values[j]) <= rel_tol * max_abs || max_abs == 0.0) {
      continue;
    }
    ++rank;
    double proj = 0.0;
    for (int k = 0; k < n; ++k) {
      proj += vectors[k * n + j] * b[k];
    }
    proj /= values[j];
    for (int k = 0; k < n; ++k) {
      x[k] += proj * vectors[k * n + j];
    }
  }
  return rank;
}

} // namespace grpo::solver::dense
