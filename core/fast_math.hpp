// Branch-free double-precision exp, log1p and tanh on the ranges the kernels need, written
// so that a compiler can vectorize a loop over samples (libm calls cannot be) and a GPU runs them
// without divergence. Accuracy: a few ulp (tested against libm in tests/core/test_fast_math.cpp).
#pragma once

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <cstring>

namespace grpo::math {

namespace detail {
KOKKOS_INLINE_FUNCTION std::int64_t bits_of(double x) {
  std::int64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
KOKKOS_INLINE_FUNCTION double from_bits(std::int64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}
} // namespace detail

/// e^x for x <= 0. Arguments below -708 are clamped there (e^-708 = 3.3e-308): the losses only
/// add this to 1 or divide it by 1 + e, so the absolute error stays below 1e-307.
KOKKOS_INLINE_FUNCTION double exp_nonpositive(double x) {
  x = x < -708.0 ? -708.0 : (x > 0.0 ? 0.0 : x);
  // n = round(x / ln 2) with the 1.5 * 2^52 trick: the integer sits in the low mantissa bits.
  constexpr double kLog2e = 1.4426950408889634074;
  constexpr double kMagic = 6755399441055744.0;
  const double shifted = x * kLog2e + kMagic;
  const double n = shifted - kMagic;
  // r = x - n ln 2 in two parts (Cody-Waite), |r| <= ln 2 / 2.
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double r = (x - n * kLn2Hi) - n * kLn2Lo;
  // e^r by its Taylor polynomial of degree 13 (truncation error < 5e-18 on |r| <= 0.347).
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // 2^n from the bits of `shifted`: n = bits(shifted) - bits(kMagic), exponent field n + 1023.
  const std::int64_t k = detail::bits_of(shifted) - detail::bits_of(kMagic);
  const double scale = detail::from_bits((k + 1023) << 52);
  return p * scale;
}

/// tanh(x), branch-free (the MLP policy's activations). With y = 2|x| clamped to 708 and
/// e^-y = 2^n (1 + q), n = round(-y / ln 2), q = e^r - 1 by the same reduction and polynomial as
/// exp_nonpositive without its constant term: tanh|x| = (1 - e^-y) / (1 + e^-y) with
/// 1 -+ e^-y = (1 -+ 2^n) -+ 2^n q, where 1 -+ 2^n is exact. No cancellation for small |x|
/// (n = 0 gives -q / (2 + q)): at most 4 ulp from libm (5 times faster, vectorizable);
/// fast_tanh(+-inf) = +-1, NaN stays NaN.
KOKKOS_INLINE_FUNCTION double fast_tanh(double x) {
  double y = x < 0.0 ? -2.0 * x : 2.0 * x;
  y = y > 708.0 ? 708.0 : y;
  constexpr double kLog2e = 1.4426950408889634074;
  constexpr double kMagic = 6755399441055744.0;
  const double shifted = -y * kLog2e + kMagic;
  const double n = shifted - kMagic;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double r = (-y - n * kLn2Hi) - n * kLn2Lo;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  const double q = p * r; // e^r - 1
  // 2^n; the shift is unsigned so that a NaN argument (garbage n) stays defined behaviour.
  const std::int64_t k = detail::bits_of(shifted) - detail::bits_of(kMagic);
  const double scale =
      detail::from_bits(static_cast<std::int64_t>(static_cast<std::uint64_t>(k + 1023) << 52));
  const double t = ((1.0 - scale) - scale * q) / ((1.0 + scale) + scale * q);
  return x < 0.0 ? -t : t;
}

/// log(1 + e) for 0 <= e <= 1, together with 1 / (1 + e) (which the DPO slope needs too).
KOKKOS_INLINE_FUNCTION double log1p_unit(double e, double& inverse) {
  const double u = 1.0 + e;
  // u in [1, 2]: halve it above sqrt(2) so that m is in [0.707, 1.415).
  const bool halve = u > 1.4142135623730951;
  const double m = halve ? 0.5 * u : u;
  const double k = halve ? 1.0 : 0.0;
  // One division gives both 1/u and 1/(m+1): reciprocal = 1/(u (m+1)).
  const double reciprocal = 1.0 / (u * (m + 1.0));
  inverse = (m + 1.0) * reciprocal;
  // The rounding of u, restored to first order (Goldberg): log(1+e) = log(u) + (e-(u-1))/u.
  const double correction = (e - (u - 1.0)) * inverse;
  // log(m) = 2 atanh(s) = 2 (s + s^3/3 + ...), s = (m-1)/(m+1), |s| <= 0.172.
  const double s = (m - 1.0) * (u * reciprocal);
  const double s2 = s * s;
  double q = 1.0 / 23.0;
  q = q * s2 + 1.0 / 21.0;
  q = q * s2 + 1.0 / 19.0;
  q = q * s2 + 1.0 / 17.0;
  q = q * s2 + 1.0 / 15.0;
  q = q * s2 + 1.0 / 13.0;
  q = q * s2 + 1.0 / 11.0;
  q = q * s2 + 1.0 / 9.0;
  q = q * s2 + 1.0 / 7.0;
  q = q * s2 + 1.0 / 5.0;
  q = q * s2 + 1.0 / 3.0;
  const double log_m = 2.0 * s + 2.0 * s * s2 * q;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  return k * kLn2Hi + (log_m + (k * kLn2Lo + correction));
}

/// x itself, rounded to a double before its next use: the compiler may not fuse the product that
/// made x into a following addition (FMA contraction), so a kernel's sum adds exactly the values
/// the host loop it replaced added. A no-op in device code, where sums are not bit-compared with
/// host loops.
KOKKOS_INLINE_FUNCTION double rounded(double x) {
#if defined(__GNUC__) && !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
  __asm__("" : "+m"(x));
#endif
  return x;
}

} // namespace grpo::math
