// The Policy concept (policies/policy.hpp) over both models, through one generic test body:
// accumulate_gradient against central finite differences of margins for indexed batches with
// repeated rows, the front-end shape checks (each naming both shapes), and the compile-time
// checks of the concept itself.
#include "policies/log_linear_policy.hpp"
#include "policies/mlp_policy.hpp"
#include "tests/solver/neural_fixtures.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace {

using namespace grpo;
using policies::RowSelection;

// Compile-time: both models pass, and a type missing any part of the concept fails.
struct NoPolicy {};
struct WithoutGradient {
  using workspace_type = policies::LogLinearWorkspace;
  workspace_type workspace(index_t) const { return {}; }
  index_t num_params() const { return 0; }
  int input_dim() const { return 0; }
  View1<double> params() const { return {}; }
  void margins(const ExecSpace&, workspace_type&, const policies::PreferenceSplit&,
               const RowSelection&, const View1<double>&) const {}
};
static_assert(policies::is_policy_v<policies::LogLinearPolicy>);
static_assert(policies::is_policy_v<policies::MlpPolicy>);
static_assert(!policies::is_policy_v<NoPolicy>);
static_assert(!policies::is_policy_v<WithoutGradient>);
static_assert(!policies::is_policy_v<int>);

constexpr int kDim = 5;

template <class P>
P make_policy();
template <>
policies::LogLinearPolicy make_policy() {
  policies::LogLinearPolicy p(kDim);
  std::vector<double> theta;
  for (int j = 0; j < kDim; ++j) {
    theta.push_back(0.4 - 0.3 * j);
  }
  Kokkos::deep_copy(p.params(), HostView1<double>(theta.data(), theta.size()));
  return p;
}
template <>
policies::MlpPolicy make_policy() {
  policies::MlpConfig c;
  c.input_dim = kDim;
  c.hidden = {6, 4};
  c.activation = policies::Activation::Tanh;
  return policies::MlpPolicy(c, 3);
}

std::vector<double> host(const View1<double>& v) {
  std::vector<double> out(v.extent(0));
  Kokkos::deep_copy(HostView1<double>(out.data(), out.size()), v);
  return out;
}

template <class P>
class PolicyConcept : public ::testing::Test {};
using Models = ::testing::Types<policies::LogLinearPolicy, policies::MlpPolicy>;
TYPED_TEST_SUITE(PolicyConcept, Models);

TYPED_TEST(PolicyConcept, GradientMatchesFiniteDifferencesOfMargins) {
  const auto data = test::option_data({7, 9}, kDim, 21);
  const auto split = test::option_split(data, 0, 1);
  auto policy = make_policy<TypeParam>();
  auto ws = policy.workspace(8);
  const std::vector<index_t> picked{3, 15, 3, 0, 8, 11, 3};
  View1<index_t> index("index", picked.size());
  Kokkos::deep_copy(
      index, Kokkos::View<const index_t*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                 picked.data(), picked.size()));
  const auto rows = RowSelection::rows(index);
  std::vector<double> c;
  for (std::size_t i = 0; i < picked.size(); ++i) {
    c.push_back(0.7 - 0.25 * static_cast<double>(i));
  }
  View1<double> coeff("coeff", c.size());
  Kokkos::deep_copy(coeff, HostView1<double>(c.data(), c.size()));
  const auto p = policy.num_params();
  View1<double> grad("grad", p);
  policy.accumulate_gradient(ExecSpace(), ws, split, rows, coeff, grad);
  const auto g = host(grad);

  // F(params) = sum_i c_i margin_i: dF/dparams_k by central differences.
  const auto theta = host(policy.params());
  View1<double> out("out", picked.size());
  const auto objective = [&](const std::vector<double>& at) {
    Kokkos::deep_copy(policy.params(),
                      HostView1<double>(const_cast<double*>(at.data()), at.size()));
    policy.margins(ExecSpace(), ws, split, rows, out);
    const auto m = host(out);
    double f = 0.0;
    for (std::size_t i = 0; i < m.size(); ++i) {
      f += c[i] * m[i];
    }
    return f;
  };
  const double eps = 1e-6;
  for (index_t k = 0; k < p; ++k) {
    auto plus = theta;
    auto minus = theta;
    plus[k] += eps;
    minus[k] -= eps;
    const double fd = (objective(plus) - objective(minus)) / (2 * eps);
    EXPECT_NEAR(g[k], fd, 1e-7 * std::max(1.0, std::abs(fd))) << "parameter " << k;
  }
}

/// The message of the InternalError that f throws ("" when it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const InternalError& e) {
    return e.what();
  }
  return "";
}

TYPED_TEST(PolicyConcept, FrontEndsCheckShapesAndNameBoth) {
  const auto data = test::option_data({4, 6}, kDim, 5);
  const auto split = test::option_split(data, 0, 1);
  auto policy = make_policy<TypeParam>();
  auto ws = policy.workspace(16);
  View1<double> short_out("out", 3);
  View1<double> grad("grad", policy.num_params());
  View1<double> coeff("coeff", 10);
  // Outputs shorter than the batch.
  EXPECT_NE(error_of([&] {
              policy.margins(ExecSpace(), ws, split, RowSelection::range(0, 10), short_out);
            }).find("10"),
            std::string::npos);
  // Rows past the split's 10 local rows.
  const auto past = error_of([&] {
    View1<double> out("out", 4);
    policy.margins(ExecSpace(), ws, split, RowSelection::range(8, 4), out);
  });
  EXPECT_NE(past.find("outside the table of 10 rows"), std::string::npos) << past;
  // A gradient of the wrong length.
  View1<double> wrong("wrong", policy.num_params() + 1);
  const auto length = error_of([&] {
    policy.accumulate_gradient(ExecSpace(), ws, split, RowSelection::range(0, 10), coeff, wrong);
  });
  EXPECT_NE(length.find(std::to_string(policy.num_params() + 1)), std::string::npos) << length;
  EXPECT_NE(length.find(std::to_string(policy.num_params())), std::string::npos) << length;
  // Features with other columns than the policy reads.
  const auto other = test::option_data({4, 6}, kDim + 1, 5);
  const auto wide = test::option_split(other, 0, 1);
  const auto columns = error_of([&] {
    View1<double> out("out", 10);
    policy.margins(ExecSpace(), ws, wide, RowSelection::range(0, 10), out);
  });
  EXPECT_NE(columns.find(std::to_string(kDim + 1)), std::string::npos) << columns;
  EXPECT_NE(columns.find(std::to_string(kDim)), std::string::npos) << columns;
}

} // namespace
