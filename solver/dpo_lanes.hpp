// The DPO loss of eight lanes on GCC vector types, by the operations of the scalar functor
// (solver/losses.hpp: DpoLoss, math::exp_nonpositive, math::log1p_unit) in the same order: each
// lane's value and slope are bit for bit the scalar functor's (the selects are exact, and the
// compiler fuses the same products and sums in both). The host kernels use it where the CPU has
// no AVX-512 (core/fast_math_avx512.hpp otherwise), so that the loss of eight rows, or of eight
// runs, runs on vectors without changing a bit. A mirror of the scalar code: the two change
// together, and tests/solver/test_losses.cpp compares them lane by lane. GCC and Clang only,
// host code only. Internal to solver/.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__GNUC__) && !defined(__CUDA_ARCH__) && !defined(__NVCC__)
#define GRPO_HAVE_DPO_LANES 1

namespace grpo::solver::lanes {

/// Eight doubles: one AVX-512 register, two AVX2 or four SSE registers.
using v8d = double __attribute__((vector_size(64)));
using v8di = std::int64_t __attribute__((vector_size(64)));

/// DpoLoss{beta[l]}(h[l], value[l], slope[l]) for the eight lanes l.
[[gnu::always_inline]] inline void dpo(const v8d& beta, const v8d& h, v8d& value, v8d& slope) {
  const v8d zero{};
  const v8d one = zero + 1.0;
  const v8d x = beta * h;
  // math::exp_nonpositive(x >= 0 ? -x : x)
  v8d a = x >= 0.0 ? -x : x;
  a = a < -708.0 ? zero - 708.0 : (a > 0.0 ? zero : a);
  constexpr double kLog2e = 1.4426950408889634074;
  constexpr double kMagic = 6755399441055744.0;
  const v8d shifted = a * kLog2e + kMagic;
  const v8d n = shifted - kMagic;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const v8d r = (a - n * kLn2Hi) - n * kLn2Lo;
  v8d p = zero + 1.0 / 6227020800.0;
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
  std::int64_t magic_bits = 0;
  std::memcpy(&magic_bits, &kMagic, sizeof magic_bits);
  const v8di k = reinterpret_cast<v8di>(shifted) - magic_bits;
  const v8di scale_bits = (k + 1023) << 52;
  const v8d e = p * reinterpret_cast<v8d>(scale_bits);
  // math::log1p_unit(e, inverse)
  const v8d u = 1.0 + e;
  const v8di halve = u > 1.4142135623730951;
  const v8d m = halve ? 0.5 * u : u;
  const v8d kk = halve ? one : zero;
  const v8d reciprocal = 1.0 / (u * (m + 1.0));
  const v8d inverse = (m + 1.0) * reciprocal;
  const v8d correction = (e - (u - 1.0)) * inverse;
  const v8d sv = (m - 1.0) * (u * reciprocal);
  const v8d s2 = sv * sv;
  v8d q = zero + 1.0 / 23.0;
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
  const v8d log_m = 2.0 * sv + 2.0 * sv * s2 * q;
  const v8d log_term = kk * kLn2Hi + (log_m + (kk * kLn2Lo + correction));
  // DpoLoss
  value = (x < 0.0 ? -x : zero) + log_term;
  slope = -beta * (x >= 0.0 ? e : one) * inverse;
}

} // namespace grpo::solver::lanes

#endif
