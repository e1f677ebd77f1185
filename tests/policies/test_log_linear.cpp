#include "policies/log_linear_policy.hpp"
#include "solver/fused_kernel.hpp"
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

/// The kernels' evaluator's margin of every local row (a free function: nvcc rejects a
/// KOKKOS_LAMBDA in a test body, a private member function).
View1<double> evaluator_margins(const policies::LogLinearPolicy& policy,
                                const policies::PreferenceSplit& split) {
  const auto eval = policy.evaluator(split);
  View1<double> out("with_ref", split.local_rows());
  Kokkos::parallel_for(
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(0, split.local_rows()),
      KOKKOS_LAMBDA(const index_t i) { out(i) = eval.margin(i); });
  return out;
}

TEST(LogLinear, MarginsMatchAHostDotProduct) {
  const auto data = test::random_data({5, 7}, 3, 11, true);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy policy(3);
  const std::vector<double> theta{0.3, -1.2, 2.0};
  set_params(policy, theta);
  auto ws = policy.workspace(split.local_rows());
  // The policy's margin (no reference), over every row and over an index with repeats.
  const std::vector<index_t> picked{11, 0, 4, 4, 7};
  View1<index_t> index("index", picked.size());
  Kokkos::deep_copy(
      index, Kokkos::View<const index_t*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                 picked.data(), picked.size()));
  for (const bool indexed : {false, true}) {
    const auto rows = indexed ? policies::RowSelection::rows(index)
                              : policies::RowSelection::range(0, split.local_rows());
    View1<double> out("margins", rows.count);
    policy.margins(ExecSpace(), ws, split, rows, out);
    auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), out);
    for (index_t k = 0; k < rows.count; ++k) {
      const index_t i = indexed ? picked[k] : k;
      double expected = 0.0;
      for (int j = 0; j < 3; ++j) {
        expected += theta[j] * static_cast<double>(data.z[i * 3 + j]);
      }
      EXPECT_NEAR(h(k), expected, 1e-14);
    }
  }
  // The evaluator of the kernels subtracts the reference.
  auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), evaluator_margins(policy, split));
  for (index_t i = 0; i < data.rows(); ++i) {
    double expected = -static_cast<double>(data.ref[i]);
    for (int j = 0; j < 3; ++j) {
      expected += theta[j] * static_cast<double>(data.z[i * 3 + j]);
    }
    EXPECT_NEAR(h(i), expected, 1e-14);
  }
}

// Every code path of the fused kernel: a dimension without a compiled variant (3), compiled
// scalar ones (4), and the host vector kernel (8, 16, 32); group sizes with short tails.
class FusedKernel : public ::testing::TestWithParam<int> {};

TEST_P(FusedKernel, LossAndGradientSumsMatchFiniteDifferences) {
  const int dim = GetParam();
  const auto data = test::random_data({9, 70, 33}, dim, 5, true);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy policy(dim);
  std::vector<double> theta(dim);
  for (int j = 0; j < dim; ++j) {
    theta[j] = 0.5 - 0.11 * j + 0.07 * (j % 3);
  }
  set_params(policy, theta);
  for (auto type : {solver::LossType::Dpo, solver::LossType::Ipo}) {
    for (double beta : {0.5, 2.0}) {
      solver::FusedLossGradient fused;
      const auto piece_sums = fused.full(policy, split, type, beta, true);
      solver::with_loss(type, beta, [&](auto loss) {
        for (std::size_t p = 0; p < split.pieces.size(); ++p) {
          const int g = split.pieces[p].group;
          const double value = host_group_loss(data, g, theta, loss);
          EXPECT_NEAR(piece_sums(p, 0), value, 1e-12 * std::max(1.0, std::abs(value)));
          const double eps = 1e-6;
          for (int j = 0; j < dim; ++j) {
            auto plus = theta;
            auto minus = theta;
            plus[j] += eps;
            minus[j] -= eps;
            const double fd =
                (host_group_loss(data, g, plus, loss) - host_group_loss(data, g, minus, loss)) /
                (2 * eps);
            EXPECT_NEAR(piece_sums(p, 1 + j), fd, 1e-6 * std::max(1.0, std::abs(fd)))
                << solver::loss_name(type) << " beta " << beta << " group " << g << " j " << j;
          }
        }
      });
      // Loss only: the same loss sums.
      const auto loss_only = fused.full(policy, split, type, beta, false);
      for (std::size_t p = 0; p < split.pieces.size(); ++p) {
        EXPECT_EQ(loss_only(p, 0), piece_sums(p, 0));
      }
    }
  }
}

TEST_P(FusedKernel, BatchSumsCountDuplicatedRows) {
  const int dim = GetParam();
  const auto data = test::random_data({40, 50}, dim, 9, true);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy policy(dim);
  std::vector<double> theta(dim, 0.25);
  set_params(policy, theta);
  // Sorted rows with repeats; piece 0 (rows 0..39) gets 5 entries, piece 1 gets 4.
  const std::vector<index_t> rows{0, 3, 3, 17, 39, 40, 41, 41, 89};
  View1<index_t> device_rows("rows", rows.size());
  auto host_rows = Kokkos::create_mirror_view(device_rows);
  std::copy(rows.begin(), rows.end(), host_rows.data());
  Kokkos::deep_copy(device_rows, host_rows);
  solver::FusedLossGradient fused;
  const auto sums = fused.batch(policy, split, solver::LossType::Dpo, 1.0, device_rows, {0, 5, 9});
  const auto loss = solver::make_dpo(1.0);
  for (int p = 0; p < 2; ++p) {
    std::vector<double> expected(dim + 1, 0.0);
    for (std::size_t k = p == 0 ? 0 : 5; k < (p == 0 ? 5u : 9u); ++k) {
      const index_t i = rows[k];
      double h = -static_cast<double>(data.ref[i]);
      for (int j = 0; j < dim; ++j) {
        h += theta[j] * data.z[i * dim + j];
      }
      double v = 0.0;
      double sl = 0.0;
      loss(h, v, sl);
      expected[0] += v;
      for (int j = 0; j < dim; ++j) {
        expected[1 + j] += sl * data.z[i * dim + j];
      }
    }
    for (int j = 0; j <= dim; ++j) {
      EXPECT_NEAR(sums(p, j), expected[j], 1e-13 * std::max(1.0, std::abs(expected[j])))
          << "piece " << p << " column " << j;
    }
  }
}

// Margins from -300 to 300 and beyond -708 / beta: every regime of the DPO loss's exp and log1p
// (in every kernel path, the host's AVX-512 one included) against libm, per piece.
TEST_P(FusedKernel, DpoAtExtremeMarginsMatchesLibm) {
  const int dim = GetParam();
  const auto data = test::random_data({9, 70, 33}, dim, 21, true);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy policy(dim);
  std::vector<double> theta(dim);
  for (int j = 0; j < dim; ++j) {
    theta[j] = 90.0 * (0.5 - 0.37 * (j % 3)) / std::sqrt(static_cast<double>(dim));
  }
  set_params(policy, theta);
  for (double beta : {0.1, 1.0, 20.0}) {
    solver::FusedLossGradient fused;
    const auto sums = fused.full(policy, split, solver::LossType::Dpo, beta, true);
    double widest = 0.0;
    for (std::size_t p = 0; p < split.pieces.size(); ++p) {
      const int g = split.pieces[p].group;
      double loss = 0.0;
      std::vector<double> grad(dim, 0.0);
      std::vector<double> scale(dim, 0.0);
      for (index_t i = data.offsets[g]; i < data.offsets[g + 1]; ++i) {
        double h = -static_cast<double>(data.ref[i]);
        for (int j = 0; j < dim; ++j) {
          h += theta[j] * static_cast<double>(data.z[i * dim + j]);
        }
        const double x = beta * h;
        widest = std::max(widest, std::abs(x));
        // -log sigma(x) and -beta sigma(-x) in libm, both without overflow.
        loss += x < 0.0 ? -x + std::log1p(std::exp(x)) : std::log1p(std::exp(-x));
        const double slope =
            x < 0.0 ? -beta / (1.0 + std::exp(x)) : -beta * std::exp(-x) / (1.0 + std::exp(-x));
        for (int j = 0; j < dim; ++j) {
          grad[j] += slope * static_cast<double>(data.z[i * dim + j]);
          scale[j] += std::abs(slope * static_cast<double>(data.z[i * dim + j]));
        }
      }
      EXPECT_NEAR(sums(p, 0), loss, 1e-13 * loss) << "beta " << beta << " group " << g;
      for (int j = 0; j < dim; ++j) {
        EXPECT_NEAR(sums(p, 1 + j), grad[j], 1e-13 * scale[j] + 1e-300)
            << "beta " << beta << " group " << g << " j " << j;
      }
    }
    if (beta == 20.0) {
      EXPECT_GT(widest, 708.0); // the exp's clamp is exercised
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dimensions, FusedKernel, ::testing::Values(3, 4, 8, 16, 32));

TEST(LogLinear, AccumulateGradientAddsCoefficientWeightedFeatures) {
  const auto data = test::random_data({4, 6}, 2, 3);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy policy(2);
  View1<double> coeff("coeff", split.local_rows());
  View1<double> grad("grad", 2);
  Kokkos::deep_copy(coeff, 0.5);
  Kokkos::deep_copy(grad, 1.0);
  auto ws = policy.workspace(split.local_rows());
  policy.accumulate_gradient(ExecSpace(), ws, split,
                             policies::RowSelection::range(0, split.local_rows()), coeff, grad);
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
