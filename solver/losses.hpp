// Per-sample preference losses as functions of the margin h = f(x,y_w) - f(x,y_l) minus the
// reference log-ratio (ALGORITHM.md §1.2). Each functor returns the value and dvalue/dh, so a
// kernel gets the gradient of any policy from dh/dparams. Evaluated in double precision.
#pragma once

#include "core/fast_math.hpp"
#include "core/kokkos_compat.hpp"

#include <string>

namespace grpo::solver {

enum class LossType { Dpo, Ipo };

LossType parse_loss(const std::string& name);
const char* loss_name(LossType loss);

/// sigma(y) = 1 / (1 + e^-y), never overflowing.
KOKKOS_INLINE_FUNCTION double sigmoid(double y) {
  if (y >= 0) {
    return 1.0 / (1.0 + math::exp(-y));
  }
  const double e = math::exp(y);
  return e / (1.0 + e);
}

/// DPO: l(h) = -log sigma(beta h) = softplus(-beta h); dl/dh = -beta sigma(-beta h).
/// Branch-free with one exp and one log1p (vectorizable): with e = exp(-|x|),
/// softplus(-x) = max(-x, 0) + log1p(e) and sigma(-x) = (x >= 0 ? e : 1) / (1 + e).
struct DpoLoss {
  double m_beta;
  KOKKOS_INLINE_FUNCTION void operator()(double h, double& value, double& slope) const {
    const double x = m_beta * h;
    const double e = math::exp_nonpositive(x >= 0.0 ? -x : x);
    double inverse = 0.0;
    const double log_term = math::log1p_unit(e, inverse);
    value = (x < 0.0 ? -x : 0.0) + log_term;
    slope = -m_beta * (x >= 0.0 ? e : 1.0) * inverse;
  }
  /// d2l/dh2 = beta^2 sigma(beta h) sigma(-beta h) = beta^2 e / (1 + e)^2, e = exp(-|beta h|).
  KOKKOS_INLINE_FUNCTION double curvature(double h) const {
    const double x = m_beta * h;
    const double e = math::exp(x >= 0.0 ? -x : x);
    const double inv = 1.0 / (1.0 + e);
    return m_beta * m_beta * e * inv * inv;
  }
};

/// IPO: l(h) = (h - 1/(2 beta))^2; dl/dh = 2 (h - 1/(2 beta)). Beta enters only the target.
struct IpoLoss {
  double m_target;
  KOKKOS_INLINE_FUNCTION void operator()(double h, double& value, double& slope) const {
    const double r = h - m_target;
    value = r * r;
    slope = 2.0 * r;
  }
  KOKKOS_INLINE_FUNCTION double curvature(double /*h*/) const { return 2.0; }
};

inline DpoLoss make_dpo(double beta) { return DpoLoss{beta}; }
inline IpoLoss make_ipo(double beta) { return IpoLoss{0.5 / beta}; }

/// Calls f(loss_functor) with the functor of `type`: the one runtime switch before a kernel.
template <class F>
decltype(auto) with_loss(LossType type, double beta, F&& f) {
  if (type == LossType::Dpo) {
    return f(make_dpo(beta));
  }
  return f(make_ipo(beta));
}

} // namespace grpo::solver
