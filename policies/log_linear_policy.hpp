// Log-linear policy (ALGORITHM.md §1.1): pi(y|x) = softmax_y theta^T phi(x, y). The preference
// margin of a pair is theta^T z - ref_logratio with z = phi(x, y_w) - phi(x, y_l); the softmax
// normalizer cancels. Parameters are one flat double View; features are float32. A model of
// the Policy concept (policies/policy.hpp).
#pragma once

#include "core/error.hpp"
#include "core/views.hpp"
#include "policies/policy.hpp"
#include "policies/preference_batch.hpp"
#include "policies/row_selection.hpp"

#include <string>

namespace grpo::policies {

/// Device-side view of a log-linear policy over one split: copyable into kernels.
struct LogLinearMargins {
  Kokkos::View<const double*, MemSpace> m_theta;
  Kokkos::View<const float**, MemSpace> m_z;
  Kokkos::View<const float*, MemSpace> m_ref;
  int m_dim = 0;

  /// h_i = theta^T z_i - ref_i, accumulated in double.
  KOKKOS_INLINE_FUNCTION double margin(index_t i) const {
    double s = 0.0;
    for (int j = 0; j < m_dim; ++j) {
      s += m_theta(j) * static_cast<double>(m_z(i, j));
    }
    return s - static_cast<double>(m_ref(i));
  }

  /// grad[j] += coeff * dh_i/dtheta_j = coeff * z_ij.
  KOKKOS_INLINE_FUNCTION void add_gradient(index_t i, double coeff, double* grad) const {
    for (int j = 0; j < m_dim; ++j) {
      grad[j] += coeff * static_cast<double>(m_z(i, j));
    }
  }
};

/// The log-linear policy's kernels need no scratch (Policy concept, policies/policy.hpp).
struct LogLinearWorkspace {};

class LogLinearPolicy {
public:
  using workspace_type = LogLinearWorkspace;

  LogLinearPolicy() = default;
  explicit LogLinearPolicy(int dim)
      : m_theta(Kokkos::view_alloc(std::string("grpo::policies::log_linear::theta")), dim) {}

  index_t num_params() const { return static_cast<index_t>(m_theta.extent(0)); }
  /// Feature columns the policy reads (d = num_params()).
  int input_dim() const { return static_cast<int>(m_theta.extent(0)); }
  /// The flat parameter vector (device).
  View1<double> params() const { return m_theta; }
  workspace_type workspace(index_t /*max_pairs*/) const { return {}; }

  /// The margin and gradient of each row, reference included, for kernels (the solvers' fused
  /// pass, solver/fused_kernel.cpp, is this policy's specialisation of margins + gradient in
  /// one pass; the certificate and tests use this evaluator).
  LogLinearMargins evaluator(const PreferenceSplit& split) const {
    return LogLinearMargins{m_theta, split.z, split.ref_logratio, input_dim()};
  }

  /// out(i) = theta^T z(row_i) for the pairs of `rows`: the policy's log-ratio margin (the caller
  /// subtracts the reference's, as for every policy). Shapes are checked first.
  void margins(const ExecSpace& space, workspace_type& /*ws*/, const PreferenceSplit& split,
               const RowSelection& rows, const View1<double>& out) const {
    check_batch(space, split, rows, out.extent(0), "log-linear margins", "outputs");
    const auto theta = params();
    const auto z = split.z;
    const int dim = input_dim();
    const detail::RowMap map(rows);
    Kokkos::parallel_for(
        "grpo::policies::log_linear::margins",
        Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, rows.count),
        KOKKOS_LAMBDA(const index_t i) {
          const index_t r = map(i);
          double s = 0.0;
          for (int j = 0; j < dim; ++j) {
            s += theta(j) * static_cast<double>(z(r, j));
          }
          out(i) = s;
        });
  }

  /// grad += sum_i coeff(i) * d margin_i / d theta = sum_i coeff(i) z(row_i) over the pairs of
  /// `rows`. Shapes are checked first.
  void accumulate_gradient(const ExecSpace& space, workspace_type& /*ws*/,
                           const PreferenceSplit& split, const RowSelection& rows,
                           const View1<const double>& coeff, const View1<double>& grad) const {
    check_batch(space, split, rows, coeff.extent(0), "log-linear accumulate_gradient",
                "coefficients");
    if (static_cast<index_t>(grad.extent(0)) != num_params()) {
      throw InternalError("log-linear accumulate_gradient: a gradient of " +
                          std::to_string(grad.extent(0)) + " entries for " +
                          std::to_string(num_params()) + " parameters");
    }
    const auto z = split.z;
    const index_t n = rows.count;
    const detail::RowMap map(rows);
    Kokkos::parallel_for(
        "grpo::policies::log_linear::accumulate_gradient",
        Kokkos::RangePolicy<ExecSpace>(space, 0, input_dim()), KOKKOS_LAMBDA(const int j) {
          double s = 0.0;
          for (index_t i = 0; i < n; ++i) {
            s += coeff(i) * static_cast<double>(z(map(i), j));
          }
          grad(j) += s;
        });
  }

private:
  /// The front-end checks: the split's feature columns, the batch's rows and the length of the
  /// per-pair array (`what`: its name), each message naming both shapes.
  void check_batch(const ExecSpace& space, const PreferenceSplit& split, const RowSelection& rows,
                   std::size_t per_pair, const char* who, const char* what) const {
    detail::check_features(split.z, input_dim(), who);
    if (static_cast<index_t>(per_pair) < rows.count) {
      throw InternalError(std::string(who) + ": " + std::to_string(per_pair) + " " + what +
                          " for " + std::to_string(rows.count) + " pairs");
    }
    detail::check_rows(space, rows, split.local_rows(), who);
  }

  View1<double> m_theta;
};

static_assert(is_policy_v<LogLinearPolicy>, "LogLinearPolicy models the Policy concept");

} // namespace grpo::policies
