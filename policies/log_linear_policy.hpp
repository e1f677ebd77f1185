// Log-linear policy (ALGORITHM.md §1.1): pi(y|x) = softmax_y theta^T phi(x, y). The preference
// margin of a pair is theta^T z - ref_logratio with z = phi(x, y_w) - phi(x, y_l); the softmax
// normalizer cancels. Parameters are one flat double View; features are float32.
#pragma once

#include "core/views.hpp"
#include "policies/preference_batch.hpp"

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

class LogLinearPolicy {
public:
  LogLinearPolicy() = default;
  explicit LogLinearPolicy(int dim)
      : m_theta(Kokkos::view_alloc(std::string("grpo::policies::log_linear::theta")), dim) {}

  int num_params() const { return static_cast<int>(m_theta.extent(0)); }
  /// The flat parameter vector (device).
  View1<double> params() const { return m_theta; }

  LogLinearMargins margins(const PreferenceSplit& split) const {
    return LogLinearMargins{m_theta, split.z, split.ref_logratio, num_params()};
  }

  /// Writes h_i for every local row of `split` into `out` (size local_rows).
  template <class ExecutionSpace>
  void compute_margins(const ExecutionSpace& space, const PreferenceSplit& split,
                       const View1<double>& out) const {
    const auto eval = margins(split);
    Kokkos::parallel_for(
        "grpo::policies::log_linear::margins",
        Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<index_t>>(space, 0,
                                                                        split.local_rows()),
        KOKKOS_LAMBDA(const index_t i) { out(i) = eval.margin(i); });
  }

  /// grad += sum_i coeff_i * dh_i/dtheta over the local rows of `split`.
  template <class ExecutionSpace>
  void accumulate_gradient(const ExecutionSpace& space, const PreferenceSplit& split,
                           const View1<double>& coeff, const View1<double>& grad) const {
    const auto z = split.z;
    const int dim = num_params();
    const index_t rows = split.local_rows();
    Kokkos::parallel_for(
        "grpo::policies::log_linear::accumulate_gradient",
        Kokkos::RangePolicy<ExecutionSpace>(space, 0, dim), KOKKOS_LAMBDA(const int j) {
          double s = 0.0;
          for (index_t i = 0; i < rows; ++i) {
            s += coeff(i) * static_cast<double>(z(i, j));
          }
          grad(j) += s;
        });
  }

private:
  View1<double> m_theta;
};

} // namespace grpo::policies
