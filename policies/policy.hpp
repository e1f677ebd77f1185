// The Policy concept (DESIGN.md, "policies/"): what a solver needs of a policy pi_theta, checked
// at compile time (C++17 detection; each policy's header ends with a static_assert). A model P
// provides, with `space` an execution-space instance first as in ArborX's kernels:
//
//   typename P::workspace_type                 scratch of its kernels (empty for log-linear)
//   P::workspace_type p.workspace(max_pairs)   scratch for batches of up to max_pairs pairs
//   index_t p.num_params()                     the length of p.params()
//   int p.input_dim()                          feature columns it reads
//   View1<double> p.params()                   every parameter in one flat View (device)
//   p.margins(space, ws, split, rows, out)     out(i) = log pi(y_w|x) - log pi(y_l|x) for the
//                                              pairs `rows` of `split` (reference excluded)
//   p.accumulate_gradient(space, ws, split, rows, coeff, grad)
//                                              grad += sum_i coeff(i) d margin_i / d params
//
// Both kernels check shapes at the front (feature columns, rows against the split, per-pair
// arrays against the batch, the gradient against num_params) and name both shapes in the
// InternalError they throw. Models: LogLinearPolicy (policies/log_linear_policy.hpp; its fused
// one-pass margin + loss + gradient kernel, solver/fused_kernel.cpp, is the log-linear
// specialisation of the pair) and MlpPolicy (policies/mlp_policy.hpp).
#pragma once

#include "core/views.hpp"
#include "policies/preference_batch.hpp"
#include "policies/row_selection.hpp"

#include <type_traits>
#include <utility>

namespace grpo::policies {

namespace concept_detail {

template <class P>
using workspace_t = typename P::workspace_type;

template <class P>
using margins_t = decltype(std::declval<const P&>().margins(
    std::declval<const ExecSpace&>(), std::declval<workspace_t<P>&>(),
    std::declval<const PreferenceSplit&>(), std::declval<const RowSelection&>(),
    std::declval<const View1<double>&>()));

template <class P>
using gradient_t = decltype(std::declval<const P&>().accumulate_gradient(
    std::declval<const ExecSpace&>(), std::declval<workspace_t<P>&>(),
    std::declval<const PreferenceSplit&>(), std::declval<const RowSelection&>(),
    std::declval<const View1<const double>&>(), std::declval<const View1<double>&>()));

template <class P>
using workspace_of_t = decltype(std::declval<const P&>().workspace(index_t{}));

template <class P, class = void>
struct is_policy : std::false_type {};

template <class P>
struct is_policy<P, std::void_t<workspace_t<P>, margins_t<P>, gradient_t<P>, workspace_of_t<P>>>
    : std::bool_constant<
          std::is_same_v<decltype(std::declval<const P&>().params()), View1<double>> &&
          std::is_convertible_v<decltype(std::declval<const P&>().num_params()), index_t> &&
          std::is_convertible_v<decltype(std::declval<const P&>().input_dim()), int> &&
          std::is_same_v<workspace_of_t<P>, workspace_t<P>>> {};

} // namespace concept_detail

/// True when P models the Policy concept (see the top of this file).
template <class P>
inline constexpr bool is_policy_v = concept_detail::is_policy<P>::value;

} // namespace grpo::policies
