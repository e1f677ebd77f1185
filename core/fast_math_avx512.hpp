// Eight-lane AVX-512 versions of grpo::math::exp_nonpositive and log1p_unit for the host's fused
// DPO kernel, where the loss is 40 % of a step's arithmetic. Same ranges and contracts as the
// scalar functions (core/fast_math.hpp), a few ulp from libm (tests/core/test_fast_math.cpp),
// but a third fewer instructions: 16-entry tables held in two registers each (vpermt2pd) cut
// the polynomials to degree 7 (exp) and 9 (log), vscalefpd applies 2^k, and vgetmantpd /
// vgetexppd split the logarithm's argument. Only for GCC and Clang on AVX-512F hosts.
#pragma once

#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__CUDA_ARCH__) && !defined(__NVCC__)
#define GRPO_HAVE_AVX512_MATH 1

#include <immintrin.h>

namespace grpo::math::avx512 {

namespace detail {
/// A 16-entry table in two registers, indexed by the low 4 bits of each lane of `index`.
struct Table16 {
  __m512d low;
  __m512d high;
  __m512d operator()(__m512i index) const { return _mm512_permutex2var_pd(low, index, high); }
};

/// 2^(j/16), j = 0, ..., 15, correctly rounded.
inline Table16 exp2_sixteenths() {
  return {_mm512_setr_pd(0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0,
                         0x1.2387a6e756238p+0, 0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0,
                         0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0),
          _mm512_setr_pd(0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0,
                         0x1.9c49182a3f090p+0, 0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0,
                         0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0)};
}

/// The centres c_j of the logarithm's 16 intervals [1 + j/16, 1 + (j+1)/16): c_0 = 1 (so that
/// log1p of a tiny argument has no cancellation), c_j = 1 + (2j + 1)/32 otherwise.
inline Table16 log_centres() {
  return {_mm512_setr_pd(1.0, 0x1.18p+0, 0x1.28p+0, 0x1.38p+0, 0x1.48p+0, 0x1.58p+0, 0x1.68p+0,
                         0x1.78p+0),
          _mm512_setr_pd(0x1.88p+0, 0x1.98p+0, 0x1.a8p+0, 0x1.b8p+0, 0x1.c8p+0, 0x1.d8p+0,
                         0x1.e8p+0, 0x1.f8p+0)};
}

/// log(c_j), correctly rounded.
inline Table16 log_of_centres() {
  return {_mm512_setr_pd(0.0, 0x1.6f0d28ae56b4cp-4, 0x1.29552f81ff523p-3, 0x1.9525a9cf456b4p-3,
                         0x1.fb9186d5e3e2bp-3, 0x1.2e8e2bae11d31p-2, 0x1.5d1bdbf5809cap-2,
                         0x1.89a3386c1425bp-2),
          _mm512_setr_pd(0x1.b44f77bcc8f63p-2, 0x1.dd46a04c1c4a1p-2, 0x1.02552a5a5d0ffp-1,
                         0x1.154c3d2f4d5eap-1, 0x1.2795e1289b11bp-1, 0x1.393e0d3562a1ap-1,
                         0x1.4a4f85db03ebbp-1, 0x1.5ad404c359f2dp-1)};
}

inline __m512d splat(double x) { return _mm512_set1_pd(x); }
} // namespace detail

/// All lanes. GCC 12's unmasked forms of several intrinsics start from _mm512_undefined_pd(),
/// which trips -Wmaybe-uninitialized; the zero-masked forms with every lane set do not.
constexpr __mmask8 kAll = 0xFF;

/// e^x for x <= 0, lane by lane; arguments below -708 are clamped there, NaN stays NaN.
/// x = (16 k + j) ln 2 / 16 + r with |r| <= ln 2 / 32: e^x = 2^k 2^(j/16) e^r, e^r - 1 by its
/// Taylor polynomial of degree 7 (truncation below 1.3e-18).
inline __m512d exp_nonpositive(__m512d x) {
  using detail::splat;
  x = _mm512_maskz_max_pd(kAll, splat(-708.0), x); // the second operand is returned for NaN
  // n = round(16 x / ln 2) with the 1.5 * 2^52 trick: n's low bits are j = n mod 16.
  constexpr double kMagic = 6755399441055744.0;
  const __m512d shifted = _mm512_fmadd_pd(x, splat(0x1.71547652b82fep+4), splat(kMagic));
  const __m512d n = _mm512_sub_pd(shifted, splat(kMagic));
  // r = x - n ln 2 / 16 in two parts (Cody-Waite).
  constexpr double kLn2Hi = 6.93147180369123816490e-01 / 16.0;
  constexpr double kLn2Lo = 1.90821492927058770002e-10 / 16.0;
  __m512d r = _mm512_fnmadd_pd(n, splat(kLn2Hi), x);
  r = _mm512_fnmadd_pd(n, splat(kLn2Lo), r);
  __m512d p = splat(1.0 / 5040.0);
  p = _mm512_fmadd_pd(p, r, splat(1.0 / 720.0));
  p = _mm512_fmadd_pd(p, r, splat(1.0 / 120.0));
  p = _mm512_fmadd_pd(p, r, splat(1.0 / 24.0));
  p = _mm512_fmadd_pd(p, r, splat(1.0 / 6.0));
  p = _mm512_fmadd_pd(p, r, splat(0.5));
  p = _mm512_fmadd_pd(p, r, splat(1.0));
  const __m512d q = _mm512_mul_pd(p, r); // e^r - 1
  const __m512d t = detail::exp2_sixteenths()(_mm512_castpd_si512(shifted));
  // 2^(j/16) e^r, then times 2^floor(n / 16) = 2^k.
  return _mm512_maskz_scalef_pd(kAll, _mm512_fmadd_pd(t, q, t),
                                _mm512_mul_pd(n, splat(1.0 / 16.0)));
}

/// log(1 + e) for 0 <= e <= 1, lane by lane, together with 1 / (1 + e).
/// u = 1 + e = 2^k m with m in [1, 2) (k = 1 only for u = 2); with c the centre of m's
/// sixteenth, log m = log c + 2 atanh(s), s = (m - c)/(m + c), |s| < 0.031, by its series to
/// s^9 (truncation below 6e-17 relative). The rounding of
/// u is restored to first order: log(1 + e) = log u + (e - (u - 1)) / u.
inline __m512d log1p_unit(__m512d e, __m512d& inverse) {
  using detail::splat;
  const __m512d u = _mm512_add_pd(splat(1.0), e);
  const __m512d m = _mm512_maskz_getmant_pd(kAll, u, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  const __m512d k = _mm512_maskz_getexp_pd(kAll, u);
  // The top four fraction bits of m select the interval.
  const __m512i index = _mm512_maskz_srli_epi64(kAll, _mm512_castpd_si512(m), 48);
  const __m512d c = detail::log_centres()(index);
  const __m512d log_c = detail::log_of_centres()(index);
  inverse = _mm512_div_pd(splat(1.0), u);
  // m - c is exact (Sterbenz); a second division keeps s within half an ulp.
  const __m512d s = _mm512_div_pd(_mm512_sub_pd(m, c), _mm512_add_pd(m, c));
  const __m512d s2 = _mm512_mul_pd(s, s);
  __m512d q = splat(1.0 / 9.0);
  q = _mm512_fmadd_pd(q, s2, splat(1.0 / 7.0));
  q = _mm512_fmadd_pd(q, s2, splat(1.0 / 5.0));
  q = _mm512_fmadd_pd(q, s2, splat(1.0 / 3.0));
  const __m512d two_s = _mm512_add_pd(s, s);
  // u - 1 and e - (u - 1) are exact.
  const __m512d correction = _mm512_mul_pd(_mm512_sub_pd(e, _mm512_sub_pd(u, splat(1.0))), inverse);
  const __m512d tail = _mm512_fmadd_pd(_mm512_mul_pd(two_s, s2), q, correction);
  const __m512d head = _mm512_fmadd_pd(k, splat(0x1.62e42fefa39efp-1), log_c);
  return _mm512_add_pd(head, _mm512_add_pd(two_s, tail));
}

} // namespace grpo::math::avx512

#endif
