// Optimisers against PyTorch's update formulas: hand-checked first steps and three-step golden
// values from tests/solver/optimizer_reference.py (plain-Python IEEE doubles), bias correction,
// weight decay (L2 and decoupled), gradient clipping, state export/import, parsing.
#include "core/error.hpp"
#include "solver/optimizer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using namespace grpo;
using solver::Optimizer;
using solver::OptimizerConfig;
using solver::OptimizerType;

const ExecSpace kSpace;

const std::vector<double> kTheta0{1.0, -2.0, 0.5};
const std::vector<std::vector<double>> kGrads{{0.5, -1.0, 0.0}, {0.1, 0.3, -0.2}, {-0.4, 0.2, 1.5}};

View1<double> device(const std::vector<double>& host) {
  View1<double> v("v", host.size());
  auto h = Kokkos::create_mirror_view(v);
  for (std::size_t i = 0; i < host.size(); ++i) {
    h(i) = host[i];
  }
  Kokkos::deep_copy(v, h);
  return v;
}

std::vector<double> host(const View1<double>& v) {
  auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), v);
  return std::vector<double>(h.data(), h.data() + h.extent(0));
}

/// Runs `steps` updates from kTheta0 with kGrads and returns theta.
std::vector<double> run(Optimizer& opt, int steps = 3) {
  const auto theta = device(kTheta0);
  for (int t = 0; t < steps; ++t) {
    opt.step(kSpace, theta, device(kGrads[t]));
  }
  return host(theta);
}

void expect_close(const std::vector<double>& got, const std::vector<double>& expected,
                  double tol = 1e-15) {
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], tol * std::max(1.0, std::abs(expected[i]))) << "entry " << i;
  }
}

OptimizerConfig config(OptimizerType type, double lr, double weight_decay) {
  auto c = OptimizerConfig::defaults(type);
  c.lr = lr;
  c.weight_decay = weight_decay;
  return c;
}

TEST(Optimizer, ParsingAndDefaults) {
  for (auto t :
       {OptimizerType::Sgd, OptimizerType::Adam, OptimizerType::AdamW, OptimizerType::RmsProp}) {
    EXPECT_EQ(solver::parse_optimizer(solver::optimizer_name(t)), t);
  }
  EXPECT_THROW(solver::parse_optimizer("adagrad"), ConfigError);
  const auto adamw = OptimizerConfig::defaults(OptimizerType::AdamW);
  EXPECT_EQ(adamw.lr, 1e-3);
  EXPECT_EQ(adamw.beta1, 0.9);
  EXPECT_EQ(adamw.beta2, 0.999);
  EXPECT_EQ(adamw.eps, 1e-8);
  EXPECT_EQ(adamw.weight_decay, 1e-2);
  EXPECT_EQ(OptimizerConfig::defaults(OptimizerType::Adam).weight_decay, 0.0);
  EXPECT_EQ(OptimizerConfig::defaults(OptimizerType::RmsProp).beta2, 0.99);
  auto bad = adamw;
  bad.beta2 = 1.0;
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = adamw;
  bad.lr = -1.0;
  EXPECT_THROW(Optimizer(bad, 3), ConfigError);
  bad = adamw;
  bad.eps = 0.0;
  EXPECT_THROW(bad.validate(), ConfigError);
}

TEST(Optimizer, SgdMatchesHandComputedSteps) {
  // One step by hand: g = (0.5, -1, 0) + 0.1 theta = (0.6, -1.2, 0.05); theta -= 0.1 g.
  Optimizer one(config(OptimizerType::Sgd, 0.1, 0.1), 3);
  expect_close(run(one, 1), {0.94, -1.88, 0.495});
  Optimizer three(config(OptimizerType::Sgd, 0.1, 0.1), 3);
  expect_close(run(three), {0.95139399999999996, -1.892288, 0.35494950000000003});
  // Momentum 0.9: buffers g1, 0.9 g1 + g2, 0.9 (0.9 g1 + g2) + g3.
  auto c = config(OptimizerType::Sgd, 0.1, 0.0);
  c.momentum = 0.9;
  Optimizer momentum(c, 3);
  expect_close(run(momentum), {0.88549999999999995, -1.8059999999999998, 0.38800000000000001});
  EXPECT_EQ(momentum.steps(), 3);
}

TEST(Optimizer, AdamMatchesHandComputedSteps) {
  // Step 1: m = 0.1 g, v = 0.001 g^2, bias corrections 0.1 and 0.001, so the step is
  // lr g / (|g| + eps) with g = grad + 0.05 theta = (0.55, -1.1, 0.025).
  Optimizer one(config(OptimizerType::Adam, 0.1, 0.05), 3);
  const std::vector<double> g{0.55, -1.1, 0.025};
  std::vector<double> expected(3);
  for (int i = 0; i < 3; ++i) {
    const double m = (1.0 - 0.9) * g[i];
    const double v = (1.0 - 0.999) * g[i] * g[i];
    expected[i] =
        kTheta0[i] - (0.1 / (1.0 - 0.9)) * (m / (std::sqrt(v) / std::sqrt(1.0 - 0.999) + 1e-8));
  }
  const auto got = run(one, 1);
  expect_close(got, expected);
  expect_close(got, {0.9, -1.9, 0.4}, 1e-7);
  // Three steps, with the moments.
  Optimizer three(config(OptimizerType::Adam, 0.1, 0.05), 3);
  expect_close(run(three), {0.79562838599981767, -1.8137019962051155, 0.4069644983522156});
  const auto state = three.export_state();
  ASSERT_EQ(state.size(), 3u + 6u);
  EXPECT_EQ(state[2], 3.0);
  expect_close({state.begin() + 3, state.begin() + 6},
               {0.021681156332970464, -0.059888846472139184, 0.13814746793179919});
  expect_close({state.begin() + 6, state.end()},
               {0.00045191561062276481, 0.0012611444275152075, 0.0023532047681055152});
}

TEST(Optimizer, AdamWDecaysTheWeightsDecoupled) {
  // Step 1: theta (1 - lr wd) - lr g / (|g| + eps), g the raw gradient.
  Optimizer one(config(OptimizerType::AdamW, 0.1, 0.01), 3);
  const auto got = run(one, 1);
  expect_close(got, {1.0 * 0.999 - 0.1 * (0.5 / (0.5 + 1e-8)),
                     -2.0 * 0.999 + 0.1 * (1.0 / (1.0 + 1e-8)), 0.5 * 0.999});
  Optimizer three(config(OptimizerType::AdamW, 0.1, 0.01), 3);
  expect_close(run(three), {0.80760916944982897, -1.8310127735702886, 0.51711780894184833});
}

TEST(Optimizer, RmsPropMatchesHandComputedSteps) {
  auto c = config(OptimizerType::RmsProp, 0.01, 0.02);
  Optimizer three(c, 3);
  expect_close(run(three), {0.93642400737569997, -1.9395786152951302, 0.40065986911061668});
}

TEST(Optimizer, ExportImportContinuesExactly) {
  for (auto type :
       {OptimizerType::Sgd, OptimizerType::Adam, OptimizerType::AdamW, OptimizerType::RmsProp}) {
    auto c = config(type, 0.05, 0.01);
    c.momentum = type == OptimizerType::Sgd ? 0.5 : 0.0;
    Optimizer straight(c, 3);
    const auto reference = run(straight);
    // Two steps, a checkpoint, a fresh optimiser restored from it, the third step.
    Optimizer first(c, 3);
    const auto theta = device(kTheta0);
    first.step(kSpace, theta, device(kGrads[0]));
    first.step(kSpace, theta, device(kGrads[1]));
    Optimizer resumed(c, 3);
    resumed.import_state(first.export_state());
    EXPECT_EQ(resumed.steps(), 2);
    resumed.step(kSpace, theta, device(kGrads[2]));
    EXPECT_EQ(host(theta), reference) << solver::optimizer_name(type);
    // Wrong type, size or length.
    Optimizer other(
        config(type == OptimizerType::Adam ? OptimizerType::AdamW : OptimizerType::Adam, 0.1, 0.0),
        3);
    EXPECT_THROW(other.import_state(first.export_state()), DataError);
    Optimizer bigger(c, 4);
    EXPECT_THROW(bigger.import_state(first.export_state()), DataError);
    auto truncated = first.export_state();
    truncated.pop_back();
    if (!truncated.empty() && truncated.size() >= 3) {
      EXPECT_THROW(resumed.import_state(truncated), DataError);
    }
    resumed.reset();
    EXPECT_EQ(resumed.steps(), 0);
  }
}

TEST(Optimizer, SetLrChangesOnlyTheStepSize) {
  Optimizer a(config(OptimizerType::Sgd, 0.1, 0.0), 3);
  a.set_lr(0.2);
  EXPECT_EQ(a.lr(), 0.2);
  expect_close(run(a, 1), {1.0 - 0.2 * 0.5, -2.0 + 0.2 * 1.0, 0.5});
  EXPECT_THROW(a.set_lr(-1.0), ConfigError);
}

TEST(Optimizer, ClipGradNormFollowsPyTorch) {
  Optimizer opt(config(OptimizerType::Adam, 0.1, 0.0), 2);
  auto g = device({3.0, 4.0});
  EXPECT_EQ(opt.clip_grad_norm(kSpace, g, 10.0), 5.0);
  EXPECT_EQ(host(g), (std::vector<double>{3.0, 4.0}));
  EXPECT_EQ(opt.clip_grad_norm(kSpace, g, 1.0), 5.0);
  const double coef = 1.0 / (5.0 + 1e-6);
  EXPECT_EQ(host(g), (std::vector<double>{3.0 * coef, 4.0 * coef}));
  EXPECT_THROW(opt.clip_grad_norm(kSpace, g, 0.0), ConfigError);
  // A long vector: blocks of 1024 summed in order, identical on repetition.
  std::vector<double> big(5000);
  double expected = 0.0;
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = std::sin(0.1 * static_cast<double>(i));
    expected += big[i] * big[i];
  }
  const auto v = device(big);
  const double n1 = opt.grad_norm(kSpace, v);
  EXPECT_NEAR(n1, std::sqrt(expected), 1e-12 * std::sqrt(expected));
  EXPECT_EQ(opt.grad_norm(kSpace, v), n1);
}

TEST(Optimizer, StepChecksSizes) {
  Optimizer opt(config(OptimizerType::AdamW, 0.1, 0.0), 3);
  EXPECT_THROW(opt.step(kSpace, device({1.0, 2.0}), device({1.0, 2.0})), InternalError);
  EXPECT_EQ(opt.steps(), 0);
}

} // namespace
