#include "solver/metrics.hpp"

#include "core/kokkos_compat.hpp"
#include "solver/array_sum.hpp"

#include <cmath>

namespace grpo::solver {

std::vector<double> group_mean_losses(const policies::LogLinearPolicy& policy, LossType loss,
                                      double beta, const policies::PreferenceSplit& split,
                                      const Communicator& comm, FusedLossGradient* scratch) {
  FusedLossGradient temporary;
  FusedLossGradient& fused = scratch != nullptr ? *scratch : temporary;
  const int k_groups = split.num_groups();
  std::vector<double> sums(k_groups, 0.0);
  const auto piece_sums = fused.full(policy, split, loss, beta, false);
  for (std::size_t p = 0; p < split.pieces.size(); ++p) {
    sums[split.pieces[p].group] += piece_sums(p, 0);
  }
  comm.allreduce_sum(sums);
  for (int g = 0; g < k_groups; ++g) {
    const index_t n = split.group_size(g);
    sums[g] = n > 0 ? sums[g] / static_cast<double>(n) : std::nan("");
  }
  return sums;
}

namespace {

/// Sums over local states of [optimal reward, argmax-policy reward, KL] for one group.
struct RewardSums : ArraySum {
  Kokkos::View<const double****, MemSpace> m_phi;
  Kokkos::View<const double**, MemSpace> m_star;
  Kokkos::View<const double*, MemSpace> m_theta;
  int m_group;
  int m_actions;
  int m_dim;

  KOKKOS_INLINE_FUNCTION double reward(index_t m, int a) const {
    double s = 0.0;
    for (int j = 0; j < m_dim; ++j) {
      s += m_star(m_group, j) * m_phi(m, m_group, a, j);
    }
    return s;
  }
  KOKKOS_INLINE_FUNCTION double score(index_t m, int a) const {
    double s = 0.0;
    for (int j = 0; j < m_dim; ++j) {
      s += m_theta(j) * m_phi(m, m_group, a, j);
    }
    return s;
  }

  KOKKOS_INLINE_FUNCTION void operator()(const index_t m, value_type sums) const {
    double r_max = reward(m, 0);
    double s_max = score(m, 0);
    int s_arg = 0;
    for (int a = 1; a < m_actions; ++a) {
      const double r = reward(m, a);
      const double s = score(m, a);
      r_max = r > r_max ? r : r_max;
      if (s > s_max) { // first index wins ties
        s_max = s;
        s_arg = a;
      }
    }
    double zr = 0.0;
    double zs = 0.0;
    for (int a = 0; a < m_actions; ++a) {
      zr += math::exp(reward(m, a) - r_max);
      zs += math::exp(score(m, a) - s_max);
    }
    const double lse_r = r_max + math::log(zr);
    const double lse_s = s_max + math::log(zs);
    double kl = 0.0;
    for (int a = 0; a < m_actions; ++a) {
      const double log_p = reward(m, a) - lse_r;
      const double log_q = score(m, a) - lse_s;
      kl += math::exp(log_p) * (log_p - log_q);
    }
    sums[0] += r_max;
    sums[1] += reward(m, s_arg);
    sums[2] += kl > 0.0 ? kl : 0.0; // clamp round-off below zero
  }
};

} // namespace

RewardMetrics evaluate_rewards(const policies::LogLinearPolicy& policy,
                               const RewardEnvironment& env, const Communicator& comm) {
  const int k_groups = env.num_groups;
  std::vector<double> sums(3 * static_cast<std::size_t>(k_groups), 0.0);
  const auto local = static_cast<index_t>(env.features.extent(0));
  for (int g = 0; g < k_groups; ++g) {
    RewardSums functor{{3}, env.features,    env.reward_params, policy.params(),
                       g,   env.num_actions, env.feature_dim};
    if (local > 0) {
      Kokkos::parallel_reduce(
          "grpo::solver::metrics::rewards",
          Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(ExecSpace(), 0, local),
          functor, sums.data() + 3 * g);
    }
  }
  comm.allreduce_sum(sums);
  RewardMetrics out;
  const auto m = static_cast<double>(env.num_states);
  for (int g = 0; g < k_groups; ++g) {
    const double opt = sums[3 * g] / m;
    const double got = sums[3 * g + 1] / m;
    const double abs_err = opt - got;
    out.optimal_reward.push_back(opt);
    out.policy_reward.push_back(got);
    out.absolute_error.push_back(abs_err);
    out.relative_error.push_back(std::abs(opt) > 1e-12 ? abs_err / std::abs(opt) : abs_err);
    out.kl.push_back(sums[3 * g + 2] / m);
  }
  return out;
}

} // namespace grpo::solver
