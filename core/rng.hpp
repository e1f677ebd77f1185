// Counter-based random numbers: every draw is a pure function of a key tuple, e.g.
// (seed, stream, step, group, k). Draws therefore do not depend on the number of ranks, the
// order of evaluation or the backend, and need no state to checkpoint. Usable on host and device.
//
// The mixer is SplitMix64's finalizer (Stafford's variant 13), applied to each key word in turn;
// it passes BigCrush as a counter-mode generator.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstdint>

namespace grpo::rng {

/// Stream identifiers keep unrelated uses of one seed independent.
enum Stream : std::uint64_t {
  kStreamThetaInit = 0x7431,
  kStreamBatchSlot = 0x6231,
  kStreamBatchRow = 0x6232,
  kStreamData = 0x6431,
  kStreamMlpInit = 0x6d31,      ///< MLP policy weights, keyed by the flat parameter index
  kStreamPairOrder = 0x7031,    ///< neural training: the pass over the pairs, keyed by epoch
  kStreamSftOrder = 0x7331,     ///< SFT stage: the pass over the prompts, keyed by epoch
  kStreamOpinionSplit = 0x6f31, ///< grpo convert globalopinionqa: the split of the questions
  kStreamOpinionPairs = 0x6f32, ///< grpo convert globalopinionqa: the rejected options
  kStreamPairsSplit = 0x7032,   ///< grpo convert pairs: the split of the prompts by fractions
};

KOKKOS_INLINE_FUNCTION std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Hash of a key tuple (up to five words): the counter of the generator.
KOKKOS_INLINE_FUNCTION std::uint64_t hash(std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0,
                                          std::uint64_t d = 0, std::uint64_t e = 0) {
  constexpr std::uint64_t golden = 0x9e3779b97f4a7c15ULL;
  std::uint64_t h = mix64(a + golden);
  h = mix64(h ^ (b + 2 * golden));
  h = mix64(h ^ (c + 3 * golden));
  h = mix64(h ^ (d + 4 * golden));
  h = mix64(h ^ (e + 5 * golden));
  return h;
}

/// Uniform double in [0, 1) with 53 random bits.
KOKKOS_INLINE_FUNCTION double to_unit(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

/// Uniform integer in [0, n) for 0 < n < 2^53 (the bias is below 2^-53 * n).
KOKKOS_INLINE_FUNCTION std::int64_t to_index(std::uint64_t bits, std::int64_t n) {
  auto k = static_cast<std::int64_t>(to_unit(bits) * static_cast<double>(n));
  return k < n ? k : n - 1;
}

/// A sequence of independent uniforms below one key: draw(k) for k = 0, 1, 2, ...
struct KeyedStream {
  std::uint64_t m_key;
  KOKKOS_INLINE_FUNCTION explicit KeyedStream(std::uint64_t key)
      : m_key(key) {}
  KOKKOS_INLINE_FUNCTION double uniform(std::uint64_t k) const { return to_unit(hash(m_key, k)); }
  KOKKOS_INLINE_FUNCTION std::int64_t index(std::uint64_t k, std::int64_t n) const {
    return to_index(hash(m_key, k), n);
  }
};

} // namespace grpo::rng
