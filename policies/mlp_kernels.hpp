// Internal kernels of the MLP policy (grpo::policies::detail), shared by mlp_policy.cpp (the
// parameters, rows and pairs) and mlp_options.cpp (log-probabilities over each prompt's
// options): the matrix aliases, the activations, gemm (Kokkos Kernels where built with it),
// bias + activation, deltas, row loads and checks. Not part of the installed interface's
// contract. Kernels are free functions (CUDA lambdas may not live in member functions) and
// capture Views by value, never `this`.
#pragma once

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fast_math.hpp"
#include "core/kokkos_compat.hpp"
#include "policies/mlp_policy.hpp"

#if GRPO_HAVE_KOKKOSKERNELS
#include <KokkosBlas3_gemm.hpp>
#endif

#include <cmath>
#include <string>

namespace grpo::policies {

using Matrix = Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>;
using MatrixU =
    Kokkos::View<double**, Kokkos::LayoutRight, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
using ConstMatrixU = Kokkos::View<const double**, Kokkos::LayoutRight, MemSpace,
                                  Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// --- Kernels ---------------------------------------------------------------------------------

namespace detail {

struct ReluAct {
  KOKKOS_INLINE_FUNCTION double value(double z) const { return z > 0.0 ? z : 0.0; }
  KOKKOS_INLINE_FUNCTION double derivative(double z, double /*h*/) const {
    return z > 0.0 ? 1.0 : 0.0;
  }
};

struct TanhAct {
  KOKKOS_INLINE_FUNCTION double value(double z) const { return math::fast_tanh(z); }
  KOKKOS_INLINE_FUNCTION double derivative(double /*z*/, double h) const { return 1.0 - h * h; }
};

/// The tanh approximation of gelu (mlp_policy.hpp) and its exact derivative.
struct GeluAct {
  static constexpr double kC = 0.79788456080286535588; // sqrt(2 / pi)
  static constexpr double kA = 0.044715;
  KOKKOS_INLINE_FUNCTION double value(double z) const {
    const double t = math::fast_tanh(kC * (z + kA * z * z * z));
    return 0.5 * z * (1.0 + t);
  }
  KOKKOS_INLINE_FUNCTION double derivative(double z, double /*h*/) const {
    const double t = math::fast_tanh(kC * (z + kA * z * z * z));
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * kC * (1.0 + 3.0 * kA * z * z);
  }
};

template <class F>
void with_activation(Activation a, F&& f) {
  switch (a) {
  case Activation::Relu:
    f(ReluAct{});
    return;
  case Activation::Tanh:
    f(TanhAct{});
    return;
  case Activation::Gelu:
    f(GeluAct{});
    return;
  }
}

/// f(r, j) for every entry of a rows x cols matrix: on the host one row per iteration with the
/// column loop inside (contiguous, vectorizable), on devices one thread per entry with the column
/// index fastest (coalesced).
template <class F>
void for_each_entry(const char* label, const ExecSpace& space, index_t rows, index_t cols,
                    const F& f) {
  if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible) {
    Kokkos::parallel_for(
        label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, rows),
        KOKKOS_LAMBDA(const index_t r) {
          for (index_t j = 0; j < cols; ++j) {
            f(r, j);
          }
        });
  } else {
    using Grid =
        Kokkos::MDRangePolicy<ExecSpace,
                              Kokkos::Rank<2, Kokkos::Iterate::Right, Kokkos::Iterate::Right>,
                              Kokkos::IndexType<index_t>>;
    Kokkos::parallel_for(label, Grid(space, {0, 0}, {rows, cols}), f);
  }
}

inline MatrixU block(double* data, index_t rows, index_t cols) { return MatrixU(data, rows, cols); }
inline ConstMatrixU cblock(const double* data, index_t rows, index_t cols) {
  return ConstMatrixU(data, rows, cols);
}

/// C = alpha op(A) op(B) + beta C (op = transpose for 'T'); C is not read when beta == 0.
inline void gemm(const ExecSpace& space, char trans_a, char trans_b, double alpha,
                 const ConstMatrixU& a, const ConstMatrixU& b, double beta, const MatrixU& c) {
  if (c.extent(0) == 0 || c.extent(1) == 0) {
    return;
  }
  const auto depth = static_cast<index_t>(trans_a == 'T' ? a.extent(0) : a.extent(1));
#if GRPO_HAVE_KOKKOSKERNELS
  if (depth > 0) {
    // KokkosKernels 3.4 takes no execution-space instance: it runs on the default instance.
    (void)space;
    const char ta[2] = {trans_a, '\0'};
    const char tb[2] = {trans_b, '\0'};
    KokkosBlas::gemm(ta, tb, alpha, a, b, beta, c);
    return;
  }
#endif
  // Own kernel (no KokkosKernels, or an empty inner dimension, which KokkosBlas skips without
  // scaling C): one thread per entry of C, the inner sum in a fixed order.
  const bool ta = trans_a == 'T';
  const bool tb = trans_b == 'T';
  Kokkos::parallel_for(
      "grpo::policies::mlp::gemm",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(
          space, {0, 0}, {index_t(c.extent(0)), index_t(c.extent(1))}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) {
        double s = 0.0;
        for (index_t k = 0; k < depth; ++k) {
          s += (ta ? a(k, i) : a(i, k)) * (tb ? b(j, k) : b(k, j));
        }
        c(i, j) = beta == 0.0 ? alpha * s : alpha * s + beta * c(i, j);
      });
}

/// h0(r, :) = features of batch position r, in double: rows r < n_first from table `first` at
/// row map(r), rows n_first <= r < total from table `second` at row map(r - n_first).
inline void load_rows(const ExecSpace& space, const Matrix& h0, const FeatureView& first,
                      const FeatureView& second, index_t n_first, index_t total,
                      const RowMap& map) {
  const auto dim = static_cast<index_t>(h0.extent(1));
  Kokkos::parallel_for(
      "grpo::policies::mlp::load_rows",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, total),
      KOKKOS_LAMBDA(const index_t r) {
        const bool in_first = r < n_first;
        const index_t row = in_first ? map(r) : map(r - n_first);
        const auto& table = in_first ? first : second;
        for (index_t j = 0; j < dim; ++j) {
          h0(r, j) = static_cast<double>(table(row, j));
        }
      });
}

/// z(r, j) += b(j); h(r, j) = act(z(r, j)) over rows x width.
template <class Act>
void bias_activation(const ExecSpace& space, const Act& act, const MatrixU& z, const MatrixU& h,
                     const double* bias_data) {
  const auto width = static_cast<index_t>(z.extent(1));
  const Kokkos::View<const double*, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> bias(
      bias_data, width);
  for_each_entry(
      "grpo::policies::mlp::bias_activation", space, z.extent(0), width,
      KOKKOS_LAMBDA(const index_t r, const index_t j) {
        const double v = z(r, j) + bias(j);
        z(r, j) = v;
        h(r, j) = act.value(v);
      });
}

/// delta(r, j) = upstream(r) * w(j) * act'(z, h): the output layer's delta into the last hidden
/// layer.
template <class Act>
void output_delta(const ExecSpace& space, const Act& act, const MatrixU& delta,
                  const ConstMatrixU& z, const ConstMatrixU& h, const double* upstream_data,
                  const double* w_data) {
  const auto width = static_cast<index_t>(delta.extent(1));
  const Kokkos::View<const double*, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> u(
      upstream_data, delta.extent(0));
  const Kokkos::View<const double*, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> w(w_data,
                                                                                         width);
  for_each_entry(
      "grpo::policies::mlp::output_delta", space, delta.extent(0), width,
      KOKKOS_LAMBDA(const index_t r, const index_t j) {
        delta(r, j) = u(r) * w(j) * act.derivative(z(r, j), h(r, j));
      });
}

/// delta(r, j) *= act'(z(r, j), h(r, j)).
template <class Act>
void scale_by_derivative(const ExecSpace& space, const Act& act, const MatrixU& delta,
                         const ConstMatrixU& z, const ConstMatrixU& h) {
  const auto width = static_cast<index_t>(delta.extent(1));
  for_each_entry(
      "grpo::policies::mlp::activation_derivative", space, delta.extent(0), width,
      KOKKOS_LAMBDA(const index_t r, const index_t j) {
        delta(r, j) *= act.derivative(z(r, j), h(r, j));
      });
}

/// upstream(i) = coeff(offset + i), upstream(n + i) = -coeff(offset + i) for i < n. A free
/// function: nvcc rejects a KOKKOS_LAMBDA inside a private member function (pair_backward).
inline void pair_upstream(const ExecSpace& space, const View1<const double>& coeff,
                          index_t coeff_offset, const View1<double>& upstream, index_t n) {
  Kokkos::parallel_for(
      "grpo::policies::mlp::pair_upstream",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i) {
        const double c = coeff(coeff_offset + i);
        upstream(i) = c;
        upstream(n + i) = -c;
      });
}

} // namespace detail

} // namespace grpo::policies
