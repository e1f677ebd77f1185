// Metrics of ALGORITHM.md §6.1, computed in kernels over each rank's share and combined with
// Allreduce: per-group mean losses on any split, and -- when the data source knows the true
// rewards -- the argmax policy's reward error and the KL divergence to the soft true policy.
#pragma once

#include "core/communicator.hpp"
#include "core/views.hpp"
#include "policies/log_linear_policy.hpp"
#include "policies/preference_batch.hpp"
#include "solver/fused_kernel.hpp"
#include "solver/losses.hpp"

#include <vector>

namespace grpo::solver {

/// Per-group mean loss L_g(theta) of `policy` over the whole split (every rank gets all K): one
/// pass of the fused kernel (loss only) and one Allreduce of K values. `scratch` keeps the
/// kernel's work arrays between calls (a temporary one is used when null).
std::vector<double> group_mean_losses(const policies::LogLinearPolicy& policy, LossType loss,
                                      double beta, const policies::PreferenceSplit& split,
                                      const Communicator& comm,
                                      FusedLossGradient* scratch = nullptr);

/// What the metrics need to know about the truth (the synthetic bandit's `env/` group): for a
/// set of M evaluation states, the features of every action under every group's feature map and
/// the true reward parameters. Each rank holds the states [state_begin, state_begin + local).
struct RewardEnvironment {
  int num_groups = 0;
  int num_actions = 0;
  int feature_dim = 0;
  index_t num_states = 0;                      ///< M, global
  index_t state_begin = 0;                     ///< first state held here
  Kokkos::View<double****, MemSpace> features; ///< [local states][K][A][D]
  View2<double> reward_params;                 ///< [K][D] true theta*_g
  bool empty() const { return num_states == 0; }
};

struct RewardMetrics {
  std::vector<double> optimal_reward; ///< R_g(pi*_g), the argmax of the true reward
  std::vector<double> policy_reward;  ///< R_g(pi_theta), the argmax policy of theta
  std::vector<double> relative_error; ///< (R* - R) / |R*| (absolute error when R* = 0)
  std::vector<double> absolute_error; ///< R* - R
  std::vector<double> kl;             ///< mean_s KL(softmax r_g || softmax theta^T phi)
};

RewardMetrics evaluate_rewards(const policies::LogLinearPolicy& policy,
                               const RewardEnvironment& env, const Communicator& comm);

} // namespace grpo::solver
