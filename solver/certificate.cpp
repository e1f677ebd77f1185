#include "solver/certificate.hpp"

#include "core/error.hpp"
#include "core/kokkos_compat.hpp"
#include "solver/array_sum.hpp"
#include "solver/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace grpo::solver {

namespace {

/// Per local row: the weighted loss, gradient and (upper-triangle, row-major) Hessian sums.
/// The weight of a row is that of its piece, found by bisection over the piece ends.
template <class Loss>
struct NewtonSums : ArraySum {
  policies::LogLinearMargins m_eval;
  Kokkos::View<const index_t*, MemSpace> m_piece_end;
  Kokkos::View<const double*, MemSpace> m_piece_weight;
  Kokkos::View<const float**, MemSpace> m_z;
  Loss m_loss;
  int m_pieces = 0;
  int m_dim = 0;

  KOKKOS_INLINE_FUNCTION void operator()(const index_t i, value_type sums) const {
    int lo = 0;
    int hi = m_pieces - 1;
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if (m_piece_end(mid) > i) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    const double v = m_piece_weight(lo);
    const double h = m_eval.margin(i);
    double value = 0.0;
    double slope = 0.0;
    m_loss(h, value, slope);
    const double gs = v * slope;
    const double cs = v * m_loss.curvature(h);
    sums[0] += v * value;
    int idx = 1 + m_dim;
    for (int j = 0; j < m_dim; ++j) {
      const auto zj = static_cast<double>(m_z(i, j));
      sums[1 + j] += gs * zj;
      const double czj = cs * zj;
      for (int k = j; k < m_dim; ++k) {
        sums[idx++] += czj * static_cast<double>(m_z(i, k));
      }
    }
  }
};

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t j = 0; j < a.size(); ++j) {
    s += a[j] * b[j];
  }
  return s;
}

/// Solves H p = rhs: Cholesky, or the pseudo-inverse when H is singular (flat directions of a
/// loss whose margins saturate, or features spanning a subspace).
std::vector<double> solve(const dense::Matrix& h, const std::vector<double>& rhs, int n) {
  std::vector<double> x(static_cast<std::size_t>(n), 0.0);
  if (!dense::cholesky_solve(h, rhs, n, x)) {
    dense::pseudo_inverse_solve(h, rhs, n, x);
  }
  return x;
}

} // namespace

DualityGap::DualityGap(SolverConfig config, Communicator comm,
                       const policies::PreferenceSplit& train, std::vector<index_t> group_sizes)
    : m_config(std::move(config))
    , m_comm(std::move(comm))
    , m_train(train)
    , m_group_sizes(std::move(group_sizes))
    , m_dim(train.feature_dim)
    , m_policy(train.feature_dim)
    , m_theta_host("grpo::solver::gap::theta_host", train.feature_dim) {
  const auto pieces = static_cast<index_t>(train.pieces.size());
  m_piece_end = View1<index_t>("grpo::solver::gap::piece_end", pieces);
  m_piece_weight = View1<double>("grpo::solver::gap::piece_weight", pieces);
  auto end_host = Kokkos::create_mirror_view(m_piece_end);
  index_t expected = 0;
  for (index_t p = 0; p < pieces; ++p) {
    const auto& piece = train.pieces[static_cast<std::size_t>(p)];
    if (piece.local_begin != expected) {
      throw InternalError("gap certificate: local group pieces are not contiguous");
    }
    expected = piece.local_begin + piece.size();
    end_host(p) = expected;
  }
  if (expected != train.local_rows()) {
    throw InternalError("gap certificate: pieces do not cover the local rows");
  }
  Kokkos::deep_copy(m_piece_end, end_host);
}

InnerDerivatives DualityGap::derivatives(const std::vector<double>& theta,
                                         const std::vector<double>& v, double c) {
  core::ProfilingRegion region("grpo::solver::gap::derivatives");
  const int d = m_dim;
  const auto pieces = static_cast<int>(m_train.pieces.size());
  for (int j = 0; j < d; ++j) {
    m_theta_host(j) = theta[static_cast<std::size_t>(j)];
  }
  Kokkos::deep_copy(m_policy.params(), m_theta_host);
  auto weight_host = Kokkos::create_mirror_view(m_piece_weight);
  for (int p = 0; p < pieces; ++p) {
    weight_host(p) = v[static_cast<std::size_t>(m_train.pieces[static_cast<std::size_t>(p)].group)];
  }
  Kokkos::deep_copy(m_piece_weight, weight_host);

  const std::size_t width = 1 + static_cast<std::size_t>(d) +
                            static_cast<std::size_t>(d) * static_cast<std::size_t>(d + 1) / 2;
  std::vector<double> sums(width, 0.0);
  const index_t rows = m_train.local_rows();
  if (rows > 0) {
    with_loss(m_config.loss(), m_config.beta, [&](auto loss) {
      using Loss = decltype(loss);
      NewtonSums<Loss> functor;
      functor.value_count = static_cast<unsigned>(width);
      functor.m_eval = m_policy.evaluator(m_train);
      functor.m_piece_end = m_piece_end;
      functor.m_piece_weight = m_piece_weight;
      functor.m_z = m_train.z;
      functor.m_loss = loss;
      functor.m_pieces = pieces;
      functor.m_dim = d;
      array_reduce("grpo::solver::gap::newton_sums", functor, rows, sums);
      return 0;
    });
  }
  m_comm.allreduce_sum(sums);

  InnerDerivatives out;
  out.value = sums[0] + c * dot(theta, theta);
  out.gradient.resize(static_cast<std::size_t>(d));
  out.hessian.assign(static_cast<std::size_t>(d) * static_cast<std::size_t>(d), 0.0);
  std::size_t idx = 1 + static_cast<std::size_t>(d);
  for (int j = 0; j < d; ++j) {
    out.gradient[static_cast<std::size_t>(j)] =
        sums[1 + static_cast<std::size_t>(j)] + 2.0 * c * theta[static_cast<std::size_t>(j)];
    for (int k = j; k < d; ++k) {
      const double h = sums[idx++] + (j == k ? 2.0 * c : 0.0);
      out.hessian[static_cast<std::size_t>(j) * d + k] = h;
      out.hessian[static_cast<std::size_t>(k) * d + j] = h;
    }
  }
  return out;
}

DualityGap::InnerSolution DualityGap::solve_inner(const std::vector<double>& start,
                                                  const std::vector<double>& v, double mu,
                                                  int& passes) {
  const int d = m_dim;
  const double c = m_config.l2 + mu;
  InnerSolution s;
  s.theta = start;
  InnerDerivatives at = derivatives(s.theta, v, c);
  ++passes;
  for (int it = 0; it < kMaxNewton; ++it) {
    std::vector<double> minus_g(at.gradient);
    for (double& x : minus_g) {
      x = -x;
    }
    const auto step = solve(at.hessian, minus_g, d);
    const double decrement = -dot(at.gradient, step); // g^T H^-1 g >= 0
    s.residual = 0.5 * std::max(decrement, 0.0);
    if (!(decrement > kTolerance * std::max(1.0, std::abs(at.value)))) {
      break;
    }
    // Backtracking (Armijo) keeps the iteration monotone: F never exceeds its value at start.
    bool accepted = false;
    double t = 1.0;
    for (int halving = 0; halving < 40; ++halving, t *= 0.5) {
      std::vector<double> trial(s.theta);
      for (int j = 0; j < d; ++j) {
        trial[static_cast<std::size_t>(j)] += t * step[static_cast<std::size_t>(j)];
      }
      InnerDerivatives next = derivatives(trial, v, c);
      ++passes;
      if (next.value <= at.value - 1e-4 * t * decrement) {
        s.theta = std::move(trial);
        at = std::move(next);
        accepted = true;
        break;
      }
    }
    if (!accepted) {
      break; // no decrease left at double precision: at the minimum to rounding
    }
  }
  s.value = at.value;
  s.hessian = std::move(at.hessian);
  // f* >= f - ||g||^2 / (2 m) for an m-strongly convex f (m = 2 c here).
  const double g2 = dot(at.gradient, at.gradient);
  s.bound = c > 0.0 ? s.value - g2 / (4.0 * c) : s.value;
  return s;
}

GapCertificate DualityGap::evaluate(const std::vector<double>& theta,
                                    const std::vector<double>& alpha) {
  core::ProfilingRegion region("grpo::solver::gap");
  const int k_groups = static_cast<int>(m_group_sizes.size());
  const double chi = m_config.chi;
  const double l2 = m_config.l2;
  GapCertificate out;

  // Upper bound: the robust objective at theta.
  for (int j = 0; j < m_dim; ++j) {
    m_theta_host(j) = theta[static_cast<std::size_t>(j)];
  }
  Kokkos::deep_copy(m_policy.params(), m_theta_host);
  out.losses =
      group_mean_losses(m_policy, m_config.loss(), m_config.beta, m_train, m_comm, &m_fused);
  ++out.inner_passes;
  double mean = 0.0;
  double worst = -std::numeric_limits<double>::infinity();
  int present = 0;
  for (int g = 0; g < k_groups; ++g) {
    if (m_group_sizes[static_cast<std::size_t>(g)] > 0) {
      mean += out.losses[static_cast<std::size_t>(g)];
      worst = std::max(worst, out.losses[static_cast<std::size_t>(g)]);
      ++present;
    }
  }
  mean /= std::max(present, 1);
  const double norm2 = dot(theta, theta);
  out.upper = (1.0 - chi) * mean + chi * worst + l2 * norm2;

  // Lower bound: min over Theta of F(., alpha), F(theta, alpha) being a feasible value.
  std::vector<double> v(static_cast<std::size_t>(k_groups), 0.0);
  double at_theta = l2 * norm2;
  for (int g = 0; g < k_groups; ++g) {
    const auto n = m_group_sizes[static_cast<std::size_t>(g)];
    if (n > 0) {
      const double w = (1.0 - chi) / k_groups + chi * alpha[static_cast<std::size_t>(g)];
      v[static_cast<std::size_t>(g)] = w / static_cast<double>(n);
      at_theta += w * out.losses[static_cast<std::size_t>(g)];
    }
  }
  int passes = 0;
  InnerSolution free = solve_inner(theta, v, 0.0, passes);
  double lower = free.bound;
  out.residual = free.residual;
  const double radius = m_config.projection_radius;
  if (radius > 0.0 && std::sqrt(dot(free.theta, free.theta)) > radius) {
    // The constrained minimum lies on the sphere: maximise the dual g(mu) over mu > 0. The root
    // of phi(mu) = 1/R - 1/||theta_mu|| is found by Newton steps on phi, with
    // d||theta_mu||/dmu = -2 theta^T H_mu^-1 theta / ||theta||, kept inside a bracket.
    const double r2 = radius * radius;
    auto dual = [&](const InnerSolution& s, double mu) { return s.bound - mu * r2; };
    lower = -std::numeric_limits<double>::infinity();
    double mu_lo = 0.0;
    double mu_hi = -1.0; // unknown yet
    double mu = std::max(std::abs(free.value), 1e-8) / r2;
    InnerSolution current = std::move(free);
    for (int outer = 0; outer < 100; ++outer) {
      current = solve_inner(current.theta, v, mu, passes);
      lower = std::max(lower, dual(current, mu));
      out.residual = current.residual;
      const double norm = std::sqrt(dot(current.theta, current.theta));
      if (std::abs(norm - radius) <= 1e-10 * radius) {
        break;
      }
      if (norm > radius) {
        mu_lo = mu;
      } else {
        mu_hi = mu;
      }
      // Newton step on phi(mu) = 1/R - 1/||theta_mu||.
      const auto hinv_theta = solve(current.hessian, current.theta, m_dim);
      const double dnorm = -2.0 * dot(current.theta, hinv_theta) / norm;
      const double phi = 1.0 / radius - 1.0 / norm;
      const double dphi = dnorm / (norm * norm);
      double next = dphi != 0.0 ? mu - phi / dphi : -1.0;
      const bool bracketed = mu_hi > 0.0;
      if (!(next > mu_lo) || (bracketed && !(next < mu_hi))) {
        next = bracketed ? 0.5 * (mu_lo + mu_hi) : 4.0 * std::max(mu, 1e-12);
      }
      if (bracketed && (mu_hi - mu_lo) <= 1e-15 * mu_hi) {
        break;
      }
      mu = next;
    }
  }
  out.inner_passes += passes;
  out.lower = std::min(lower, at_theta);
  out.gap = out.upper - out.lower;
  return out;
}

} // namespace grpo::solver
