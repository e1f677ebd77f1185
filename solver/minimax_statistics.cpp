// MinimaxSolver's IPO sufficient statistics (ALGORITHM.md §3): per group S_g = sum z z^T,
// b_g = sum t z and q_g = sum t^2 over its rows (targets t_i = 1/(2 beta) + ref_i), reduced once
// over ranks; the full-batch IPO gradient step's contributions from them, and the closed-form
// step theta = argmin sum_g v_g sum_i (z_i^T theta - t_i)^2 + ridge ||theta||^2.
#include "core/error.hpp"
#include "solver/array_sum.hpp"
#include "solver/minimax_solver.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace grpo::solver {

namespace {

/// Sufficient statistics of one group piece: [S (d*d), b (d), q] for IPO targets t_i.
struct IpoStatistics : ArraySum {
  Kokkos::View<const float**, MemSpace> m_z;
  Kokkos::View<const float*, MemSpace> m_ref;
  index_t m_begin;
  int m_dim;
  double m_target;

  KOKKOS_INLINE_FUNCTION void operator()(const index_t k, value_type sums) const {
    const index_t i = m_begin + k;
    const double t = m_target + static_cast<double>(m_ref(i));
    for (int a = 0; a < m_dim; ++a) {
      const auto za = static_cast<double>(m_z(i, a));
      for (int b = 0; b < m_dim; ++b) {
        sums[a * m_dim + b] += za * static_cast<double>(m_z(i, b));
      }
      sums[m_dim * m_dim + a] += t * za;
    }
    sums[m_dim * m_dim + m_dim] += t * t;
  }
};

} // namespace

void MinimaxSolver::statistics_contributions(std::vector<Contribution>& out) {
  // Over a group's rows: sum (z.theta - t)^2 = theta'S theta - 2 b.theta + q, and the gradient
  // sum 2 (S theta - b).
  const int d = m_dim;
  m_statistics_grad.resize(static_cast<std::size_t>(m_num_groups) * d);
  for (int g = 0; g < m_num_groups; ++g) {
    double quad = 0.0;
    double lin = 0.0;
    double* grad = m_statistics_grad.data() + static_cast<std::size_t>(g) * d;
    for (int a = 0; a < d; ++a) {
      double row = 0.0;
      for (int b = 0; b < d; ++b) {
        row += m_gram[g][static_cast<std::size_t>(a) * d + b] * m_theta[b];
      }
      quad += m_theta[a] * row;
      lin += m_moment[g][a] * m_theta[a];
      grad[a] = 2.0 * (row - m_moment[g][a]);
    }
    out.push_back(Contribution{g, quad - 2.0 * lin + m_target_sq[g], true});
  }
}

void MinimaxSolver::compute_sufficient_statistics() {
  const int d = m_dim;
  const int k_groups = m_num_groups;
  const std::size_t per_group = static_cast<std::size_t>(d) * d + d + 1;
  std::vector<double> stats(per_group * k_groups, 0.0);
  std::vector<double> piece(per_group);
  for (const auto& p : m_train.pieces) {
    IpoStatistics functor{{static_cast<unsigned>(per_group)},
                          m_train.z,
                          m_train.ref_logratio,
                          p.local_begin,
                          d,
                          0.5 / m_config.beta};
    array_reduce("grpo::solver::closed_form::statistics", functor, p.size(), piece);
    for (std::size_t j = 0; j < per_group; ++j) {
      stats[per_group * p.group + j] += piece[j];
    }
  }
  m_comm.allreduce_sum(stats);
  m_gram.assign(k_groups, dense::Matrix(static_cast<std::size_t>(d) * d));
  m_moment.assign(k_groups, std::vector<double>(d));
  m_target_sq.assign(k_groups, 0.0);
  for (int g = 0; g < k_groups; ++g) {
    const double* s = stats.data() + per_group * g;
    std::copy(s, s + static_cast<std::size_t>(d) * d, m_gram[g].begin());
    std::copy(s + static_cast<std::size_t>(d) * d, s + static_cast<std::size_t>(d) * d + d,
              m_moment[g].begin());
    m_target_sq[g] = s[static_cast<std::size_t>(d) * d + d];
  }
}

void MinimaxSolver::closed_form_step(StepReport& report) {
  const int d = m_dim;
  const int k_groups = m_num_groups;
  const auto rule = m_config.weight_rule();
  report.step_alpha = m_config.step_alpha;
  report.step_theta = 0.0;

  // Group losses and the unweighted mean gradient at the current theta, from the statistics.
  std::vector<double> loss(k_groups);
  std::vector<double> mean_grad(d, 0.0);
  for (int g = 0; g < k_groups; ++g) {
    double quad = 0.0;
    double lin = 0.0;
    for (int a = 0; a < d; ++a) {
      double row = 0.0;
      for (int b = 0; b < d; ++b) {
        row += m_gram[g][a * d + b] * m_theta[b];
      }
      quad += m_theta[a] * row;
      lin += m_moment[g][a] * m_theta[a];
      mean_grad[a] += 2.0 * (row - m_moment[g][a]);
    }
    loss[g] = (quad - 2.0 * lin + m_target_sq[g]) / static_cast<double>(m_group_sizes[g]);
  }
  for (int a = 0; a < d; ++a) {
    mean_grad[a] /= static_cast<double>(m_total);
  }
  check_finite(loss, "group loss", true);
  report.grad_norm = dense::norm2(mean_grad);
  report.batch_loss = loss;

  if (rule == WeightRule::Robust) {
    std::vector<double> estimate(k_groups);
    for (int g = 0; g < k_groups; ++g) {
      estimate[g] = loss[g];
      if (m_config.alpha_loss_norm == AlphaLossNorm::CodeDouble) {
        estimate[g] /= static_cast<double>(m_group_sizes[g]);
      }
    }
    m_weights.update(estimate, std::vector<bool>(k_groups, true), report.step_alpha);
  }

  // theta = argmin sum_g v_g sum_{i in g} (z_i^T theta - t_i)^2 + ridge ||theta||^2.
  const auto w = weights();
  dense::Matrix a(static_cast<std::size_t>(d) * d, 0.0);
  std::vector<double> b(d, 0.0);
  for (int g = 0; g < k_groups; ++g) {
    double v = 1.0;
    if (rule != WeightRule::Erm) {
      v = w[g];
      if (m_config.closed_form_weights == ClosedFormWeights::Paper) {
        v /= static_cast<double>(m_group_sizes[g]);
      }
    }
    for (std::size_t e = 0; e < a.size(); ++e) {
      a[e] += v * m_gram[g][e];
    }
    for (int j = 0; j < d; ++j) {
      b[j] += v * m_moment[g][j];
    }
  }
  for (int j = 0; j < d; ++j) {
    a[static_cast<std::size_t>(j) * d + j] += m_config.ridge;
  }
  std::vector<double> theta;
  if (!dense::cholesky_solve(a, b, d, theta)) {
    dense::pseudo_inverse_solve(a, b, d, theta);
    report.singular = true;
  }
  check_finite(theta, "parameter theta", false);
  double residual = 0.0;
  for (int i = 0; i < d; ++i) {
    double r = -b[i];
    for (int j = 0; j < d; ++j) {
      r += a[static_cast<std::size_t>(i) * d + j] * theta[j];
    }
    residual += r * r;
  }
  report.live_grad = std::sqrt(residual);
  set_theta(theta);
}

} // namespace grpo::solver
