// Google Benchmark program for the MLP policy (bench/README.md): one training step over a batch
// of preference pairs (forward of chosen and rejected rows, IPO slopes, backward, Adam update)
// at several network shapes, in pairs/s and GFLOP/s against the peak of one core measured in
// the same program (an FMA loop and a 512^3 DGEMM through KokkosBlas). One core (one rank);
// under mpirun only rank 0 reports. Rates (and the peaks) come from the thread's CPU time, so
// that they hold while the other core of a shared machine is busy; medians of 7 repetitions
// (3 steps each, after a warm-up step) are the figures to quote.
//
// Counted flops of a step with R = 2 B feature rows and widths n_0 = d, n_1 .. n_L (2 per
// multiply-add, matrix products only; bias adds, activations, the loss and Adam are not
// counted, they are O(R sum n_l) and O(P)):
//   forward   2 R (sum_{l<L} n_l n_{l+1} + n_L)
//   backward  2 R (sum_{l<L} n_l n_{l+1}          weight gradients
//                  + sum_{1<=l<L} n_l n_{l+1}     deltas into hidden layers (none into the input)
//                  + sum_{l<L} n_{l+1}            bias gradients (products with a ones vector)
//                  + n_L)                         output-layer gradient
#include "core/config.hpp"
#include "core/environment.hpp"
#include "core/rng.hpp"
#include "policies/mlp_policy.hpp"
#include "solver/optimizer.hpp"

#if GRPO_HAVE_KOKKOSKERNELS
#include <KokkosBlas3_gemm.hpp>
#endif

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <vector>

namespace {

using namespace grpo;
using policies::Activation;

constexpr int kReps = 7;
constexpr int kWarmup = 1;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// CPU seconds of the calling thread: the rates below use it, so that they hold on a shared
/// machine whose other core is busy (the Time column of the report stays wall time).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// GFLOP/s of independent fused multiply-adds: 64 accumulators (8 AVX-512 or 16 AVX2 vectors,
/// enough chains to hide the FMA latency on two pipes), 2 flops each per iteration.
double fma_gflops() {
  constexpr int kLanes = 64;
  constexpr long kIters = 4000000;
  alignas(64) double acc[kLanes];
  for (int k = 0; k < kLanes; ++k) {
    acc[k] = 1e-3 * k;
  }
  const double a = 0.9999999;
  const double b = 1e-9;
  const double t0 = thread_cpu_seconds();
  for (long it = 0; it < kIters; ++it) {
#pragma GCC unroll 8
    for (int k = 0; k < kLanes; ++k) {
      acc[k] = std::fma(acc[k], a, b);
    }
  }
  benchmark::DoNotOptimize(acc);
  return 2.0 * kLanes * kIters / (thread_cpu_seconds() - t0) * 1e-9;
}

/// GFLOP/s of C = A B for 512 x 512 double matrices through KokkosBlas::gemm (the BLAS the MLP
/// kernels use); 0 without KokkosKernels.
double dgemm_gflops() {
#if GRPO_HAVE_KOKKOSKERNELS
  constexpr int n = 512;
  using M = Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>;
  M a("grpo::bench::a", n, n);
  M b("grpo::bench::b", n, n);
  M c("grpo::bench::c", n, n);
  Kokkos::deep_copy(a, 0.5);
  Kokkos::deep_copy(b, 0.25);
  KokkosBlas::gemm("N", "N", 1.0, a, b, 0.0, c);
  const int reps = 3;
  const double t0 = thread_cpu_seconds();
  for (int r = 0; r < reps; ++r) {
    KokkosBlas::gemm("N", "N", 1.0, a, b, 0.0, c);
  }
  Kokkos::fence();
  return 2.0 * n * n * n * reps / (thread_cpu_seconds() - t0) * 1e-9;
#else
  return 0.0;
#endif
}

/// The two peaks, median of kReps measurements after a warm-up, measured once per process.
struct Peaks {
  double fma = 0.0;
  double dgemm = 0.0;
};

const Peaks& peaks() {
  static const Peaks measured = [] {
    fma_gflops();
    dgemm_gflops();
    std::vector<double> f;
    std::vector<double> g;
    for (int r = 0; r < kReps; ++r) {
      f.push_back(fma_gflops());
      g.push_back(dgemm_gflops());
    }
    return Peaks{median(f), median(g)};
  }();
  return measured;
}

void BM_PeakOneCore(benchmark::State& state) {
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(peaks());
    state.SetIterationTime(seconds_since(t0));
  }
  state.counters["fma_GFLOPs"] = peaks().fma;
  state.counters["dgemm512_GFLOPs"] = peaks().dgemm;
}

double step_flops(const policies::MlpConfig& c, double rows) {
  double products = 0.0;
  double deltas = 0.0;
  double biases = 0.0;
  for (int l = 0; l < c.num_hidden(); ++l) {
    products += double(c.width(l)) * c.width(l + 1);
    biases += c.width(l + 1);
    if (l >= 1) {
      deltas += double(c.width(l)) * c.width(l + 1);
    }
  }
  const double out = c.width(c.num_hidden());
  return 2.0 * rows * ((products + out) + (products + deltas + biases + out));
}

/// One training step on B = range(2) pairs drawn from a table of 8 B pairs, d = range(3):
/// hidden layers range(1) x width range(0), activation range(4) (0 relu, 1 tanh, 2 gelu).
void BM_MlpTrainStep(benchmark::State& state) {
  const int width = static_cast<int>(state.range(0));
  const int layers = static_cast<int>(state.range(1));
  const index_t batch = state.range(2);
  const int dim = static_cast<int>(state.range(3));
  policies::MlpConfig c;
  c.input_dim = dim;
  c.hidden.assign(layers, width);
  c.activation = state.range(4) == 0   ? Activation::Relu
                 : state.range(4) == 1 ? Activation::Tanh
                                       : Activation::Gelu;
  const ExecSpace space;
  const policies::MlpPolicy policy(c, 1);
  policies::MlpWorkspace ws(c, 2 * batch);
  solver::Optimizer adam(solver::OptimizerConfig::defaults(solver::OptimizerType::Adam),
                         policy.num_params());

  const index_t table = 8 * batch;
  Kokkos::View<float**, MemSpace> chosen("grpo::bench::chosen", table, dim);
  Kokkos::View<float**, MemSpace> rejected("grpo::bench::rejected", table, dim);
  Kokkos::parallel_for(
      "grpo::bench::mlp_features",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, table * dim),
      KOKKOS_LAMBDA(const index_t k) {
        const index_t i = k / dim;
        const index_t j = k - i * dim;
        chosen(i, j) = static_cast<float>(2.0 * rng::to_unit(rng::hash(1, i, j)) - 1.0);
        rejected(i, j) = static_cast<float>(2.0 * rng::to_unit(rng::hash(2, i, j)) - 1.0);
      });
  View1<index_t> index("grpo::bench::index", batch);
  View1<double> margins("grpo::bench::margins", batch);
  View1<double> coeff("grpo::bench::coeff", batch);
  View1<double> grad("grpo::bench::grad", policy.num_params());
  const auto params = policy.params();
  const double target = 0.5 / 0.1; // IPO, beta = 0.1
  std::uint64_t draw = 0;

  const auto step = [&] {
    // A fresh mini-batch (the index draw is part of the step, as in training).
    const std::uint64_t key = draw++;
    Kokkos::parallel_for(
        "grpo::bench::mlp_draw",
        Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, batch),
        KOKKOS_LAMBDA(const index_t i) {
          index(i) = rng::to_index(rng::hash(3, key, static_cast<std::uint64_t>(i)), table);
        });
    const auto rows = policies::RowSelection::rows(index);
    policy.pair_margins(space, ws, chosen, rejected, rows, margins);
    const double scale = 2.0 / static_cast<double>(batch);
    Kokkos::parallel_for(
        "grpo::bench::mlp_ipo_slope",
        Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, batch),
        KOKKOS_LAMBDA(const index_t i) { coeff(i) = scale * (margins(i) - target); });
    Kokkos::deep_copy(space, grad, 0.0);
    policy.accumulate_pair_gradient(space, ws, coeff, grad);
    adam.step(space, params, grad);
    space.fence();
  };

  for (int w = 0; w < kWarmup; ++w) {
    step();
  }
  double total = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_seconds();
    step();
    total += thread_cpu_seconds() - c0;
    state.SetIterationTime(seconds_since(t0));
  }
  const double steps = static_cast<double>(state.iterations());
  const double flops = step_flops(c, 2.0 * batch);
  const double gflops = flops * steps / total * 1e-9;
  state.counters["pairs_per_s"] = batch * steps / total;
  state.counters["GFLOPs"] = gflops;
  state.counters["GFLOP_per_step"] = flops * 1e-9;
  state.counters["frac_fma_peak"] = gflops / peaks().fma;
  state.counters["frac_dgemm512"] = peaks().dgemm > 0.0 ? gflops / peaks().dgemm : 0.0;
  state.counters["params"] = static_cast<double>(policy.num_params());
  state.SetLabel(c.describe());
}

/// The reporter of ranks other than 0.
class Silent : public benchmark::BenchmarkReporter {
public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

} // namespace

BENCHMARK(BM_PeakOneCore)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MlpTrainStep)
    ->ArgNames({"width", "layers", "pairs", "d", "act"})
    ->Args({64, 1, 4096, 64, 0})
    ->Args({256, 2, 4096, 64, 0})
    ->Args({256, 2, 4096, 64, 1})
    ->UseManualTime()
    ->Iterations(3)
    ->Repetitions(kReps)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  core::Environment env(argc, argv);
  bool file_output = false; // --benchmark_out=FILE: only rank 0 may write it
  for (int i = 1; i < argc; ++i) {
    file_output = file_output || std::string(argv[i]).rfind("--benchmark_out=", 0) == 0;
  }
  env.start_kokkos(core::kokkos_arguments(argc, argv));
  benchmark::Initialize(&argc, argv);
  {
    if (env.world_rank() == 0) {
      benchmark::RunSpecifiedBenchmarks();
    } else {
      Silent silent;
      if (file_output) {
        benchmark::RunSpecifiedBenchmarks(&silent, &silent);
      } else {
        benchmark::RunSpecifiedBenchmarks(&silent);
      }
    }
  }
  benchmark::Shutdown();
  return 0;
}
