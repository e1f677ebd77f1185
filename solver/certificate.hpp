// Certified duality gap of the log-linear minimax problem (DESIGN.md "What makes it better",
// ALGORITHM.md §9). With F(theta, alpha) = sum_g w_g(alpha) L_g(theta) + l2 ||theta||^2,
// w_g(alpha) = (1 - chi)/K + chi alpha_g, and Theta = R^d or the ball ||theta|| <= R:
//
//   upper(theta) = max_alpha F(theta, alpha)
//                = (1 - chi) mean_g L_g(theta) + chi max_g L_g(theta) + l2 ||theta||^2
//   lower(alpha) = min_{theta in Theta} F(theta, alpha)
//
// bracket the saddle value: lower(alpha) <= min_theta max_alpha F <= upper(theta) for every
// pair, so gap = upper - lower >= 0 bounds the robust sub-optimality of theta.
//
// The inner problem is convex (losses convex in the margin). It is solved by damped Newton in d
// dimensions started at theta (monotone, so the lower bound never exceeds F(theta, alpha));
// every pass is one Kokkos reduction over the local rows giving the weighted loss, gradient and
// Hessian sums, combined with one Allreduce. On the ball, the bound is the Lagrange dual
// g(mu) = min_theta F(theta, alpha) + mu (||theta||^2 - R^2), valid for every mu >= 0 and
// maximised by a safeguarded Newton iteration on mu. Where the inner objective is strongly
// convex (l2 + mu > 0), the residual gradient is subtracted (f* >= f - ||grad||^2 / (4 (l2 +
// mu))), so the bound is certified even when the Newton iteration stops early.
#pragma once

#include "core/communicator.hpp"
#include "core/trace_record.hpp"
#include "policies/log_linear_policy.hpp"
#include "policies/preference_batch.hpp"
#include "solver/dense.hpp"
#include "solver/fused_kernel.hpp"
#include "solver/solver_config.hpp"

#include <vector>

namespace grpo::solver {

/// Value, gradient and Hessian of sum_g v_g sum_{i in g} l_i(theta) + c ||theta||^2.
struct InnerDerivatives {
  double value = 0.0;
  std::vector<double> gradient; ///< d
  dense::Matrix hessian;        ///< d x d, row-major
};

class DualityGap {
public:
  /// `train` is this rank's share of the training split (kept by reference); `group_sizes` are
  /// the global training N_g.
  DualityGap(SolverConfig config, Communicator comm, const policies::PreferenceSplit& train,
             std::vector<index_t> group_sizes);

  /// The certificate of the pair (theta, alpha) (collective: every rank gets the same).
  GapCertificate evaluate(const std::vector<double>& theta, const std::vector<double>& alpha);

  /// Derivatives of sum_g v_g S_g(theta) + c ||theta||^2, S_g the loss sum of group g
  /// (collective). Exposed for the tests.
  InnerDerivatives derivatives(const std::vector<double>& theta, const std::vector<double>& v,
                               double c);

  /// Tolerance of the inner solve on the Newton decrement, relative to max(1, |F|).
  static constexpr double kTolerance = 1e-13;
  static constexpr int kMaxNewton = 60;

private:
  struct InnerSolution {
    std::vector<double> theta;
    double value = 0.0;    ///< F(theta, alpha) + mu ||theta||^2 at the solution
    double bound = 0.0;    ///< certified lower bound of the inner minimum
    double residual = 0.0; ///< Newton decrement^2 / 2 at the solution
    dense::Matrix hessian; ///< at the solution
  };
  /// Damped Newton on F(., alpha) + mu ||.||^2 from `start`.
  InnerSolution solve_inner(const std::vector<double>& start, const std::vector<double>& v,
                            double mu, int& passes);

  SolverConfig m_config;
  Communicator m_comm;
  const policies::PreferenceSplit& m_train;
  std::vector<index_t> m_group_sizes;
  int m_dim = 0;
  policies::LogLinearPolicy m_policy; ///< holds the theta being evaluated
  HostView1<double> m_theta_host;
  FusedLossGradient m_fused;
  View1<index_t> m_piece_end;   ///< local row end of every piece (sorted)
  View1<double> m_piece_weight; ///< v of every piece's group
};

} // namespace grpo::solver
