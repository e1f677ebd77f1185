// The certified duality gap: derivatives of the inner problem against finite differences, the
// inner minimum against independent solutions (normal equations for IPO, long projected
// gradient descent on the ball), the bound ordering lower <= F(theta, alpha) <= upper for random
// pairs, and a gap that shrinks along a robust run.
#include "solver/certificate.hpp"
#include "solver/metrics.hpp"
#include "solver/minimax_solver.hpp"
#include "solver/trainer.hpp"
#include "tests/support/fixtures.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace {

using namespace grpo;

using test::self_communicator;

std::vector<index_t> sizes_of(const test::HostData& d) {
  std::vector<index_t> s;
  for (std::size_t g = 0; g + 1 < d.offsets.size(); ++g) {
    s.push_back(d.offsets[g + 1] - d.offsets[g]);
  }
  return s;
}

/// F(theta) = sum_g v_g sum_{i in g} l(theta^T z_i - ref_i) + c ||theta||^2, plain loops.
double reference_value(const test::HostData& d, solver::LossType loss, double beta,
                       const std::vector<double>& v, double c, const std::vector<double>& theta) {
  double f = 0.0;
  for (std::size_t g = 0; g + 1 < d.offsets.size(); ++g) {
    for (index_t i = d.offsets[g]; i < d.offsets[g + 1]; ++i) {
      double h = -static_cast<double>(d.ref[static_cast<std::size_t>(i)]);
      for (int j = 0; j < d.dim; ++j) {
        h += theta[static_cast<std::size_t>(j)] *
             static_cast<double>(d.z[static_cast<std::size_t>(i * d.dim + j)]);
      }
      const double l = loss == solver::LossType::Dpo ? std::log1p(std::exp(-beta * h))
                                                     : (h - 0.5 / beta) * (h - 0.5 / beta);
      f += v[g] * l;
    }
  }
  for (double x : theta) {
    f += c * x * x;
  }
  return f;
}

class CertificateTest : public ::testing::TestWithParam<solver::LossType> {};

TEST_P(CertificateTest, DerivativesMatchFiniteDifferences) {
  const auto loss = GetParam();
  const auto data = test::random_data({13, 29, 8}, 3, 5, true);
  const auto split = test::whole_split(data);
  solver::SolverConfig config;
  config.method = loss == solver::LossType::Dpo ? solver::Method::GrDpo : solver::Method::GrIpo;
  config.beta = 0.7;
  solver::DualityGap gap(config, self_communicator(), split, sizes_of(data));
  const std::vector<double> v{0.05, 0.01, 0.2};
  const double c = 0.3;
  const std::vector<double> theta{0.4, -1.1, 0.8};
  const auto at = gap.derivatives(theta, v, c);
  EXPECT_NEAR(at.value, reference_value(data, loss, config.beta, v, c, theta),
              1e-12 * std::abs(at.value));
  const double eps = 1e-5;
  for (int j = 0; j < 3; ++j) {
    auto plus = theta;
    auto minus = theta;
    plus[j] += eps;
    minus[j] -= eps;
    const auto fp = gap.derivatives(plus, v, c);
    const auto fm = gap.derivatives(minus, v, c);
    EXPECT_NEAR(at.gradient[j], (fp.value - fm.value) / (2 * eps), 1e-7) << "gradient " << j;
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(at.hessian[j * 3 + k], (fp.gradient[k] - fm.gradient[k]) / (2 * eps), 1e-7)
          << "hessian " << j << "," << k;
    }
  }
}

TEST_P(CertificateTest, BoundsBracketTheObjectiveAtRandomPairs) {
  const auto loss = GetParam();
  const auto data = test::random_data({40, 17, 25, 9}, 4, 11, true);
  const auto split = test::whole_split(data);
  for (double chi : {1.0, 0.4}) {
    for (double l2 : {0.0, 0.05}) {
      solver::SolverConfig config;
      config.method = loss == solver::LossType::Dpo ? solver::Method::GrDpo : solver::Method::GrIpo;
      config.chi = chi;
      config.l2 = l2;
      solver::DualityGap gap(config, self_communicator(), split, sizes_of(data));
      for (std::uint64_t trial = 0; trial < 5; ++trial) {
        std::vector<double> theta(4);
        std::vector<double> alpha(4);
        double sum = 0.0;
        for (int j = 0; j < 4; ++j) {
          theta[j] = 3.0 * rng::to_unit(rng::hash(trial, 7, j)) - 1.5;
          alpha[j] = rng::to_unit(rng::hash(trial, 8, j)) + 0.01;
          sum += alpha[j];
        }
        for (double& a : alpha) {
          a /= sum;
        }
        const auto cert = gap.evaluate(theta, alpha);
        double at = 0.0;
        double worst = -INFINITY;
        double mean = 0.0;
        for (int g = 0; g < 4; ++g) {
          at += ((1 - chi) / 4 + chi * alpha[g]) * cert.losses[g];
          worst = std::max(worst, cert.losses[g]);
          mean += cert.losses[g] / 4;
        }
        double norm2 = 0.0;
        for (double x : theta) {
          norm2 += x * x;
        }
        at += l2 * norm2;
        EXPECT_NEAR(cert.upper, (1 - chi) * mean + chi * worst + l2 * norm2, 1e-12);
        EXPECT_LE(cert.lower, at + 1e-12);
        EXPECT_GE(cert.gap, -1e-9);
        EXPECT_NEAR(cert.gap, cert.upper - cert.lower, 1e-15);
        EXPECT_LT(cert.residual, 1e-10);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Losses, CertificateTest,
                         ::testing::Values(solver::LossType::Dpo, solver::LossType::Ipo),
                         [](const auto& test_info) {
                           return std::string(solver::loss_name(test_info.param));
                         });

TEST(Certificate, IpoLowerBoundIsTheNormalEquationsMinimum) {
  // IPO is quadratic: min_theta sum_g v_g sum_i (z_i^T theta - t_i)^2 solves
  // (sum v_g z z^T) theta = sum v_g z t, t_i = 1/(2 beta) + ref_i.
  const auto data = test::random_data({30, 12, 21}, 3, 3, true);
  const auto split = test::whole_split(data);
  solver::SolverConfig config;
  config.method = solver::Method::GrIpo;
  config.beta = 0.25;
  solver::DualityGap gap(config, self_communicator(), split, sizes_of(data));
  const std::vector<double> alpha{0.2, 0.5, 0.3};
  const std::vector<double> theta{0.1, 0.2, 0.3};
  const auto cert = gap.evaluate(theta, alpha);

  const auto sizes = sizes_of(data);
  solver::dense::Matrix a(9, 0.0);
  std::vector<double> b(3, 0.0);
  std::vector<double> v(3);
  for (int g = 0; g < 3; ++g) {
    v[g] = alpha[g] / static_cast<double>(sizes[g]);
    for (index_t i = data.offsets[g]; i < data.offsets[g + 1]; ++i) {
      const double t = 0.5 / config.beta + data.ref[i];
      for (int j = 0; j < 3; ++j) {
        b[j] += v[g] * data.z[i * 3 + j] * t;
        for (int k = 0; k < 3; ++k) {
          a[j * 3 + k] += v[g] * data.z[i * 3 + j] * data.z[i * 3 + k];
        }
      }
    }
  }
  std::vector<double> best(3);
  ASSERT_TRUE(solver::dense::cholesky_solve(a, b, 3, best));
  const double want = reference_value(data, solver::LossType::Ipo, config.beta, v, 0.0, best);
  EXPECT_NEAR(cert.lower, want, 1e-12 * want);
}

TEST(Certificate, BallConstrainedLowerBoundMatchesProjectedGradientDescent) {
  const auto data = test::random_data({35, 20}, 2, 17, false);
  const auto split = test::whole_split(data);
  const auto sizes = sizes_of(data);
  for (double radius : {0.3, 1.0, 100.0}) {
    solver::SolverConfig config;
    config.method = solver::Method::GrDpo;
    config.beta = 2.0;
    config.projection_radius = radius;
    solver::DualityGap gap(config, self_communicator(), split, sizes);
    const std::vector<double> alpha{0.7, 0.3};
    const std::vector<double> theta{0.2 * radius / 1.5, 0.1 * radius / 1.5};
    const auto cert = gap.evaluate(theta, alpha);
    // Independent: projected gradient descent with a tiny step, many iterations.
    const std::vector<double> v{alpha[0] / sizes[0], alpha[1] / sizes[1]};
    std::vector<double> x{0.0, 0.0};
    for (int it = 0; it < 20000; ++it) {
      const auto d = gap.derivatives(x, v, 0.0);
      for (int j = 0; j < 2; ++j) {
        x[j] -= 0.2 * d.gradient[j];
      }
      const double n = std::hypot(x[0], x[1]);
      if (n > radius) {
        x[0] *= radius / n;
        x[1] *= radius / n;
      }
    }
    const double want = reference_value(data, solver::LossType::Dpo, config.beta, v, 0.0, x);
    EXPECT_LE(cert.lower, want + 1e-12) << "radius " << radius;
    EXPECT_NEAR(cert.lower, want, 1e-9) << "radius " << radius;
  }
}

TEST(Certificate, GapOfTheAveragedIteratesShrinksAlongARobustRun) {
  const auto data = test::random_data({50, 150, 80}, 3, 23, true);
  const auto split = test::whole_split(data);
  for (auto method : {solver::Method::GrDpo, solver::Method::GrIpo}) {
    solver::SolverConfig config;
    config.method = method;
    config.beta = method == solver::Method::GrDpo ? 1.0 : 0.5;
    config.step_theta = 0.1;
    config.step_alpha = 0.5;
    config.iterations = 4000;
    solver::MinimaxSolver s(config, self_communicator(), split, {0.5, -0.5, 0.2});
    std::vector<TraceRecord> records;
    solver::TraceOptions trace;
    trace.every = 400;
    trace.gap = true;
    solver::train(s, {&split, nullptr, nullptr}, trace,
                  [&](const TraceRecord& r) { records.push_back(r); });
    ASSERT_EQ(records.size(), 11u);
    for (const auto& r : records) {
      ASSERT_TRUE(r.has_gap);
      EXPECT_GE(r.gap_avg.gap, -1e-9) << "iteration " << r.iteration;
      EXPECT_GE(r.gap_last.gap, -1e-9) << "iteration " << r.iteration;
    }
    EXPECT_LT(records.back().gap_avg.gap, 0.25 * records[1].gap_avg.gap)
        << solver::method_name(method) << ": " << records[1].gap_avg.gap << " -> "
        << records.back().gap_avg.gap;
  }
}

} // namespace
