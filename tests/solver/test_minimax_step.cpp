// One step of every method against hand-computed values and an independent reference of the
// formulas of ALGORITHM.md §2.1-§4; the closed form against many gradient steps; mini-batch
// guards, projection, averaging, adaptive steps and L2.
#include "core/error.hpp"
#include "core/rng.hpp"
#include "solver/minimax_solver.hpp"
#include "tests/support/fixtures.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace grpo;
using solver::Method;
using solver::MinimaxSolver;
using solver::SolverConfig;

/// K = 2, d = 1: group 0 has z = 1, group 1 has z = 2.
test::HostData two_points() {
  test::HostData d;
  d.dim = 1;
  d.offsets = {0, 1, 2};
  d.z = {1.0f, 2.0f};
  d.ref = {0.0f, 0.0f};
  return d;
}

SolverConfig config_for(Method m, double step_theta, double step_alpha, double beta) {
  SolverConfig c;
  c.method = m;
  c.step_theta = step_theta;
  c.step_alpha = step_alpha;
  c.beta = beta;
  c.iterations = 1;
  return c;
}

double one_step(Method m, double theta0, double step_alpha = 1.0) {
  const auto data = two_points();
  const auto split = test::whole_split(data);
  MinimaxSolver s(config_for(m, 0.1, step_alpha, 1.0), Communicator(), split, {theta0});
  s.step();
  return s.theta()[0];
}

TEST(MinimaxStep, HandComputedSteps) {
  // theta = 0, beta = 1. IPO (target 0.5): L = (0.25, 0.25), alpha stays uniform, group
  // gradients 2 (0 - 0.5) z = (-1, -2): GR step 0.1 * (0.5 + 1) = 0.15.
  EXPECT_NEAR(one_step(Method::GrIpo, 0.0), 0.15, 1e-15);
  // DPO: slope -sigma(0) = -0.5, gradients (-0.5, -1): GR step 0.1 * 0.75 = 0.075.
  EXPECT_NEAR(one_step(Method::GrDpo, 0.0), 0.075, 1e-15);
  // theta = 1, IPO: margins (1, 2), residuals (0.5, 1.5), L = (0.25, 2.25), eta_alpha = 1:
  // alpha = (1, e^2) / (1 + e^2) = (0.11920292202211755, 0.8807970779778823); gradients
  // (2 * 0.5 * 1, 2 * 1.5 * 2) = (1, 6): theta = 1 - 0.1 * (0.1192029 + 6 * 0.8807971).
  EXPECT_NEAR(one_step(Method::GrIpo, 1.0),
              1.0 - 0.1 * (0.11920292202211755 + 6 * 0.8807970779778823), 1e-14);
  // IS with 1/N_g weights = (0.5, 0.5), divided by |B| = 2: 1 - 0.1 * 0.25 * 7 = 0.825.
  EXPECT_NEAR(one_step(Method::IsIpo, 1.0), 0.825, 1e-15);
  // ERM: mean gradient (1 + 6) / 2: 1 - 0.35 = 0.65.
  EXPECT_NEAR(one_step(Method::Ipo, 1.0), 0.65, 1e-15);
}

struct Reference {
  std::vector<double> theta;
  std::vector<double> alpha;
};

/// Independent loop implementation of one full-batch code_batch step (§2.2, §4).
Reference reference_step(const test::HostData& d, const SolverConfig& c,
                         const std::vector<double>& theta, const std::vector<double>& alpha) {
  const int k = static_cast<int>(d.offsets.size()) - 1;
  const int dim = d.dim;
  const bool dpo = c.loss() == solver::LossType::Dpo;
  std::vector<double> loss(k, 0.0);
  std::vector<std::vector<double>> grad(k, std::vector<double>(dim, 0.0));
  for (int g = 0; g < k; ++g) {
    for (index_t i = d.offsets[g]; i < d.offsets[g + 1]; ++i) {
      double h = -d.ref[i];
      for (int j = 0; j < dim; ++j) {
        h += theta[j] * d.z[i * dim + j];
      }
      double l;
      double dl;
      if (dpo) {
        l = std::log1p(std::exp(-c.beta * h));
        dl = -c.beta / (1.0 + std::exp(c.beta * h));
      } else {
        l = (h - 0.5 / c.beta) * (h - 0.5 / c.beta);
        dl = 2.0 * (h - 0.5 / c.beta);
      }
      loss[g] += l;
      for (int j = 0; j < dim; ++j) {
        grad[g][j] += dl * d.z[i * dim + j];
      }
    }
  }
  const double n = static_cast<double>(d.offsets.back());
  Reference r{theta, alpha};
  const auto rule = c.weight_rule();
  if (rule == solver::WeightRule::Robust) {
    double z = 0.0;
    for (int g = 0; g < k; ++g) {
      const double ng = d.offsets[g + 1] - d.offsets[g];
      r.alpha[g] = alpha[g] * std::exp(c.step_alpha * c.chi * loss[g] / ng);
      z += r.alpha[g];
    }
    for (double& a : r.alpha) {
      a /= z;
    }
  }
  for (int g = 0; g < k; ++g) {
    const double ng = d.offsets[g + 1] - d.offsets[g];
    double coeff;
    if (rule == solver::WeightRule::Erm) {
      coeff = 1.0 / n;
    } else {
      const double w = (1.0 - c.chi) / k + c.chi * r.alpha[g];
      coeff = rule == solver::WeightRule::Robust ? w / ng : w / n;
    }
    for (int j = 0; j < dim; ++j) {
      r.theta[j] -= c.step_theta * coeff * grad[g][j];
    }
  }
  return r;
}

TEST(MinimaxStep, EveryMethodMatchesTheReferenceFormulas) {
  const auto data = test::random_data({7, 19, 11}, 3, 99, true);
  const auto split = test::whole_split(data);
  for (Method m :
       {Method::Dpo, Method::Ipo, Method::IsDpo, Method::IsIpo, Method::GrDpo, Method::GrIpo}) {
    for (double chi : {1.0, 0.4}) {
      auto c = config_for(m, 0.3, 0.7, 1.5);
      c.chi = chi;
      c.iterations = 5;
      std::vector<double> theta{0.2, -0.4, 0.9};
      MinimaxSolver s(c, Communicator(), split, theta);
      std::vector<double> alpha = s.alpha();
      for (int t = 0; t < 5; ++t) {
        const auto r = reference_step(data, c, theta, alpha);
        s.step();
        EXPECT_LT(test::max_rel_diff(s.theta(), r.theta), 1e-13)
            << solver::method_name(m) << " chi " << chi << " step " << t;
        EXPECT_LT(test::max_rel_diff(s.alpha(), r.alpha), 1e-13)
            << solver::method_name(m) << " chi " << chi << " step " << t;
        theta = r.theta;
        alpha = r.alpha;
      }
    }
  }
}

TEST(MinimaxStep, ClosedFormIpoEqualsTheLimitOfGradientSteps) {
  const auto data = test::random_data({30, 50}, 3, 7, true);
  const auto split = test::whole_split(data);
  // ERM IPO: plain least squares.
  auto cf = config_for(Method::Ipo, 0.0, 0.0, 0.5);
  cf.closed_form = true;
  MinimaxSolver exact(cf, Communicator(), split, {0.0, 0.0, 0.0});
  exact.step();
  auto gd = config_for(Method::Ipo, 0.2, 0.0, 0.5);
  gd.iterations = 20000;
  MinimaxSolver descent(gd, Communicator(), split, {0.0, 0.0, 0.0});
  for (int t = 0; t < 20000; ++t) {
    descent.step();
  }
  EXPECT_LT(test::max_rel_diff(descent.theta(), exact.theta()), 1e-9);
  EXPECT_LT(exact.singular_solves(), 1);

  // Frozen IS weights: the closed form with paper weights w_g / N_g minimises sum_g w_g L_g,
  // which is what group-normalised IS gradient steps converge to.
  auto cf_is = config_for(Method::IsIpo, 0.0, 0.0, 0.5);
  cf_is.closed_form = true;
  cf_is.is_weights = {0.3, 0.7};
  MinimaxSolver exact_is(cf_is, Communicator(), split, {0.0, 0.0, 0.0});
  exact_is.step();
  auto gd_is = cf_is;
  gd_is.closed_form = false;
  gd_is.step_theta = 0.2;
  gd_is.iterations = 20000;
  gd_is.is_normalization = solver::IsNormalization::Group;
  MinimaxSolver descent_is(gd_is, Communicator(), split, {0.0, 0.0, 0.0});
  for (int t = 0; t < 20000; ++t) {
    descent_is.step();
  }
  EXPECT_LT(test::max_rel_diff(descent_is.theta(), exact_is.theta()), 1e-9);
}

TEST(MinimaxStep, ClosedFormGroupLossesComeFromSufficientStatistics) {
  const auto data = test::random_data({5, 8}, 2, 3, true);
  const auto split = test::whole_split(data);
  auto c = config_for(Method::GrIpo, 0.0, 0.1, 2.0);
  c.closed_form = true;
  const std::vector<double> theta{0.3, -0.6};
  MinimaxSolver s(c, Communicator(), split, theta);
  const auto report = s.step();
  // batch_loss of a closed-form step is L_g at the pre-update theta (IPO target 1/(2*2)).
  for (int g = 0; g < 2; ++g) {
    double sum = 0.0;
    for (index_t i = data.offsets[g]; i < data.offsets[g + 1]; ++i) {
      const double h = theta[0] * data.z[2 * i] + theta[1] * data.z[2 * i + 1] - data.ref[i];
      sum += (h - 0.25) * (h - 0.25);
    }
    EXPECT_NEAR(report.batch_loss[g], sum / (data.offsets[g + 1] - data.offsets[g]), 1e-12);
  }
  EXPECT_LT(report.live_grad, 1e-10);
}

TEST(MinimaxStep, SingularClosedFormFallsBackToThePseudoInverse) {
  test::HostData d;
  d.dim = 2;
  d.offsets = {0, 2, 4};
  d.z = {1, 1, 2, 2, -1, -1, 3, 3}; // every z on the line (1, 1): rank 1
  d.ref = {0, 0, 0, 0};
  const auto split = test::whole_split(d);
  auto c = config_for(Method::GrIpo, 0.0, 0.1, 1.0);
  c.closed_form = true;
  MinimaxSolver s(c, Communicator(), split, {0.0, 0.0});
  const auto report = s.step();
  EXPECT_TRUE(report.singular);
  EXPECT_EQ(s.singular_solves(), 1);
  EXPECT_NEAR(s.theta()[0], s.theta()[1], 1e-12); // minimum-norm solution lies on (1, 1)
}

TEST(MinimaxStep, PaperSingleUsesImportanceWeightedSingleSamples) {
  const auto data = test::random_data({3, 9}, 2, 21);
  const auto split = test::whole_split(data);
  auto c = config_for(Method::GrDpo, 0.5, 0.2, 1.0);
  c.sampling = solver::Sampling::PaperSingle;
  c.seed = 1234;
  c.iterations = 3;
  std::vector<double> theta{0.1, 0.2};
  MinimaxSolver s(c, Communicator(), split, theta);
  std::vector<double> log_alpha{std::log(0.5), std::log(0.5)};
  const double n = 12.0;
  for (index_t t = 0; t < 3; ++t) {
    const index_t row = rng::to_index(
        rng::hash(c.seed, rng::kStreamBatchSlot, static_cast<std::uint64_t>(t), 0), 12);
    const int g = row < 3 ? 0 : 1;
    const double ng = g == 0 ? 3.0 : 9.0;
    const double h = theta[0] * data.z[2 * row] + theta[1] * data.z[2 * row + 1];
    const double loss = std::log1p(std::exp(-h));
    const double slope = -1.0 / (1.0 + std::exp(h));
    log_alpha[g] += c.step_alpha * (n / ng) * loss;
    const double norm = std::log(std::exp(log_alpha[0]) + std::exp(log_alpha[1]));
    log_alpha[0] -= norm;
    log_alpha[1] -= norm;
    const double alpha_g = std::exp(log_alpha[g]);
    for (int j = 0; j < 2; ++j) {
      theta[j] -= c.step_theta * (n / ng) * alpha_g * slope * data.z[2 * row + j];
    }
    s.step();
    EXPECT_LT(test::max_rel_diff(s.theta(), theta), 1e-13) << "step " << t;
    EXPECT_LT(test::max_rel_diff(s.log_alpha(), log_alpha), 1e-13) << "step " << t;
  }
}

TEST(MinimaxStep, MiniBatchesSkipAbsentGroupsInsteadOfDividingByZero) {
  const auto data = test::random_data({1, 40, 40}, 2, 5);
  const auto split = test::whole_split(data);
  for (auto mode : {solver::BatchMode::Uniform, solver::BatchMode::GroupWeighted}) {
    auto c = config_for(Method::GrDpo, 0.1, 0.1, 1.0);
    c.batch_size = 2;
    c.batch_mode = mode;
    c.iterations = 300;
    MinimaxSolver s(c, Communicator(), split, {0.0, 0.0});
    for (int t = 0; t < 300; ++t) {
      const auto report = s.step();
      for (double x : s.theta()) {
        ASSERT_TRUE(std::isfinite(x));
      }
      for (double a : s.alpha()) {
        ASSERT_TRUE(std::isfinite(a));
      }
      (void)report;
    }
    EXPECT_GT(s.empty_group_steps(), 0) << solver::batch_mode_name(mode);
    double sum = 0.0;
    for (double a : s.alpha()) {
      sum += a;
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
  }
}

TEST(MinimaxStep, ProjectionKeepsThetaInTheBall) {
  const auto data = test::random_data({10, 10}, 3, 8);
  const auto split = test::whole_split(data);
  auto c = config_for(Method::GrIpo, 0.5, 0.1, 0.05); // target 10 pushes theta outwards
  c.projection_radius = 0.75;
  c.iterations = 50;
  MinimaxSolver s(c, Communicator(), split, {0.0, 0.0, 0.0});
  for (int t = 0; t < 50; ++t) {
    s.step();
    double norm = 0.0;
    for (double x : s.theta()) {
      norm += x * x;
    }
    EXPECT_LE(std::sqrt(norm), 0.75 + 1e-12);
  }
}

TEST(MinimaxStep, AveragedIteratesAreRunningMeans) {
  const auto data = test::random_data({6, 9}, 2, 4);
  const auto split = test::whole_split(data);
  auto c = config_for(Method::GrDpo, 0.3, 0.3, 1.0);
  c.iterations = 25;
  MinimaxSolver s(c, Communicator(), split, {1.0, -1.0});
  std::vector<double> theta_sum(2, 0.0);
  std::vector<double> alpha_sum(2, 0.0);
  for (int t = 0; t < 25; ++t) {
    s.step();
    for (int j = 0; j < 2; ++j) {
      theta_sum[j] += s.theta()[j];
      alpha_sum[j] += s.alpha()[j];
    }
  }
  for (int j = 0; j < 2; ++j) {
    EXPECT_NEAR(s.theta_avg()[j], theta_sum[j] / 25, 1e-13);
    EXPECT_NEAR(s.alpha_avg()[j], alpha_sum[j] / 25, 1e-13);
  }
}

TEST(MinimaxStep, AdaptiveStepsUseTheAccumulatedUnweightedGradient) {
  const auto data = test::random_data({6, 9}, 2, 4);
  const auto split = test::whole_split(data);
  auto c = config_for(Method::GrDpo, 0.3, 0.2, 1.0);
  c.ada_coef = 0.8;
  c.exp_adaptive = 0.5;
  c.iterations = 10;
  MinimaxSolver s(c, Communicator(), split, {1.0, -1.0});
  double h = 0.0;
  for (int t = 0; t < 10; ++t) {
    const auto r = s.step();
    h += r.grad_norm * r.grad_norm;
    EXPECT_NEAR(r.step_theta, 0.8 / std::sqrt(h), 1e-14);
    EXPECT_NEAR(r.step_alpha, 0.2 * 0.5 / std::sqrt(h), 1e-14);
  }
  EXPECT_NEAR(s.adagrad_sum(), h, 1e-12);
}

TEST(MinimaxStep, ScheduleScalesTheStepsOfEveryUpdate) {
  // Each scheduled step equals the step of an unscheduled solver with eta_theta * factor(t)
  // (and eta_alpha * alpha_factor) started from the same state: the same bits.
  const auto data = test::random_data({6, 9}, 2, 4);
  const auto split = test::whole_split(data);
  auto c = config_for(Method::GrDpo, 0.3, 0.2, 1.0);
  c.iterations = 8;
  c.schedule.type = solver::LrScheduleType::Cosine;
  c.schedule.warmup = 3;
  c.schedule.min_factor = 0.2;
  MinimaxSolver s(c, Communicator(), split, {1.0, -1.0});
  for (int t = 0; t < 8; ++t) {
    auto plain = c;
    plain.schedule = {};
    plain.step_theta = c.step_theta * s.schedule().lr_factor(t);
    MinimaxSolver p(plain, Communicator(), split, {0.0, 0.0});
    p.restore(s.state());
    const auto r = s.step();
    p.step();
    EXPECT_EQ(r.step_theta, plain.step_theta) << "t = " << t;
    EXPECT_EQ(s.theta(), p.theta()) << "t = " << t;
    EXPECT_EQ(s.log_alpha(), p.log_alpha()) << "t = " << t;
  }
  EXPECT_EQ(s.schedule().lr_factor(0), 1.0 / 3.0);

  // Two plateau drops: eta_theta * 0.01 and, tied to it, eta_alpha * 0.25.
  auto q = config_for(Method::GrDpo, 0.3, 0.2, 1.0);
  q.iterations = 4;
  q.schedule.type = solver::LrScheduleType::Plateau;
  q.schedule.patience = 0;
  q.schedule.threshold = 0.0; // an equal loss is no improvement
  MinimaxSolver a(q, Communicator(), split, {1.0, -1.0});
  a.step();
  for (const double loss : {1.0, 1.0, 1.0}) {
    a.schedule().observe(loss);
  }
  ASSERT_EQ(a.schedule().drops(), 2);
  auto plain = q;
  plain.schedule = {};
  plain.step_theta = 0.3 * (0.1 * 0.1);
  plain.step_alpha = 0.2 * 0.25;
  MinimaxSolver b(plain, Communicator(), split, {0.0, 0.0});
  auto state = a.state();
  EXPECT_EQ(state.schedule.size(), 8U);
  state.schedule.clear(); // b has no schedule
  b.restore(state);
  const auto r = a.step();
  b.step();
  EXPECT_EQ(r.step_alpha, plain.step_alpha);
  EXPECT_EQ(a.theta(), b.theta());
  EXPECT_EQ(a.log_alpha(), b.log_alpha());
}

TEST(MinimaxStep, L2IsAddedOnceToTheGradient) {
  const auto data = two_points();
  const auto split = test::whole_split(data);
  auto c = config_for(Method::GrIpo, 0.1, 1.0, 1.0);
  c.l2 = 0.25;
  MinimaxSolver s(c, Communicator(), split, {1.0});
  s.step();
  // Hand-computed GR-IPO step at theta = 1 (see HandComputedSteps) plus 2 * 0.25 * 1 once.
  const double robust = 0.11920292202211755 + 6 * 0.8807970779778823;
  EXPECT_NEAR(s.theta()[0], 1.0 - 0.1 * (robust + 0.5), 1e-14);
}

TEST(MinimaxStep, InitialThetaIsUniformOnTheBox) {
  SolverConfig c;
  c.param_limit = 5.0;
  c.seed = 2021;
  const auto a = MinimaxSolver::initial_theta(c, 1000);
  double mean = 0.0;
  for (double x : a) {
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 5.0);
    mean += x / 1000;
  }
  EXPECT_NEAR(mean, 2.5, 0.25); // standard error 5 / sqrt(12 * 1000) = 0.046
  EXPECT_EQ(a, MinimaxSolver::initial_theta(c, 1000));
  c.seed = 2022;
  EXPECT_NE(a, MinimaxSolver::initial_theta(c, 1000));
}

TEST(MinimaxStep, InvalidConfigurationsNameTheField) {
  // The configuration's field (grpo train names the option: tests/apps/test_option_names.cpp).
  const auto data = two_points();
  const auto split = test::whole_split(data);
  auto expect_config_error = [&](SolverConfig c, const std::string& field) {
    try {
      MinimaxSolver s(c, Communicator(), split, {0.0});
      ADD_FAILURE() << "no error for " << field;
    } catch (const ConfigFieldError& e) {
      EXPECT_EQ(e.field(), field) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(field + ": ", 0), 0U) << e.what();
    }
  };
  auto base = config_for(Method::GrDpo, 0.1, 0.1, 1.0);
  auto c = base;
  c.beta = 0.0;
  expect_config_error(c, "beta");
  c = base;
  c.chi = 1.5;
  expect_config_error(c, "chi");
  c = base;
  c.step_theta = -1;
  expect_config_error(c, "step_theta");
  c = base;
  c.step_alpha = -1;
  expect_config_error(c, "step_alpha");
  c = base;
  c.batch_size = 3;
  expect_config_error(c, "batch_size");
  c = base;
  c.closed_form = true;
  expect_config_error(c, "closed_form");
  c = base;
  c.adj = {1, 2, 3};
  expect_config_error(c, "adj");
  try {
    MinimaxSolver s(base, Communicator(), split, {0.0, 1.0});
    ADD_FAILURE() << "no error for a theta-init of the wrong length";
  } catch (const ConfigFieldError& e) {
    EXPECT_EQ(e.field(), "theta_init") << e.what();
    EXPECT_NE(std::string(e.what()).find("2 values given"), std::string::npos) << e.what();
  }
}

TEST(MinimaxStep, DivergenceStopsWithANumericalError) {
  const auto data = two_points();
  const auto split = test::whole_split(data);
  auto c = config_for(Method::Ipo, 1e200, 0.0, 1.0);
  c.iterations = 10;
  MinimaxSolver s(c, Communicator(), split, {1.0});
  EXPECT_THROW(
      {
        for (int t = 0; t < 10; ++t) {
          s.step();
        }
      },
      NumericalError);
}

} // namespace
