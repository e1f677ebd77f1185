// MLP policy over each prompt's options (mlp_policy.hpp): log pi(y|x) as a log-softmax of the
// scores of the prompt's options, and the gradient of a weighted sum of those log-probabilities
// (the SFT stage and the NLL metric). Kernels in mlp_kernels.hpp.
#include "core/error.hpp"
#include "policies/mlp_kernels.hpp"
#include "policies/mlp_policy.hpp"

#include <algorithm>
#include <cmath>

namespace grpo::policies {

// --- Policy: options ---------------------------------------------------------------------------

void MlpPolicy::option_log_probs(const ExecSpace& space, MlpWorkspace& ws, const OptionSet& options,
                                 const View1<const int>& targets, const RowSelection& rows,
                                 const View1<double>& out) const {
  check_workspace(ws, "option_log_probs");
  detail::check_features(options.features, m_config.input_dim, "MLP option_log_probs");
  const index_t prompts = static_cast<index_t>(options.offsets.extent(0)) - 1;
  if (prompts < 0 || static_cast<index_t>(targets.extent(0)) < prompts ||
      static_cast<index_t>(out.extent(0)) < rows.count) {
    throw InternalError("MLP option_log_probs: " + std::to_string(options.offsets.extent(0)) +
                        " option offsets, " + std::to_string(targets.extent(0)) + " targets, " +
                        std::to_string(out.extent(0)) + " outputs for " +
                        std::to_string(rows.count) + " rows");
  }
  detail::check_rows(space, rows, prompts, "MLP option_log_probs");
  ws.m_cached = MlpWorkspace::Cached::None;
  const index_t n = rows.count;
  if (n > ws.m_max_rows) {
    throw ConfigError("MLP option_log_probs: a batch of " + std::to_string(n) +
                      " prompts has more options than the workspace's " +
                      std::to_string(ws.m_max_rows) + " rows; split the batch");
  }
  const detail::RowMap map(rows);
  const auto offsets = options.offsets;
  const auto batch_offsets = ws.m_batch_offsets;
  const index_t option_rows = static_cast<index_t>(options.features.extent(0));
  // Exclusive scan of the option counts of the batch rows, and a count of malformed rows
  // (offsets outside the table, or a target that is not one of the row's options).
  index_t total = 0;
  Kokkos::parallel_scan(
      "grpo::policies::mlp::option_offsets",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i, index_t& partial, const bool final) {
        const index_t r = map(i);
        const index_t count = offsets(r + 1) - offsets(r);
        if (final) {
          batch_offsets(i) = partial;
          if (i == n - 1) {
            batch_offsets(n) = partial + count;
          }
        }
        partial += count;
      },
      total);
  space.fence();
  index_t bad = 0;
  Kokkos::parallel_reduce(
      "grpo::policies::mlp::check_options",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i, index_t& b) {
        const index_t r = map(i);
        const index_t count = offsets(r + 1) - offsets(r);
        const int t = targets(r);
        const bool ok =
            count > 0 && offsets(r) >= 0 && offsets(r + 1) <= option_rows && t >= 0 && t < count;
        b += ok ? 0 : 1;
      },
      bad);
  if (bad != 0) {
    throw DataError("MLP option_log_probs: " + std::to_string(bad) + " of " + std::to_string(n) +
                    " prompts have no options, options outside the table of " +
                    std::to_string(option_rows) + " rows, or a target that is not an option");
  }
  if (total > ws.m_max_rows) {
    throw ConfigError("MLP option_log_probs: a batch of " + std::to_string(n) + " prompts has " +
                      std::to_string(total) + " options, more than the workspace's " +
                      std::to_string(ws.m_max_rows) + " rows; split the batch");
  }
  const auto gather = ws.m_gather;
  const auto batch_targets = ws.m_targets;
  Kokkos::parallel_for(
      "grpo::policies::mlp::option_gather",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i) {
        const index_t r = map(i);
        const index_t first = offsets(r);
        const index_t count = offsets(r + 1) - first;
        for (index_t k = 0; k < count; ++k) {
          gather(batch_offsets(i) + k) = first + k;
        }
        batch_targets(i) = targets(r);
      });
  detail::load_rows(space, ws.m_h[0], options.features, options.features, total, total,
                    detail::RowMap(RowSelection::rows(gather, total)));
  run_layers(space, ws, total);
  const auto scores = ws.m_scores;
  const auto lse = ws.m_lse;
  Kokkos::parallel_for(
      "grpo::policies::mlp::option_log_softmax",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i) {
        const index_t first = batch_offsets(i);
        const index_t last = batch_offsets(i + 1);
        double m = scores(first);
        for (index_t k = first + 1; k < last; ++k) {
          m = scores(k) > m ? scores(k) : m;
        }
        double s = 0.0;
        for (index_t k = first; k < last; ++k) {
          s += math::exp(scores(k) - m);
        }
        const double l = m + math::log(s);
        lse(i) = l;
        out(i) = scores(first + batch_targets(i)) - l;
      });
  ws.m_cached = MlpWorkspace::Cached::Options;
  ws.m_batch = n;
}

void MlpPolicy::accumulate_log_prob_gradient(const ExecSpace& space, MlpWorkspace& ws,
                                             const View1<const double>& coeff,
                                             const View1<double>& grad) const {
  check_workspace(ws, "accumulate_log_prob_gradient");
  if (ws.m_cached != MlpWorkspace::Cached::Options) {
    throw InternalError("MLP accumulate_log_prob_gradient: the workspace does not hold the "
                        "forward pass of an option batch (call option_log_probs first)");
  }
  const index_t n = ws.m_batch;
  if (static_cast<index_t>(coeff.extent(0)) < n) {
    throw InternalError("MLP accumulate_log_prob_gradient: " + std::to_string(coeff.extent(0)) +
                        " coefficients for " + std::to_string(n) + " prompts");
  }
  const auto scores = ws.m_scores;
  const auto lse = ws.m_lse;
  const auto batch_offsets = ws.m_batch_offsets;
  const auto batch_targets = ws.m_targets;
  const auto upstream = ws.m_upstream;
  // d log pi(t)/d f_k = [k == t] - pi_k.
  Kokkos::parallel_for(
      "grpo::policies::mlp::log_prob_upstream",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i) {
        const index_t first = batch_offsets(i);
        const index_t last = batch_offsets(i + 1);
        const double c = coeff(i);
        const index_t target = first + batch_targets(i);
        for (index_t k = first; k < last; ++k) {
          upstream(k) = c * ((k == target ? 1.0 : 0.0) - math::exp(scores(k) - lse(i)));
        }
      });
  backward(space, ws, upstream, grad);
}

} // namespace grpo::policies
