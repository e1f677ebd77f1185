#include "solver/losses.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using namespace grpo::solver;

template <class Loss>
double value(const Loss& loss, double h) {
  double v = 0.0;
  double s = 0.0;
  loss(h, v, s);
  return v;
}

template <class Loss>
double slope(const Loss& loss, double h) {
  double v = 0.0;
  double s = 0.0;
  loss(h, v, s);
  return s;
}

TEST(Losses, DpoMatchesTheNaiveFormulaWhereItIsSafe) {
  for (double beta : {0.1, 1.0, 2.0}) {
    const auto loss = make_dpo(beta);
    for (double h : {-3.0, -0.5, 0.0, 0.25, 4.0}) {
      const double naive = -std::log(1.0 / (1.0 + std::exp(-beta * h)));
      EXPECT_NEAR(value(loss, h), naive, 1e-14 * std::max(1.0, naive));
    }
  }
  EXPECT_NEAR(value(make_dpo(1.0), 0.0), std::log(2.0), 1e-15);
}

TEST(Losses, DpoIsStableForExtremeMargins) {
  const auto loss = make_dpo(1.0);
  EXPECT_DOUBLE_EQ(value(loss, -1000.0), 1000.0); // softplus(1000) = 1000 (+ e^-1000)
  EXPECT_GE(value(loss, 1000.0), 0.0);
  EXPECT_LT(value(loss, 1000.0), 1e-300);
  EXPECT_DOUBLE_EQ(slope(loss, -1000.0), -1.0);
  EXPECT_TRUE(std::isfinite(slope(loss, 1000.0)));
}

TEST(Losses, IpoIsASquareAroundTheTarget) {
  const auto loss = make_ipo(0.1); // target 1 / (2 * 0.1) = 5
  EXPECT_DOUBLE_EQ(value(loss, 5.0), 0.0);
  EXPECT_DOUBLE_EQ(value(loss, 3.0), 4.0);
  EXPECT_DOUBLE_EQ(slope(loss, 3.0), -4.0);
  // beta enters only the target, never multiplies the margin.
  EXPECT_DOUBLE_EQ(value(make_ipo(1.0), 0.5), 0.0);
}

TEST(Losses, SlopesMatchCentralFiniteDifferences) {
  const double eps = 1e-6;
  for (double h : {-2.0, -0.3, 0.0, 0.7, 3.0}) {
    for (double beta : {0.5, 1.0, 2.0}) {
      const auto dpo = make_dpo(beta);
      const auto ipo = make_ipo(beta);
      const double fd_dpo = (value(dpo, h + eps) - value(dpo, h - eps)) / (2 * eps);
      const double fd_ipo = (value(ipo, h + eps) - value(ipo, h - eps)) / (2 * eps);
      EXPECT_NEAR(slope(dpo, h), fd_dpo, 1e-8);
      EXPECT_NEAR(slope(ipo, h), fd_ipo, 1e-7);
    }
  }
}

TEST(Losses, SigmoidIsSymmetricAndBounded) {
  for (double y : {-800.0, -5.0, 0.0, 5.0, 800.0}) {
    EXPECT_NEAR(sigmoid(y) + sigmoid(-y), 1.0, 1e-15);
    EXPECT_GE(sigmoid(y), 0.0);
    EXPECT_LE(sigmoid(y), 1.0);
  }
}

TEST(Losses, NamesRoundTrip) {
  EXPECT_EQ(parse_loss("dpo"), LossType::Dpo);
  EXPECT_EQ(parse_loss("ipo"), LossType::Ipo);
  EXPECT_STREQ(loss_name(LossType::Ipo), "ipo");
}

} // namespace
