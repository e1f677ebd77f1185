#include "solver/dpo_lanes.hpp"
#include "solver/losses.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

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

#if defined(GRPO_HAVE_DPO_LANES)
// The vector mirror of the DPO functor (solver/dpo_lanes.hpp) gives every lane the scalar
// functor's bits, from tiny to overflowing margins, on both sides of the halving in log1p.
TEST(Losses, DpoLanesAreTheScalarFunctorBitForBit) {
  using grpo::solver::lanes::v8d;
  std::vector<double> margins{0.0,
                              -0.0,
                              1e-300,
                              -1e-300,
                              1e-8,
                              -1e-8,
                              0.3,
                              -0.3,
                              0.8813735870195430,
                              -0.8813735870195430,
                              1.0,
                              -1.0,
                              2.5,
                              -2.5,
                              30.0,
                              -30.0,
                              700.0,
                              -700.0,
                              710.0,
                              -710.0,
                              1e4,
                              -1e4,
                              1e300,
                              -1e300};
  for (int k = 0; k < 2000; ++k) { // a dense sweep of [-40, 40]
    margins.push_back(-40.0 + 0.04 * k + 1e-3 * std::sin(k));
  }
  for (const double beta : {1e-3, 0.1, 1.0, 7.5}) {
    for (std::size_t first = 0; first < margins.size(); first += 8) {
      v8d h{};
      v8d b{};
      for (int l = 0; l < 8; ++l) {
        h[l] = margins[std::min(first + l, margins.size() - 1)];
        b[l] = beta * (1.0 + 0.25 * l); // a parameter per lane
      }
      v8d value;
      v8d slope;
      grpo::solver::lanes::dpo(b, h, value, slope);
      for (int l = 0; l < 8; ++l) {
        double want_value = 0.0;
        double want_slope = 0.0;
        grpo::solver::DpoLoss{b[l]}(h[l], want_value, want_slope);
        const double got_value = value[l];
        const double got_slope = slope[l];
        EXPECT_EQ(std::memcmp(&got_value, &want_value, sizeof got_value), 0)
            << "value at beta " << b[l] << ", h " << h[l] << ": " << got_value << " vs "
            << want_value;
        EXPECT_EQ(std::memcmp(&got_slope, &want_slope, sizeof got_slope), 0)
            << "slope at beta " << b[l] << ", h " << h[l] << ": " << got_slope << " vs "
            << want_slope;
      }
    }
  }
}
#endif
