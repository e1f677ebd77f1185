#include "core/fast_math.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace {

using namespace grpo::math;

double ulp_error(double got, double want) {
  if (got == want) {
    return 0.0;
  }
  const double ulp = std::nextafter(std::abs(want), INFINITY) - std::abs(want);
  return std::abs(got - want) / ulp;
}

TEST(FastMath, ExpMatchesLibmWithinFourUlp) {
  double worst = 0.0;
  for (int k = 0; k <= 2000000; ++k) {
    const double x = -708.0 * k / 2000000.0;
    worst = std::max(worst, ulp_error(exp_nonpositive(x), std::exp(x)));
  }
  for (double x : {0.0, -1e-300, -1e-17, -1e-9, -0.5, -0.34657359027997264, -1.0, -700.0}) {
    worst = std::max(worst, ulp_error(exp_nonpositive(x), std::exp(x)));
  }
  EXPECT_LE(worst, 4.0);
  EXPECT_EQ(exp_nonpositive(0.0), 1.0);
}

TEST(FastMath, ExpClampsFarBelowZero) {
  EXPECT_GT(exp_nonpositive(-1000.0), 0.0);
  EXPECT_LT(exp_nonpositive(-1000.0), 1e-307);
  EXPECT_TRUE(std::isnormal(exp_nonpositive(-1e300)));
}

TEST(FastMath, Log1pMatchesLibmWithinFourUlp) {
  double worst = 0.0;
  double inverse = 0.0;
  for (int k = 0; k <= 2000000; ++k) {
    const double e = k / 2000000.0;
    worst = std::max(worst, ulp_error(log1p_unit(e, inverse), std::log1p(e)));
    ASSERT_LE(ulp_error(inverse, 1.0 / (1.0 + e)), 2.0);
  }
  // Tiny arguments, where 1 + e rounds: log1p(e) = e - e^2/2 + ...
  for (double e : {1e-300, 1e-200, 1e-20, 3e-17, 1.1e-16, 1e-12, 1e-8, 0.41421356, 0.41421357}) {
    worst = std::max(worst, ulp_error(log1p_unit(e, inverse), std::log1p(e)));
  }
  EXPECT_LE(worst, 4.0);
  EXPECT_EQ(log1p_unit(0.0, inverse), 0.0);
}

TEST(FastMath, FastTanhMatchesLibmWithinFiveUlp) {
  double worst = 0.0;
  for (int k = -2000000; k <= 2000000; ++k) {
    const double x = 20.0 * k / 2000000.0;
    worst = std::max(worst, ulp_error(grpo::math::fast_tanh(x), std::tanh(x)));
  }
  // Tiny and huge arguments, and the ends of the reduction intervals.
  for (double x : {1e-300, -1e-200, 1e-17, 1e-9, -1e-5, 0.17328679513998632, 0.1733, 0.5, -0.55,
                   0.8, 19.0, -19.1, 40.0, 400.0, 1e300}) {
    worst = std::max(worst, ulp_error(grpo::math::fast_tanh(x), std::tanh(x)));
  }
  EXPECT_LE(worst, 5.0); // 4.0 seen, near |x| = 0.21
  EXPECT_EQ(grpo::math::fast_tanh(0.0), 0.0);
  EXPECT_EQ(grpo::math::fast_tanh(INFINITY), 1.0);
  EXPECT_EQ(grpo::math::fast_tanh(-INFINITY), -1.0);
  EXPECT_TRUE(std::isnan(grpo::math::fast_tanh(NAN)));
}

} // namespace
