// GroupWeights: hand-derived values of every rule, the exponentiated-gradient step against its
// closed form, the adjustment, averaging, stability at large losses and the restore checks.
#include "core/error.hpp"
#include "solver/group_weights.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using namespace grpo::solver;
using grpo::index_t;

GroupWeightsConfig config_of(WeightRule rule, double chi = 1.0) {
  GroupWeightsConfig c;
  c.rule = rule;
  c.chi = chi;
  return c;
}

TEST(GroupWeights, ErmWeightsAreGroupFractions) {
  const GroupWeights w(config_of(WeightRule::Erm, 0.3), {10, 30});
  ASSERT_EQ(w.num_groups(), 2);
  EXPECT_DOUBLE_EQ(w.weights()[0], 0.25); // chi plays no part in ERM
  EXPECT_DOUBLE_EQ(w.weights()[1], 0.75);
  EXPECT_NEAR(w.alpha()[0], 0.25, 1e-16);
  EXPECT_NEAR(w.alpha()[1], 0.75, 1e-16);
  EXPECT_FALSE(w.robust());
}

TEST(GroupWeights, ImportanceSamplingWeightsAreInverseSizesMixedWithChiOrNot) {
  // v = (1/10, 1/30) / (4/30) = (0.75, 0.25).
  auto mixed = config_of(WeightRule::ImportanceSampling, 0.5);
  const GroupWeights a(mixed, {10, 30});
  EXPECT_NEAR(a.alpha()[0], 0.75, 1e-15);
  EXPECT_NEAR(a.weights()[0], 0.25 + 0.5 * 0.75, 1e-15); // (1 - chi)/K + chi v_g
  EXPECT_NEAR(a.weights()[1], 0.25 + 0.5 * 0.25, 1e-15);
  auto plain = mixed;
  plain.chi_mixes_fixed = false; // the official LLM code: v itself
  const GroupWeights b(plain, {10, 30});
  EXPECT_NEAR(b.weights()[0], 0.75, 1e-15);
  EXPECT_NEAR(b.weights()[1], 0.25, 1e-15);
  plain.is_weights = {3.0, 1.0}; // given weights, normalised
  const GroupWeights c(plain, {10, 30});
  EXPECT_DOUBLE_EQ(c.weights()[0], 0.75);
  EXPECT_DOUBLE_EQ(c.weights()[1], 0.25);
  plain.is_weights = {1.0, 2.0, 3.0};
  EXPECT_THROW(GroupWeights(plain, {10, 30}), grpo::ConfigError);
}

TEST(GroupWeights, RobustStepMatchesHandDerivedValues) {
  GroupWeights w(config_of(WeightRule::Robust), {5, 7});
  EXPECT_DOUBLE_EQ(w.alpha()[0], 0.5);
  // eta = 0.5, losses (1, 3): alpha proportional to (e^0.5, e^1.5) = (1, e) / (1 + e).
  const double log_norm = w.update({1.0, 3.0}, {true, true}, 0.5);
  const double e = std::exp(1.0);
  EXPECT_NEAR(w.alpha()[0], 1.0 / (1.0 + e), 1e-15);
  EXPECT_NEAR(w.alpha()[1], e / (1.0 + e), 1e-15);
  EXPECT_NEAR(log_norm, std::log(0.5 * std::exp(0.5) + 0.5 * std::exp(1.5)), 1e-15);
  EXPECT_NEAR(w.weights()[1], e / (1.0 + e), 1e-15);
}

TEST(GroupWeights, ChiScalesTheStepAndMixesTheWeights) {
  GroupWeights w(config_of(WeightRule::Robust, 0.25), {5, 7});
  w.update({0.0, 4.0}, {true, true}, 1.0); // exponents 0 and chi * 4 = 1
  const double a1 = std::exp(1.0) / (1.0 + std::exp(1.0));
  EXPECT_NEAR(w.alpha()[1], a1, 1e-15);
  EXPECT_NEAR(w.weights()[1], 0.75 / 2 + 0.25 * a1, 1e-15);
  EXPECT_NEAR(w.weights()[0] + w.weights()[1], 1.0, 1e-15);
}

TEST(GroupWeights, InactiveGroupsKeepTheirExponent) {
  GroupWeights w(config_of(WeightRule::Robust), {5, 7, 9});
  w.update({2.0, 100.0, 0.0}, {true, false, true}, 1.0);
  // Exponents (2, 0, 0) relative to log(1/3): alpha proportional to (e^2, 1, 1).
  const double z = std::exp(2.0) + 2.0;
  EXPECT_NEAR(w.alpha()[0], std::exp(2.0) / z, 1e-15);
  EXPECT_NEAR(w.alpha()[1], 1.0 / z, 1e-15);
  EXPECT_NEAR(w.alpha()[2], 1.0 / z, 1e-15);
}

TEST(GroupWeights, AdjustmentAddsCOverRootNToTheSignal) {
  auto c = config_of(WeightRule::Robust);
  c.adj = {2.0};
  GroupWeights w(c, {4, 16}); // adj = (1, 0.5)
  EXPECT_DOUBLE_EQ(w.adj(0), 1.0);
  EXPECT_DOUBLE_EQ(w.adj(1), 0.5);
  EXPECT_DOUBLE_EQ(w.exponent(1, 1.5, 2.0), std::log(0.5) + 2.0 * (1.5 + 0.5));
  w.update({0.0, 0.0}, {true, true}, 1.0); // signals (1, 0.5)
  EXPECT_NEAR(w.alpha()[0], std::exp(0.5) / (std::exp(0.5) + 1.0), 1e-15);
  const GroupWeights none(config_of(WeightRule::Robust), {4, 16});
  EXPECT_EQ(none.adj(0), 0.0);
}

TEST(GroupWeights, RepeatedStepsEqualTheMirrorDescentClosedForm) {
  // Constant losses L: after T steps alpha is proportional to exp(T eta chi L).
  GroupWeights w(config_of(WeightRule::Robust, 0.5), {3, 3, 3, 3});
  const std::vector<double> loss{0.1, 0.7, 0.3, 0.69};
  const int steps = 200;
  const double eta = 0.05;
  for (int t = 0; t < steps; ++t) {
    w.update(loss, std::vector<bool>(4, true), eta);
  }
  double z = 0.0;
  for (const double l : loss) {
    z += std::exp(steps * eta * 0.5 * l);
  }
  for (int g = 0; g < 4; ++g) {
    EXPECT_NEAR(w.alpha()[g], std::exp(steps * eta * 0.5 * loss[g]) / z, 1e-12);
  }
}

TEST(GroupWeights, HugeLossesStayFiniteAndPickTheWorstGroup) {
  GroupWeights w(config_of(WeightRule::Robust), {2, 2});
  w.update({1e6, 2e6}, {true, true}, 10.0);
  EXPECT_TRUE(std::isfinite(w.log_alpha()[0]));
  EXPECT_EQ(w.alpha()[0], 0.0);
  EXPECT_EQ(w.alpha()[1], 1.0);
  EXPECT_EQ(w.log_alpha()[1], 0.0);
}

TEST(GroupWeights, AverageIsTheMeanOfTheIterates) {
  GroupWeights w(config_of(WeightRule::Robust), {2, 2});
  double sum0 = 0.0;
  for (index_t t = 1; t <= 5; ++t) {
    w.update({1.0, 0.0}, {true, true}, 0.3);
    sum0 += w.alpha()[0];
    w.accumulate_average(t);
  }
  EXPECT_NEAR(w.alpha_avg()[0], sum0 / 5.0, 1e-15);
  EXPECT_NEAR(w.alpha_avg()[0] + w.alpha_avg()[1], 1.0, 1e-15);
}

TEST(GroupWeights, RestoreContinuesAndChecksSizes) {
  GroupWeights a(config_of(WeightRule::Robust), {2, 3});
  a.update({1.0, 0.5}, {true, true}, 0.2);
  a.accumulate_average(1);
  GroupWeights b(config_of(WeightRule::Robust), {2, 3});
  b.restore(a.log_alpha(), a.alpha_avg());
  a.update({0.3, 0.9}, {true, true}, 0.2);
  b.update({0.3, 0.9}, {true, true}, 0.2);
  EXPECT_EQ(a.log_alpha(), b.log_alpha()); // bit for bit
  EXPECT_THROW(b.restore({0.0}, {1.0}), grpo::DataError);
  GroupWeights frozen(config_of(WeightRule::Erm), {2, 3});
  EXPECT_THROW(frozen.update({1.0, 1.0}, {true, true}, 0.1), grpo::InternalError);
}

} // namespace
