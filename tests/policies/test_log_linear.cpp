#include "policies/log_linear_policy.hpp"
#include "solver/loss_kernels.hpp"
#include "solver/losses.hpp"
#include "tests/support/fixtures.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace grpo;

void set_params(const policies::LogLinearPolicy& p, const std::vector<double>& theta) {
  auto h = Kokkos::create_mirror_view(p.params());
  for (std::size_t j = 0; j < theta.size(); ++j) {
    h(j) = theta[j];
  }
  Kokkos::deep_copy(p.params(), h);
}

/// Host reference: sum over the rows of one group of loss(theta^T z_i - ref_i), in double.
template <class Loss>
double host_group_loss(const test::HostData& d, int g, const std::vector<double>& theta,
                       const Loss& loss) {
  double sum = 0.0;
  for (index_t i = d.offsets[g]; i < d.offsets[g + 1]; ++i) {
    double h = -static_cast<double>(d.ref[i]);
    for (int j = 0; j < d.dim; ++j) {
      h += theta[j] * static_cast<double>(d.z[i * d.dim + j]);
    }
    double v = 0.0;
    double s = 0.0;
    loss(h, v, s);
    sum += v;
  }
  return sum;
}

TEST(LogLinear, MarginsMatchAHostDotProduct) {
  const auto data = test::random_data({5, 7}, 3, 11, true);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy policy(3);
  const std::vector<double> theta{0.3, -1.2, 2.0};
  set_params(policy, theta);
  View1<double> out("margins", split.local_rows());
  policy.compute_margins(ExecSpace(), split, out);
  auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), out);
  for (index_t i = 0; i < data.rows(); ++i) {
    double expected = -static_cast<double>(data.ref[i]);
    for (int j = 0; j < 3; ++j) {
      expected += theta[j] * static_cast<double>(data.z[i * 3 + j]);
    }
    EXPECT_NEAR(h(i), expected, 1e-14);
  }
}

TEST(LogLinear, FusedLossGradientMatchesFiniteDifferences) {
  const int dim = 4;
  const auto data = test::random_data({9, 13}, dim, 5, true);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy policy(dim);
  const std::vector<double> theta{0.5, -0.25, 1.5, 0.75};
  set_params(policy, theta);
  for (auto type : {solver::LossType::Dpo, solver::LossType::Ipo}) {
    for (double beta : {0.5, 2.0}) {
      solver::with_loss(type, beta, [&](auto loss) {
        for (const auto& piece : split.pieces) {
          std::vector<double> sums(dim + 1);
          solver::reduce_loss_gradient(ExecSpace(), "test", policy.margins(split), loss,
                                       solver::ContiguousRows{piece.local_begin}, piece.size(), dim,
                                       true, sums.data());
          EXPECT_NEAR(sums[0], host_group_loss(data, piece.group, theta, loss), 1e-12);
          const double eps = 1e-6;
          for (int j = 0; j < dim; ++j) {
            auto plus = theta;
            auto minus = theta;
            plus[j] += eps;
            minus[j] -= eps;
            const double fd = (host_group_loss(data, piece.group, plus, loss) -
                               host_group_loss(data, piece.group, minus, loss)) /
                              (2 * eps);
            EXPECT_NEAR(sums[1 + j], fd, 1e-6 * std::max(1.0, std::abs(fd)))
                << solver::loss_name(type) << " beta " << beta << " group " << piece.group << " j "
                << j;
          }
        }
      });
    }
  }
}

TEST(LogLinear, AccumulateGradientAddsCoefficientWeightedFeatures) {
  const auto data = test::random_data({4, 6}, 2, 3);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy policy(2);
  View1<double> coeff("coeff", split.local_rows());
  View1<double> grad("grad", 2);
  Kokkos::deep_copy(coeff, 0.5);
  Kokkos::deep_copy(grad, 1.0);
  policy.accumulate_gradient(ExecSpace(), split, coeff, grad);
  auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), grad);
  for (int j = 0; j < 2; ++j) {
    double expected = 1.0;
    for (index_t i = 0; i < data.rows(); ++i) {
      expected += 0.5 * static_cast<double>(data.z[i * 2 + j]);
    }
    EXPECT_NEAR(h(j), expected, 1e-12);
  }
}

} // namespace
