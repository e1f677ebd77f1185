#include "solver/group_weights.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace grpo::solver {

GroupWeights::GroupWeights(GroupWeightsConfig config, std::vector<index_t> group_sizes)
    : m_config(std::move(config))
    , m_group_sizes(std::move(group_sizes)) {
  const int k = static_cast<int>(m_group_sizes.size());
  for (const index_t n : m_group_sizes) {
    m_total += n;
  }
  if (!m_config.adj.empty()) {
    const auto c = expand_per_group(m_config.adj, k, "adj");
    m_adj.resize(static_cast<std::size_t>(k));
    for (int g = 0; g < k; ++g) {
      m_adj[g] = c[g] / std::sqrt(static_cast<double>(m_group_sizes[g]));
    }
  }
  std::vector<double> alpha0(static_cast<std::size_t>(k), 1.0 / k);
  switch (m_config.rule) {
  case WeightRule::Erm:
    for (int g = 0; g < k; ++g) {
      alpha0[g] = static_cast<double>(m_group_sizes[g]) / static_cast<double>(m_total);
    }
    m_fixed = alpha0;
    break;
  case WeightRule::ImportanceSampling: {
    std::vector<double> v(static_cast<std::size_t>(k));
    if (m_config.is_weights.empty()) {
      for (int g = 0; g < k; ++g) {
        v[g] = 1.0 / static_cast<double>(m_group_sizes[g]);
      }
    } else {
      v = expand_per_group(m_config.is_weights, k, "is_weights");
    }
    double sum = 0.0;
    for (const double x : v) {
      sum += x;
    }
    for (int g = 0; g < k; ++g) {
      alpha0[g] = v[g] / sum;
    }
    m_fixed = alpha0;
    break;
  }
  case WeightRule::Robust:
    break;
  }
  m_log_alpha.resize(static_cast<std::size_t>(k));
  for (int g = 0; g < k; ++g) {
    m_log_alpha[g] = std::log(alpha0[g]);
  }
  m_alpha_avg.assign(static_cast<std::size_t>(k), 0.0);
}

std::vector<double> GroupWeights::alpha() const {
  std::vector<double> a(m_log_alpha.size());
  for (std::size_t g = 0; g < a.size(); ++g) {
    a[g] = std::exp(m_log_alpha[g]);
  }
  return a;
}

std::vector<double> GroupWeights::weights() const {
  if (m_config.rule == WeightRule::Erm ||
      (m_config.rule == WeightRule::ImportanceSampling && !m_config.chi_mixes_fixed)) {
    return m_fixed;
  }
  const int k = num_groups();
  const double chi = m_config.chi;
  const auto a = alpha();
  std::vector<double> w(a.size());
  for (int g = 0; g < k; ++g) {
    w[g] = (1.0 - chi) / k + chi * a[g];
  }
  return w;
}

double GroupWeights::exponent(int g, double loss, double eta) const {
  const auto i = static_cast<std::size_t>(g);
  return m_log_alpha[i] + eta * m_config.chi * (m_adj.empty() ? loss : loss + m_adj[i]);
}

double GroupWeights::update(const std::vector<double>& estimate, const std::vector<bool>& active,
                            double eta) {
  if (!robust()) {
    throw InternalError("GroupWeights::update on frozen weights", false);
  }
  const int k = num_groups();
  for (int g = 0; g < k; ++g) {
    if (active[g]) {
      m_log_alpha[g] += eta * m_config.chi * (m_adj.empty() ? estimate[g] : estimate[g] + m_adj[g]);
    }
  }
  const double top = *std::max_element(m_log_alpha.begin(), m_log_alpha.end());
  double sum = 0.0;
  for (const double la : m_log_alpha) {
    sum += std::exp(la - top);
  }
  const double log_norm = top + std::log(sum);
  for (double& la : m_log_alpha) {
    la -= log_norm;
  }
  return log_norm;
}

void GroupWeights::accumulate_average(index_t steps_done) {
  const double inv = 1.0 / static_cast<double>(steps_done);
  const auto a = alpha();
  for (std::size_t g = 0; g < a.size(); ++g) {
    m_alpha_avg[g] += (a[g] - m_alpha_avg[g]) * inv;
  }
}

void GroupWeights::restore(const std::vector<double>& log_alpha,
                           const std::vector<double>& alpha_avg) {
  if (log_alpha.size() != m_log_alpha.size() || alpha_avg.size() != m_alpha_avg.size()) {
    throw DataError("checkpoint: " + std::to_string(log_alpha.size()) + " group weights and " +
                    std::to_string(alpha_avg.size()) + " averaged weights; this run has " +
                    std::to_string(m_log_alpha.size()) + " groups");
  }
  m_log_alpha = log_alpha;
  m_alpha_avg = alpha_avg;
}

} // namespace grpo::solver
