#include "solver/fused_kernel.hpp"

#include "core/error.hpp"
#include "core/fast_math_avx512.hpp"
#include "core/kokkos_compat.hpp"
#include "solver/dpo_lanes.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

namespace grpo::solver {

namespace {

constexpr bool kHostExecution = std::is_same<MemSpace, Kokkos::HostSpace>::value;
/// -DGRPO_FUSED_TEAM_ON_HOST=1 runs the device kernel (TeamChunkKernel) on the host too, so that
/// the unit tests check it without a GPU (scripts/test.sh builds such a variant).
#if defined(GRPO_FUSED_TEAM_ON_HOST) && GRPO_FUSED_TEAM_ON_HOST
constexpr bool kTeamKernelOnHost = true;
#else
constexpr bool kTeamKernelOnHost = false;
#endif
/// Rows processed together in a host block (ChunkKernel: margins, loss, gradient in three passes;
/// HostChunkKernel: margins and loss eight rows at a time, then the gradient).
constexpr int kBlock = kHostExecution ? 32 : 1;
// OpenMP SIMD directives (honoured with -fopenmp-simd, ignored by other compilers): the margin
// is a vectorized dot product with its own reassociated reduction, the loss of a block is
// evaluated lane-parallel across rows; nothing else is reordered.
#if defined(GRPO_OPENMP_SIMD)
#define GRPO_PRAGMA(x) _Pragma(#x)
// NOLINTNEXTLINE(bugprone-macro-parentheses): a pragma operand cannot be parenthesised
#define GRPO_SIMD_REDUCE(var) GRPO_PRAGMA(omp simd reduction(+ : var))
#else
#define GRPO_SIMD_REDUCE(var)
#endif

// launch_chunks is inlined with everything it calls (the kernel's body included), and launch_one,
// which calls it for every one-run pass, never is: the one-run kernels are one piece of machine
// code whatever calls them (the order of their SIMD reductions is the compiler's choice and
// follows the surrounding code). nvcc's front end takes no GNU attributes.
#if defined(__NVCC__) || defined(__CUDA_ARCH__)
#define GRPO_FLATTENED
#define GRPO_NOINLINE
#else
#define GRPO_FLATTENED [[gnu::always_inline, gnu::flatten]]
#define GRPO_NOINLINE [[gnu::noinline]]
#endif

/// One chunk of rows -> partial(c, 0) = loss sum, partial(c, 1 + j) = gradient sum j.
/// D > 0: feature dimension fixed at compile time; D == 0: m_dim at run time.
template <int D, class Loss, bool Indexed>
struct ChunkKernel {
  Kokkos::View<const float**, MemSpace> m_z;
  Kokkos::View<const float*, MemSpace> m_ref;
  Kokkos::View<const double*, MemSpace> m_theta;
  Kokkos::View<const index_t*, MemSpace> m_rows;
  Kokkos::View<const index_t*, MemSpace> m_chunk_begin;
  Kokkos::View<const index_t*, MemSpace> m_chunk_end;
  View2<double> m_partial;
  Loss m_loss;
  int m_dim;
  bool m_gradient;

  KOKKOS_INLINE_FUNCTION int dim() const { return D > 0 ? D : m_dim; }
  KOKKOS_INLINE_FUNCTION index_t row(index_t position) const {
    if constexpr (Indexed) {
      return m_rows(position);
    } else {
      return position;
    }
  }

  /// h_i = theta . z_i - ref_i, accumulated in double.
  KOKKOS_INLINE_FUNCTION double margin(index_t i, const double* theta) const {
    const int d = dim();
    double h = 0.0;
    GRPO_SIMD_REDUCE(h)
    for (int j = 0; j < d; ++j) {
      h += theta[j] * static_cast<double>(m_z(i, j));
    }
    return h - static_cast<double>(m_ref(i));
  }

  KOKKOS_INLINE_FUNCTION void operator()(const index_t c) const {
    double theta[std::max(D, 1)];
    double grad[std::max(D, 1)] = {};
    const double* theta_ptr = nullptr;
    if constexpr (D > 0) {
      for (int j = 0; j < D; ++j) {
        theta[j] = m_theta(j);
      }
      theta_ptr = theta;
    } else {
      theta_ptr = m_theta.data();
      for (int j = 0; j < m_dim; ++j) {
        m_partial(c, 1 + j) = 0.0;
      }
    }
    const index_t begin = m_chunk_begin(c);
    const index_t end = m_chunk_end(c);
    double loss_sum = 0.0;
    for (index_t start = begin; start < end; start += kBlock) {
      const int n = static_cast<int>(end - start < kBlock ? end - start : kBlock);
      double h[kBlock];
      double slope[kBlock];
      for (int r = 0; r < n; ++r) {
        h[r] = margin(row(start + r), theta_ptr);
      }
      double block_loss = 0.0;
      GRPO_SIMD_REDUCE(block_loss)
      for (int r = 0; r < n; ++r) {
        double value = 0.0;
        m_loss(h[r], value, slope[r]);
        block_loss += value;
      }
      loss_sum += block_loss;
      if (m_gradient) {
        for (int r = 0; r < n; ++r) {
          const index_t i = row(start + r);
          const double s = slope[r];
          if constexpr (D > 0) {
            for (int j = 0; j < D; ++j) {
              grad[j] += s * static_cast<double>(m_z(i, j));
            }
          } else {
            for (int j = 0; j < m_dim; ++j) {
              m_partial(c, 1 + j) += s * static_cast<double>(m_z(i, j));
            }
          }
        }
      }
    }
    m_partial(c, 0) = loss_sum;
    if constexpr (D > 0) {
      if (m_gradient) {
        for (int j = 0; j < D; ++j) {
          m_partial(c, 1 + j) = grad[j];
        }
      }
    }
  }
};

#if defined(__GNUC__) && !defined(__CUDA_ARCH__) && !defined(__NVCC__)
#define GRPO_HOST_SIMD 1
#if defined(__clang__)
// The eight-lane helpers below are internal to this file, so how 512-bit vectors are passed
// without AVX-512 (clang's -Wpsabi at every call on an AVX2 host) concerns no other code.
#pragma clang diagnostic ignored "-Wpsabi"
#endif
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
/// Eight doubles / floats: one AVX-512 register, two AVX2 or four SSE registers.
using lanes::v8d;
using v8f = float __attribute__((vector_size(32)));

KOKKOS_INLINE_FUNCTION v8d load8(const float* p) {
#if defined(__AVX512F__)
  // One vcvtps2pd ymm -> zmm. GCC 12 lowers __builtin_convertvector to two 256-bit converts,
  // an extract and an insert when it tunes for a CPU it takes for 256-bit (znver3 for Zen 4/5).
  // (The masked form: GCC 12's unmasked intrinsic trips -Wmaybe-uninitialized.)
  return reinterpret_cast<v8d>(_mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(p)));
#else
  v8f f;
  std::memcpy(&f, p, sizeof f);
  return __builtin_convertvector(f, v8d);
#endif
}

/// The lane sums of eight vectors as one vector: (sum a[0], ..., sum a[7]), by a transposing
/// reduction tree (14 shuffles and 7 additions instead of 8 horizontal sums).
KOKKOS_INLINE_FUNCTION v8d sum8x8(const v8d* a) {
  v8d t[4];
  for (int p = 0; p < 4; ++p) {
    t[p] = __builtin_shufflevector(a[2 * p], a[2 * p + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
           __builtin_shufflevector(a[2 * p], a[2 * p + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  const v8d u0 = __builtin_shufflevector(t[0], t[1], 0, 1, 8, 9, 4, 5, 12, 13) +
                 __builtin_shufflevector(t[0], t[1], 2, 3, 10, 11, 6, 7, 14, 15);
  const v8d u1 = __builtin_shufflevector(t[2], t[3], 0, 1, 8, 9, 4, 5, 12, 13) +
                 __builtin_shufflevector(t[2], t[3], 2, 3, 10, 11, 6, 7, 14, 15);
  return __builtin_shufflevector(u0, u1, 0, 1, 2, 3, 8, 9, 10, 11) +
         __builtin_shufflevector(u0, u1, 4, 5, 6, 7, 12, 13, 14, 15);
}

/// The loss of eight lanes, each with its own parameter (beta, or the IPO target): eight runs at
/// one row (HostTileKernel) or eight rows of one run (loss_lanes), by the same operations, so a
/// lane's bits do not depend on which. DPO: the AVX-512 exp and log1p of
/// core/fast_math_avx512.hpp where the host has them, otherwise lanes::dpo (the scalar
/// functor's bits, on vectors).
KOKKOS_INLINE_FUNCTION void loss_runs(const DpoLoss& /*type*/, const v8d& beta, const v8d& h,
                                      v8d& value, v8d& slope) {
#if defined(GRPO_HAVE_AVX512_MATH)
  using math::avx512::kAll;
  const auto x = reinterpret_cast<__m512d>(beta * h);
  const __m512d negative_abs = _mm512_castsi512_pd(
      _mm512_or_si512(_mm512_castpd_si512(x), _mm512_castpd_si512(_mm512_set1_pd(-0.0))));
  const __m512d e = math::avx512::exp_nonpositive(negative_abs);
  __m512d inverse;
  const __m512d log_term = math::avx512::log1p_unit(e, inverse);
  value = reinterpret_cast<v8d>(
      _mm512_sub_pd(log_term, _mm512_maskz_min_pd(kAll, x, _mm512_setzero_pd())));
  const __mmask8 nonnegative = _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_GE_OQ);
  const __m512d chosen = _mm512_mask_blend_pd(nonnegative, _mm512_set1_pd(1.0), e);
  slope = reinterpret_cast<v8d>(
      _mm512_mul_pd(_mm512_mul_pd(reinterpret_cast<__m512d>(-beta), chosen), inverse));
#else
  lanes::dpo(beta, h, value, slope);
#endif
}

KOKKOS_INLINE_FUNCTION void loss_runs(const IpoLoss& /*type*/, const v8d& target, const v8d& h,
                                      v8d& value, v8d& slope) {
  const v8d r = h - target;
  value = r * r;
  slope = 2.0 * r;
}

/// The loss of eight margins of one run (value and slope per lane): loss_runs with the run's
/// parameter in every lane.
KOKKOS_INLINE_FUNCTION void loss_lanes(const DpoLoss& loss, const v8d& h, v8d& value, v8d& slope) {
  loss_runs(loss, v8d{} + loss.m_beta, h, value, slope);
}

KOKKOS_INLINE_FUNCTION void loss_lanes(const IpoLoss& loss, const v8d& h, v8d& value, v8d& slope) {
  loss_runs(loss, v8d{} + loss.m_target, h, value, slope);
}

/// The host kernel for D = 8, 16, 32, 64 with explicit 8-wide vectors (row-major features):
/// contiguous loads, margins as vectorized dot products, the loss eight rows at a time, the
/// gradient in D/8 registers.
template <int D, class Loss, bool Indexed>
struct HostChunkKernel : ChunkKernel<D, Loss, Indexed> {
  static_assert(D % 8 == 0, "HostChunkKernel needs D to be a multiple of 8");
  static constexpr int kVectors = D / 8;
  static constexpr int kGroups = kBlock / 8;
  static constexpr int kPrefetchBytes = 64 << 10;

  /// The reference log-ratios of rows start, ..., start + 7 (the first `count` of them; the
  /// others repeat the last).
  v8d references(index_t start, int count) const {
    if constexpr (!Indexed) {
      if (count == 8) {
        return load8(this->m_ref.data() + start);
      }
    }
    v8d ref;
    for (int l = 0; l < 8; ++l) {
      ref[l] = static_cast<double>(this->m_ref(this->row(start + (l < count ? l : count - 1))));
    }
    return ref;
  }

  /// One block of rows start, ..., start + n - 1 (n = kBlock when Full): for every 8 rows, the
  /// margins as vectorized dot products (each row converted to double once and kept in L1) and
  /// their loss; then the block's gradient terms. Full blocks have fixed trip counts and
  /// addresses; a short last block repeats its last row to fill a group of 8.
  template <bool Full>
  [[gnu::always_inline]] inline void block(index_t start, int n, const v8d* theta, v8d* grad,
                                           v8d& loss_sum) const {
    if constexpr (Full) {
      n = kBlock;
    }
    const float* const features = this->m_z.data();
    v8d converted[kBlock][kVectors];
    v8d slope[kGroups];
    for (int g = 0; 8 * g < n; ++g) {
      v8d acc[8];
      for (int q = 0; q < 8; ++q) {
        const int r = Full || 8 * g + q < n ? 8 * g + q : n - 1;
        const float* zi = features + this->row(start + r) * D;
        if constexpr (!Indexed) {
          // The hardware prefetchers alone leave memory idle while the core computes: without
          // this the step at N = 2^22 took 20 % longer (bench/README.md). 64 KiB ahead, to L1.
          for (int line = 0; line < D * 4; line += 64) {
            __builtin_prefetch(reinterpret_cast<const char*>(zi) + kPrefetchBytes + line, 0, 3);
          }
        }
        converted[r][0] = load8(zi);
        acc[q] = theta[0] * converted[r][0];
        for (int b = 1; b < kVectors; ++b) {
          converted[r][b] = load8(zi + 8 * b);
          acc[q] += theta[b] * converted[r][b];
        }
      }
      const int count = Full || n - 8 * g >= 8 ? 8 : n - 8 * g;
      const v8d h = sum8x8(acc) - references(start + 8 * g, count);
      v8d value;
      loss_lanes(this->m_loss, h, value, slope[g]);
      if constexpr (!Full) {
        for (int l = count; l < 8; ++l) {
          value[l] = 0.0;
        }
      }
      loss_sum += value;
    }
    if (this->m_gradient) {
      // Two accumulator sets (even and odd rows): one set is a chain of D/8 dependent FMAs per
      // row, which would hold the FMA units to their latency.
      v8d odd[kVectors] = {};
      int r = 0;
      for (; r + 1 < n; r += 2) {
        const double s = slope[r / 8][r % 8];
        const double t = slope[(r + 1) / 8][(r + 1) % 8];
        for (int b = 0; b < kVectors; ++b) {
          grad[b] += s * converted[r][b];
          odd[b] += t * converted[r + 1][b];
        }
      }
      if (r < n) {
        const double s = slope[r / 8][r % 8];
        for (int b = 0; b < kVectors; ++b) {
          grad[b] += s * converted[r][b];
        }
      }
      for (int b = 0; b < kVectors; ++b) {
        grad[b] += odd[b];
      }
    }
  }

  void operator()(const index_t c) const {
    v8d theta[kVectors];
    v8d grad[kVectors];
    for (int b = 0; b < kVectors; ++b) {
      for (int l = 0; l < 8; ++l) {
        theta[b][l] = this->m_theta(8 * b + l);
      }
      grad[b] = v8d{};
    }
    const index_t begin = this->m_chunk_begin(c);
    const index_t end = this->m_chunk_end(c);
    v8d loss_lanes_sum{};
    index_t start = begin;
    for (; start + kBlock <= end; start += kBlock) {
      block<true>(start, kBlock, theta, grad, loss_lanes_sum);
    }
    if (start < end) {
      block<false>(start, static_cast<int>(end - start), theta, grad, loss_lanes_sum);
    }
    double loss_sum = 0.0;
    for (int l = 0; l < 8; ++l) {
      loss_sum += loss_lanes_sum[l];
    }
    this->m_partial(c, 0) = loss_sum;
    if (this->m_gradient) {
      for (int b = 0; b < kVectors; ++b) {
        for (int l = 0; l < 8; ++l) {
          this->m_partial(c, 1 + 8 * b + l) = grad[b][l];
        }
      }
    }
  }
};
/// Keeps the compiler from fusing the operation that made `v` with the one that uses it (a
/// multiply and an add into an FMA): the tiles of eight runs round as the one-run code does.
/// (Through memory: an eight-double vector is two registers without AVX-512.)
[[gnu::always_inline]] inline void opaque(v8d& v) { asm("" : "+m"(v)); }

/// Most tiles one launch of HostTileKernel serves (their accumulators live on the stack).
constexpr int kTilesPerLaunch = 8;

/// Eight runs at a time on the host for D = 8, 16, 32, 64 (row-major features): a tile of eight
/// runs holds their parameters as D vectors whose lanes are the runs, and each row's features
/// are broadcast against them, in the operations and order of HostChunkKernel lane by lane
/// (the same lane sums and reduction tree, loss, even/odd gradient sets and final sums), so a
/// run's sums in a tile are bit for bit those of its own pass. A launch serves `m_tiles` tiles
/// from run `m_first` and reads each block of rows once for all of them.
template <int D, class Loss, bool Indexed>
struct HostTileKernel {
  static_assert(D % 8 == 0, "HostTileKernel needs D to be a multiple of 8");
  static constexpr int kVectors = D / 8;
  static constexpr int kPrefetchBytes = 64 << 10;
  Kokkos::View<const float**, MemSpace> m_z;
  Kokkos::View<const float*, MemSpace> m_ref;
  FusedLossGradient::Thetas m_thetas;             ///< [runs][d]
  Kokkos::View<const double*, MemSpace> m_params; ///< per run: the loss functor's parameter
  Kokkos::View<const index_t*, MemSpace> m_rows;
  Kokkos::View<const index_t*, MemSpace> m_chunk_begin;
  Kokkos::View<const index_t*, MemSpace> m_chunk_end;
  Kokkos::View<double***, Kokkos::LayoutRight, MemSpace> m_partial; ///< [runs][chunks][1 + d]
  bool m_gradient;
  int m_first;
  int m_tiles;

  index_t row(index_t position) const {
    if constexpr (Indexed) {
      return m_rows(position);
    } else {
      return position;
    }
  }

  /// One block for one tile of eight runs: `z` holds the block's rows in double ([kBlock][D]),
  /// `ref` their reference log-ratios; `theta` and `grad` are [D] (lane = run), `lanes` [8]:
  /// the loss sums by row position modulo 8, as the one-run code's lanes.
  template <bool Full>
  [[gnu::always_inline]] inline void tile_block(int n, const double (*z)[D], const double* ref,
                                                const v8d& param, const v8d* theta, v8d* grad,
                                                v8d* lanes) const {
    if constexpr (Full) {
      n = kBlock;
    }
    v8d slope[kBlock];
    for (int r = 0; r < n; ++r) {
      v8d acc[8];
      for (int l = 0; l < 8; ++l) {
        acc[l] = theta[l] * z[r][l];
      }
      for (int b = 1; b < kVectors; ++b) {
        for (int l = 0; l < 8; ++l) {
          acc[l] += theta[8 * b + l] * z[r][8 * b + l];
        }
      }
      // The one-run code adds the lane sums through shuffles, which no multiply reaches: the
      // same here (with D = 8 the compiler would fuse the first additions with the products;
      // with D >= 16 the lane sums come out of FMAs, which nothing fuses with).
      if constexpr (kVectors == 1) {
        for (v8d& lane_sum : acc) {
          opaque(lane_sum);
        }
      }
      const v8d h =
          (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) -
          ref[r];
      v8d value;
      loss_runs(Loss{}, param, h, value, slope[r]);
      if constexpr (!Full) {
        // The one-run code's short blocks zero lanes of the loss before adding it (so an IPO
        // square is rounded before the addition, not fused with it): the same here.
        opaque(value);
      }
      lanes[r % 8] += value;
    }
    if constexpr (!Full) {
      for (int l = n % 8 == 0 ? 8 : n % 8; l < 8; ++l) {
        lanes[l] += v8d{}; // the one-run code adds zeros to the lanes past a short block's end
      }
    }
    if (m_gradient) {
      for (int jb = 0; jb < D; jb += 8) {
        v8d even[8];
        v8d odd[8];
        for (int q = 0; q < 8; ++q) {
          even[q] = grad[jb + q];
          odd[q] = v8d{};
        }
        int r = 0;
        for (; r + 1 < n; r += 2) {
          for (int q = 0; q < 8; ++q) {
            even[q] += slope[r] * z[r][jb + q];
            odd[q] += slope[r + 1] * z[r + 1][jb + q];
          }
        }
        if (r < n) {
          for (int q = 0; q < 8; ++q) {
            even[q] += slope[r] * z[r][jb + q];
          }
        }
        for (int q = 0; q < 8; ++q) {
          grad[jb + q] = even[q] + odd[q];
        }
      }
    }
  }

  /// `tiles` tiles of eight runs from run `first` over chunk c, every block of rows read once.
  void tiles_pass(const index_t c, const int first, const int tiles) const {
    v8d theta[kTilesPerLaunch][D];
    v8d grad[kTilesPerLaunch][D];
    v8d lanes[kTilesPerLaunch][8];
    v8d param[kTilesPerLaunch];
    for (int t = 0; t < tiles; ++t) {
      for (int l = 0; l < 8; ++l) {
        const int run = first + 8 * t + l;
        param[t][l] = m_params(run);
        for (int j = 0; j < D; ++j) {
          theta[t][j][l] = m_thetas(run, j);
        }
      }
      for (int j = 0; j < D; ++j) {
        grad[t][j] = v8d{};
      }
      for (int l = 0; l < 8; ++l) {
        lanes[t][l] = v8d{};
      }
    }
    const float* const features = m_z.data();
    const index_t begin = m_chunk_begin(c);
    const index_t end = m_chunk_end(c);
    double z[kBlock][D];
    double ref[kBlock];
    for (index_t start = begin; start < end; start += kBlock) {
      const int n = static_cast<int>(end - start < kBlock ? end - start : kBlock);
      for (int r = 0; r < n; ++r) {
        const index_t i = row(start + r);
        const float* zi = features + i * D;
        if constexpr (!Indexed) {
          for (int line = 0; line < D * 4; line += 64) {
            __builtin_prefetch(reinterpret_cast<const char*>(zi) + kPrefetchBytes + line, 0, 3);
          }
        }
        for (int j = 0; j < D; ++j) {
          z[r][j] = static_cast<double>(zi[j]);
        }
        ref[r] = static_cast<double>(m_ref(i));
      }
      for (int t = 0; t < tiles; ++t) {
        if (n == kBlock) {
          tile_block<true>(n, z, ref, param[t], theta[t], grad[t], lanes[t]);
        } else {
          tile_block<false>(n, z, ref, param[t], theta[t], grad[t], lanes[t]);
        }
      }
    }
    for (int t = 0; t < tiles; ++t) {
      v8d loss_sum{};
      for (int l = 0; l < 8; ++l) {
        loss_sum += lanes[t][l];
      }
      for (int l = 0; l < 8; ++l) {
        const int run = first + 8 * t + l;
        m_partial(run, c, 0) = loss_sum[l];
        if (m_gradient) {
          for (int j = 0; j < D; ++j) {
            m_partial(run, c, 1 + j) = grad[t][j][l];
          }
        }
      }
    }
  }

  void operator()(const index_t c) const { tiles_pass(c, m_first, m_tiles); }
};
#endif

/// The device kernel for D > 0: one team per chunk. Thread t of a team of T takes the rows
/// begin + t, begin + t + T, ..., so the threads of a warp read consecutive rows, which the
/// device's LayoutLeft stores contiguously for each feature: every load is coalesced. A thread
/// keeps its loss and D gradient sums in registers; the team writes them to a [T][D + 1] scratch
/// array, and thread j then adds column j over t = 0, ..., T - 1 in order (deterministic).
template <int D, class Loss, bool Indexed>
struct TeamChunkKernel : ChunkKernel<D, Loss, Indexed> {
  static_assert(D > 0, "TeamChunkKernel needs a compiled feature dimension");
  using Member = Kokkos::TeamPolicy<ExecSpace>::member_type;
  using Scratch = Kokkos::View<double**, Kokkos::LayoutRight, ExecSpace::scratch_memory_space,
                               Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

  static std::size_t scratch_bytes(int team_size) { return Scratch::shmem_size(team_size, D + 1); }

  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    const index_t c = team.league_rank();
    const int threads = team.team_size();
    const int t = team.team_rank();
    const index_t end = this->m_chunk_end(c);
    double grad[D] = {};
    double loss_sum = 0.0;
    for (index_t position = this->m_chunk_begin(c) + t; position < end; position += threads) {
      const index_t i = this->row(position);
      const double h = this->margin(i, this->m_theta.data());
      double value = 0.0;
      double slope = 0.0;
      this->m_loss(h, value, slope);
      loss_sum += value;
      if (this->m_gradient) {
        for (int j = 0; j < D; ++j) {
          grad[j] += slope * static_cast<double>(this->m_z(i, j));
        }
      }
    }
    const Scratch sums(team.team_scratch(0), threads, D + 1);
    sums(t, 0) = loss_sum;
    for (int j = 0; j < D; ++j) {
      sums(t, 1 + j) = grad[j];
    }
    team.team_barrier();
    const int width = this->m_gradient ? D + 1 : 1;
    for (int j = t; j < width; j += threads) {
      double s = 0.0;
      for (int u = 0; u < threads; ++u) {
        s += sums(u, j);
      }
      this->m_partial(c, j) = s;
    }
  }
};

/// Threads per team of the device kernel: 128, fewer where the [T][D + 1] scratch would pass
/// 40 KiB (D = 64: 64 threads), and never more than the backend allows (1 on Serial).
template <int D, class Loss, bool Indexed>
int team_threads(const TeamChunkKernel<D, Loss, Indexed>& kernel) {
  int threads = 128;
  while (threads > 1 && TeamChunkKernel<D, Loss, Indexed>::scratch_bytes(threads) > (40U << 10)) {
    threads /= 2;
  }
  const Kokkos::TeamPolicy<ExecSpace> probe(1, Kokkos::AUTO);
  const int most = probe.team_size_max(kernel, Kokkos::ParallelForTag());
  while (threads > most && threads > 1) {
    threads /= 2;
  }
  return threads;
}

template <int D, class Loss, bool Indexed>
GRPO_FLATTENED inline void launch_chunks(const ChunkKernel<D, Loss, Indexed>& kernel,
                                         index_t chunks) {
  if constexpr (D > 0 && (!kHostExecution || kTeamKernelOnHost)) {
    const TeamChunkKernel<D, Loss, Indexed> team_kernel{kernel};
    // Once per kernel type: team_size_max asks the CUDA runtime, not something for every step.
    static const int threads = team_threads(team_kernel);
    Kokkos::TeamPolicy<ExecSpace> teams(ExecSpace(), static_cast<int>(chunks), threads);
    teams.set_scratch_size(
        0, Kokkos::PerTeam(TeamChunkKernel<D, Loss, Indexed>::scratch_bytes(threads)));
    Kokkos::parallel_for("grpo::solver::fused::chunks_team", teams, team_kernel);
    return;
  }
  const Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>> policy(ExecSpace(), 0, chunks);
#if defined(GRPO_HOST_SIMD)
  using Layout = typename Kokkos::View<const float**, MemSpace>::array_layout;
  if constexpr (kHostExecution && D >= 8 && D % 8 == 0 &&
                std::is_same<Layout, Kokkos::LayoutRight>::value) {
    // The kernel addresses row i at data() + i * D (LayoutRight without padding).
    if (kernel.m_z.extent(0) == 0 || kernel.m_z.stride(0) == static_cast<std::size_t>(D)) {
      Kokkos::parallel_for("grpo::solver::fused::chunks_simd", policy,
                           HostChunkKernel<D, Loss, Indexed>{kernel});
      return;
    }
  }
#endif
  Kokkos::parallel_for("grpo::solver::fused::chunks", policy, kernel);
}

/// The pass of one run (its parameters `theta`, its partial sums `partial`): the one-run kernels
/// of every backend. Not inlined, and launch_chunks flattened into it, so that every run, alone
/// or in an ensemble, runs the very same machine code (the order of the kernels' SIMD
/// reductions is the compiler's, and it follows the surrounding code).
template <int D, class Loss>
GRPO_NOINLINE void launch_one(const policies::PreferenceSplit& split,
                              const Kokkos::View<const double*, MemSpace>& theta,
                              const Kokkos::View<const index_t*, MemSpace>* rows,
                              const View1<index_t>& chunk_begin, const View1<index_t>& chunk_end,
                              const View2<double>& partial, const Loss& loss, bool with_gradient,
                              index_t chunks) {
  const int dim = split.feature_dim;
  if (rows != nullptr) {
    ChunkKernel<D, Loss, true> k{split.z,     split.ref_logratio, theta,   *rows,
                                 chunk_begin, chunk_end,          partial, loss,
                                 dim,         with_gradient};
    launch_chunks(k, chunks);
  } else {
    ChunkKernel<D, Loss, false> k{split.z,     split.ref_logratio, theta,   {},
                                  chunk_begin, chunk_end,          partial, loss,
                                  dim,         with_gradient};
    launch_chunks(k, chunks);
  }
}

/// Calls f(std::integral_constant<int, D>) with the compiled dimension for `dim` (0: generic).
template <class F>
void with_dimension(int dim, F&& f) {
  switch (dim) {
  case 1:
    return f(std::integral_constant<int, 1>());
  case 2:
    return f(std::integral_constant<int, 2>());
  case 4:
    return f(std::integral_constant<int, 4>());
  case 8:
    return f(std::integral_constant<int, 8>());
  case 16:
    return f(std::integral_constant<int, 16>());
  case 32:
    return f(std::integral_constant<int, 32>());
  case 64:
    return f(std::integral_constant<int, 64>());
  default:
    return f(std::integral_constant<int, 0>());
  }
}

/// Kernel 2: sums(p, r stride + j) = the chunks of piece p of run r added in order, for every
/// run r of the pass and its first `width` columns j.
/// A free function: nvcc rejects a KOKKOS_LAMBDA inside a private member function (run).
void add_piece_chunks(const Kokkos::View<double***, Kokkos::LayoutRight, MemSpace>& partial,
                      const View1<index_t>& piece_chunks, const FusedLossGradient::Sums& sums,
                      index_t pieces, int runs, int stride, int width) {
  Kokkos::parallel_for(
      "grpo::solver::fused::pieces",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(ExecSpace(), 0, pieces),
      KOKKOS_LAMBDA(const index_t p) {
        for (int r = 0; r < runs; ++r) {
          for (int j = 0; j < width; ++j) {
            double s = 0.0;
            for (index_t c = piece_chunks(p); c < piece_chunks(p + 1); ++c) {
              s += partial(r, c, j);
            }
            sums(p, r * stride + j) = s;
          }
        }
      });
}

} // namespace

index_t FusedLossGradient::chunk_rows() { return 4096; }

void FusedLossGradient::layout(const std::vector<index_t>& piece_begin,
                               const std::vector<index_t>& piece_end) {
  if (piece_begin == m_layout_begin && piece_end == m_layout_end && m_piece_chunks.extent(0) > 0) {
    return;
  }
  const index_t step = chunk_rows();
  const auto pieces = piece_begin.size();
  std::vector<index_t> begins;
  std::vector<index_t> ends;
  std::vector<index_t> offsets{0};
  for (std::size_t p = 0; p < pieces; ++p) {
    for (index_t b = piece_begin[p]; b < piece_end[p]; b += step) {
      begins.push_back(b);
      ends.push_back(std::min(b + step, piece_end[p]));
    }
    offsets.push_back(static_cast<index_t>(begins.size()));
  }
  m_num_chunks = static_cast<index_t>(begins.size());
  auto copy = [](const std::vector<index_t>& from, View1<index_t>& to, const char* label) {
    if (to.extent(0) < from.size()) {
      to = View1<index_t>(Kokkos::view_alloc(Kokkos::WithoutInitializing, std::string(label)),
                          std::max<std::size_t>(from.size(), 1));
    }
    auto host = Kokkos::create_mirror_view(to);
    std::copy(from.begin(), from.end(), host.data());
    Kokkos::deep_copy(to, host);
  };
  copy(begins, m_chunk_begin, "grpo::solver::fused::chunk_begin");
  copy(ends, m_chunk_end, "grpo::solver::fused::chunk_end");
  copy(offsets, m_piece_chunks, "grpo::solver::fused::piece_chunks");
  m_layout_begin = piece_begin;
  m_layout_end = piece_end;
}

double FusedLossGradient::loss_parameter(LossType loss, double beta) {
  return with_loss(loss, beta, [](auto functor) {
    if constexpr (std::is_same<decltype(functor), DpoLoss>::value) {
      return functor.m_beta;
    } else {
      return functor.m_target;
    }
  });
}

FusedLossGradient::HostSums FusedLossGradient::run(
    const Thetas& thetas, const std::vector<double>& params, const policies::PreferenceSplit& split,
    LossType loss, bool with_gradient, const Kokkos::View<const index_t*, MemSpace>* rows,
    const std::vector<index_t>& piece_begin, const std::vector<index_t>& piece_end, bool to_host) {
  core::ProfilingRegion region("grpo::solver::fused");
  layout(piece_begin, piece_end);
  const int dim = split.feature_dim;
  const int runs = static_cast<int>(params.size());
  if (runs < 1 || thetas.extent(0) != params.size() ||
      thetas.extent(1) != static_cast<std::size_t>(dim)) {
    throw InternalError("FusedLossGradient: " + std::to_string(thetas.extent(0)) + " x " +
                            std::to_string(thetas.extent(1)) + " parameters for " +
                            std::to_string(runs) + " runs of dimension " + std::to_string(dim),
                        false);
  }
  const int stride = dim + 1;
  const int width = with_gradient ? stride : 1;
  const auto pieces = static_cast<index_t>(piece_begin.size());
  const auto columns = static_cast<std::size_t>(runs) * stride;
  const index_t chunk_rows = std::max<index_t>(m_num_chunks, 1);
  if (m_partial.extent(0) != static_cast<std::size_t>(runs) ||
      m_partial.extent(1) < static_cast<std::size_t>(chunk_rows) ||
      m_partial.extent(2) != static_cast<std::size_t>(stride)) {
    m_partial =
        Partials(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::fused::partial"),
                 runs, chunk_rows, stride);
  }
  if (m_piece_sums.extent(0) != static_cast<std::size_t>(pieces) ||
      m_piece_sums.extent(1) != columns) {
    m_piece_sums = Sums("grpo::solver::fused::piece_sums", pieces, columns);
    m_piece_sums_host = Kokkos::create_mirror_view(m_piece_sums);
  }
  if (params != m_params) {
    if (m_params_dev.extent(0) != params.size()) {
      m_params_dev = View1<double>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::fused::params"),
          params.size());
    }
    Kokkos::deep_copy(
        m_params_dev,
        Kokkos::View<const double*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
            params.data(), params.size()));
    m_params = params;
  }
  m_runs = runs;
  m_dim = dim;
  const std::size_t partial_stride = m_partial.extent(1) * m_partial.extent(2);
  with_loss(loss, 1.0, [&](auto type) {
    using Loss = decltype(type);
    with_dimension(dim, [&](auto fixed) {
      constexpr int D = decltype(fixed)::value;
      // Runs eight at a time where the host's tile kernel applies, the others one at a time
      // with the one-run kernels (their own launch each: the single run's code, unchanged).
      int tiled = 0;
#if defined(GRPO_HOST_SIMD)
      using Layout = typename Kokkos::View<const float**, MemSpace>::array_layout;
      if constexpr (kHostExecution && !kTeamKernelOnHost && D >= 8 && D % 8 == 0 &&
                    std::is_same<Layout, Kokkos::LayoutRight>::value) {
        if (runs >= 8 &&
            (split.z.extent(0) == 0 || split.z.stride(0) == static_cast<std::size_t>(D))) {
          tiled = runs / 8 * 8;
          const Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>> policy(ExecSpace(), 0,
                                                                                  m_num_chunks);
          for (int first = 0; first < tiled; first += 8 * kTilesPerLaunch) {
            const int tiles = std::min(kTilesPerLaunch, (tiled - first) / 8);
            if (rows != nullptr) {
              Kokkos::parallel_for(
                  "grpo::solver::fused::chunks_tiles", policy,
                  HostTileKernel<D, Loss, true>{split.z, split.ref_logratio, thetas, m_params_dev,
                                                *rows, m_chunk_begin, m_chunk_end, m_partial,
                                                with_gradient, first, tiles});
            } else {
              Kokkos::parallel_for("grpo::solver::fused::chunks_tiles", policy,
                                   HostTileKernel<D, Loss, false>{split.z,
                                                                  split.ref_logratio,
                                                                  thetas,
                                                                  m_params_dev,
                                                                  {},
                                                                  m_chunk_begin,
                                                                  m_chunk_end,
                                                                  m_partial,
                                                                  with_gradient,
                                                                  first,
                                                                  tiles});
            }
          }
        }
      }
#endif
      for (int r = tiled; r < runs; ++r) {
        launch_one<D, Loss>(
            split, Kokkos::View<const double*, MemSpace>(thetas.data() + r * thetas.stride(0), dim),
            rows, m_chunk_begin, m_chunk_end,
            View2<double>(m_partial.data() + r * partial_stride, m_partial.extent(1), stride),
            Loss{params[r]}, with_gradient, m_num_chunks);
      }
    });
  });
  add_piece_chunks(m_partial, m_piece_chunks, m_piece_sums, pieces, runs, stride, width);
  if (to_host) {
    Kokkos::deep_copy(m_piece_sums_host, m_piece_sums);
  }
  return m_piece_sums_host;
}

FusedLossGradient::HostSums FusedLossGradient::run_one(
    const policies::LogLinearPolicy& policy, const policies::PreferenceSplit& split, LossType loss,
    double beta, bool with_gradient, const Kokkos::View<const index_t*, MemSpace>* rows,
    const std::vector<index_t>& piece_begin, const std::vector<index_t>& piece_end, bool to_host) {
  const auto params = policy.params();
  const Thetas theta(params.data(), 1, params.extent(0));
  m_one_param.assign(1, loss_parameter(loss, beta));
  return run(theta, m_one_param, split, loss, with_gradient, rows, piece_begin, piece_end, to_host);
}

FusedLossGradient::HostSums FusedLossGradient::full(const policies::LogLinearPolicy& policy,
                                                    const policies::PreferenceSplit& split,
                                                    LossType loss, double beta,
                                                    bool with_gradient) {
  const auto params = policy.params();
  m_one_param.assign(1, loss_parameter(loss, beta));
  return full_runs(Thetas(params.data(), 1, params.extent(0)), m_one_param, split, loss,
                   with_gradient);
}

FusedLossGradient::HostSums FusedLossGradient::full_runs(const Thetas& thetas,
                                                         const std::vector<double>& params,
                                                         const policies::PreferenceSplit& split,
                                                         LossType loss, bool with_gradient) {
  std::vector<index_t> begin;
  std::vector<index_t> end;
  for (const auto& piece : split.pieces) {
    begin.push_back(piece.local_begin);
    end.push_back(piece.local_begin + piece.size());
  }
  return run(thetas, params, split, loss, with_gradient, nullptr, begin, end, true);
}

FusedLossGradient::HostSums
FusedLossGradient::batch(const policies::LogLinearPolicy& policy,
                         const policies::PreferenceSplit& split, LossType loss, double beta,
                         const Kokkos::View<const index_t*, MemSpace>& rows,
                         const std::vector<index_t>& piece_offsets) {
  std::vector<index_t> begin(piece_offsets.begin(), piece_offsets.end() - 1);
  std::vector<index_t> end(piece_offsets.begin() + 1, piece_offsets.end());
  return run_one(policy, split, loss, beta, true, &rows, begin, end, true);
}

} // namespace grpo::solver
