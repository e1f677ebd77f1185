#include "core/fast_math.hpp"
#include "core/fast_math_avx512.hpp"
#include "tests/support/fp_traps.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

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
  const grpo::test::InvalidAllowed nan_on_purpose; // NaN in, NaN out: compared on the way
  EXPECT_TRUE(std::isnan(grpo::math::fast_tanh(NAN)));
}

#if defined(GRPO_HAVE_AVX512_MATH)
/// Applies an eight-lane function to `xs` (padded with the last value) and returns its lanes.
template <class F>
std::vector<double> lanes(const std::vector<double>& xs, F&& f) {
  std::vector<double> out(xs.size() + 8);
  for (std::size_t i = 0; i < xs.size(); i += 8) {
    alignas(64) double in[8];
    for (std::size_t l = 0; l < 8; ++l) {
      in[l] = xs[std::min(i + l, xs.size() - 1)];
    }
    _mm512_storeu_pd(&out[i], f(_mm512_load_pd(in)));
  }
  out.resize(xs.size());
  return out;
}

TEST(FastMathAvx512, ExpMatchesLibmWithinTwoUlp) {
  std::vector<double> xs;
  for (int k = 0; k <= 2000000; ++k) {
    xs.push_back(-708.0 * k / 2000000.0);
  }
  for (double x : {0.0, -0.0, -1e-300, -1e-17, -1e-9, -0.5, -0.0216608493924983, -0.0216608494,
                   -0.34657359027997264, -1.0, -700.0, -707.99, -708.0}) {
    xs.push_back(x);
  }
  const auto got = lanes(xs, [](__m512d x) { return avx512::exp_nonpositive(x); });
  double worst = 0.0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    worst = std::max(worst, ulp_error(got[i], std::exp(xs[i])));
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_EQ(got[xs.size() - 13], 1.0); // e^0
}

TEST(FastMathAvx512, ExpClampsAndKeepsNan) {
  const grpo::test::InvalidAllowed nan_on_purpose; // a NaN lane is compared with the clamp
  const auto got = lanes({-1000.0, -1e300, -INFINITY, NAN},
                         [](__m512d x) { return avx512::exp_nonpositive(x); });
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i], exp_nonpositive(-708.0)) << i;
    EXPECT_TRUE(std::isnormal(got[i])) << i;
  }
  EXPECT_TRUE(std::isnan(got[3]));
}

TEST(FastMathAvx512, Log1pMatchesLibmWithinTwoUlp) {
  std::vector<double> es;
  for (int k = 0; k <= 2000000; ++k) {
    es.push_back(k / 2000000.0);
  }
  // Tiny arguments (1 + e rounds), the ends of the sixteenths, and e = 1 (u = 2).
  for (double e : {1e-300, 1e-200, 1e-20, 3e-17, 1.1e-16, 1e-12, 1e-8, 0.0625, 0.0624999999999,
                   0.0625000000001, 0.9375, 0.93749999999, 0.99999999999, 1.0}) {
    es.push_back(e);
  }
  std::vector<double> inverse(es.size() + 8);
  std::size_t offset = 0;
  const auto got = lanes(es, [&](__m512d e) {
    __m512d inv;
    const __m512d value = avx512::log1p_unit(e, inv);
    _mm512_storeu_pd(&inverse[offset], inv);
    offset += 8;
    return value;
  });
  double worst = 0.0;
  double worst_inverse = 0.0;
  for (std::size_t i = 0; i < es.size(); ++i) {
    worst = std::max(worst, ulp_error(got[i], std::log1p(es[i])));
    worst_inverse = std::max(worst_inverse, ulp_error(inverse[i], 1.0 / (1.0 + es[i])));
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_LE(worst_inverse, 2.0);
  EXPECT_EQ(got[0], 0.0);
}
#endif

} // namespace
