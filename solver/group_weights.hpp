// GroupWeights: the group weights of every policy's minimax step (ALGORITHM.md §1.4, §2.2, §4,
// §8.3). One object holds log alpha (the exponentiated-gradient iterate on the simplex), the
// frozen weights of ERM and importance sampling, the generalisation adjustment C_g / sqrt(N_g),
// and the running average of alpha. Every rank holds an identical copy: callers hand it global
// (already reduced) group-loss estimates.
//
// - Robust (gr-*): alpha_0 = 1/K; a step adds eta chi (L_g + adj_g) to log alpha_g for the active
//   groups and renormalises in the log domain; the mixing weights are w_g = (1 - chi)/K + chi
//   alpha_g.
// - ERM (dpo, ipo): alpha = w = N_g / N, frozen.
// - Importance sampling (is-*): alpha = v / sum(v) with v_g = 1/N_g or given weights, frozen.
//   The official synthetic code mixes them with chi like robust weights (`chi_mixes_fixed`,
//   the log-linear policy); the official LLM code uses v itself (the MLP policy, §8).
#pragma once

#include "core/views.hpp"
#include "solver/solver_config.hpp"

#include <vector>

namespace grpo::solver {

struct GroupWeightsConfig {
  WeightRule rule = WeightRule::Robust;
  double chi = 1.0;               ///< w_g = (1 - chi)/K + chi alpha_g
  std::vector<double> is_weights; ///< importance sampling: v_g (empty: 1/N_g; one value: all)
  std::vector<double> adj;        ///< C_g (empty: no adjustment; one value: all groups)
  bool chi_mixes_fixed = true;    ///< importance-sampling weights mixed with chi (see above)
};

class GroupWeights {
public:
  GroupWeights() = default;
  /// `group_sizes` are the training N_g (all > 0 for groups with an adjustment). Throws
  /// ConfigFieldError naming the field for is-weights or adj of the wrong length.
  GroupWeights(GroupWeightsConfig config, std::vector<index_t> group_sizes);

  int num_groups() const { return static_cast<int>(m_log_alpha.size()); }
  WeightRule rule() const { return m_config.rule; }
  bool robust() const { return m_config.rule == WeightRule::Robust; }
  double chi() const { return m_config.chi; }

  const std::vector<double>& log_alpha() const { return m_log_alpha; }
  std::vector<double> alpha() const;
  /// The weights of the theta objective: w_g (robust and mixed IS), N_g / N (ERM), v_g (IS).
  std::vector<double> weights() const;
  /// C_g / sqrt(N_g) (0 without an adjustment).
  double adj(int g) const { return m_adj.empty() ? 0.0 : m_adj[static_cast<std::size_t>(g)]; }

  /// The exponent of group g after a step with group-loss estimate `loss` and step `eta`:
  /// log alpha_g + eta chi (loss + adj_g), before normalisation.
  double exponent(int g, double loss, double eta) const;
  /// The exponentiated-gradient step: log alpha_g += eta chi (estimate_g + adj_g) for every
  /// active g, then log alpha -= log sum exp(log alpha). Returns that log-normaliser. Only for
  /// robust weights.
  double update(const std::vector<double>& estimate, const std::vector<bool>& active, double eta);

  /// alpha_avg += (alpha - alpha_avg) / steps_done: the average of alpha over the steps made.
  void accumulate_average(index_t steps_done);
  const std::vector<double>& alpha_avg() const { return m_alpha_avg; }

  /// Continues from a checkpoint's log alpha and average (DataError on a size mismatch).
  void restore(const std::vector<double>& log_alpha, const std::vector<double>& alpha_avg);

private:
  GroupWeightsConfig m_config;
  std::vector<index_t> m_group_sizes;
  index_t m_total = 0;
  std::vector<double> m_fixed; ///< frozen weights of ERM (N_g / N) and IS (v / sum v)
  std::vector<double> m_adj;   ///< C_g / sqrt(N_g); empty without an adjustment
  std::vector<double> m_log_alpha;
  std::vector<double> m_alpha_avg;
};

} // namespace grpo::solver
