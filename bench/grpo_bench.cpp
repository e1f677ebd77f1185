// Google Benchmark programs for the log-linear solver (bench/README.md). Runs the same under
// mpirun -n N: iteration counts are fixed so that every rank executes the same collectives,
// times come from rank 0 between barriers, and only rank 0 reports.
#include "bench/bench_data.hpp"
#include "core/environment.hpp"
#include "solver/minimax_solver.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

using namespace grpo;

Communicator& world() {
  static Communicator comm;
  return comm;
}

/// Wall time of f() on rank 0 between two barriers.
template <class F>
double timed(F&& f) {
  world().barrier();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  Kokkos::fence();
  world().barrier();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// (a) The roofline: a streaming sum of float32 over an array far larger than the caches (512
// MiB, the size of the features of the N = 2^22, d = 32 step), on one core of each rank.
void BM_ReadBandwidth(benchmark::State& state) {
  const auto n = static_cast<index_t>(state.range(0));
  View1<float> data(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::bench::stream"), n);
  Kokkos::parallel_for(
      "grpo::bench::stream_fill",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(ExecSpace(), 0, n),
      KOKKOS_LAMBDA(const index_t i) { data(i) = static_cast<float>(i % 7); });
  Kokkos::fence();
  constexpr int kLanes = 16;
  const index_t blocks = n / kLanes;
  for (auto _ : state) {
    double sum = 0.0;
    state.SetIterationTime(timed([&] {
      Kokkos::parallel_reduce(
          "grpo::bench::stream_sum",
          Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(ExecSpace(), 0, blocks / 64),
          KOKKOS_LAMBDA(const index_t b, double& s) {
            float acc[kLanes] = {};
            for (index_t k = b * 64; k < (b + 1) * 64; ++k) {
              for (int l = 0; l < kLanes; ++l) {
                acc[l] += data(k * kLanes + l);
              }
            }
            float t = 0.0f;
            for (int l = 0; l < kLanes; ++l) {
              t += acc[l];
            }
            s += t;
          },
          sum);
    }));
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<std::int64_t>(sizeof(float)));
}

// The copy ceiling: Kokkos::deep_copy between two Views of the default memory space, counting
// bytes read plus bytes written (on a GPU, the device-to-device copy that bench/gpu-check.sh
// compares the step with; on a CPU, one core's memcpy).
void BM_CopyBandwidth(benchmark::State& state) {
  const auto n = static_cast<index_t>(state.range(0));
  View1<float> from(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::bench::copy_from"), n);
  View1<float> to(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::bench::copy_to"), n);
  Kokkos::deep_copy(from, 1.0f);
  Kokkos::deep_copy(to, 0.0f);
  Kokkos::fence();
  for (auto _ : state) {
    state.SetIterationTime(timed([&] { Kokkos::deep_copy(to, from); }));
  }
  state.SetBytesProcessed(state.iterations() * 2 * n * static_cast<std::int64_t>(sizeof(float)));
}

struct StepFixture {
  policies::PreferenceSplit split;
  std::unique_ptr<solver::MinimaxSolver> solver;
};

/// One full-batch step of `method` on N rows of dimension d in K equal groups (N per rank
/// when weak scaling).
StepFixture make_step(solver::Method method, index_t n, int dim, int k, bool closed_form = false) {
  StepFixture f;
  f.split = bench::synthetic_split(bench::equal_offsets(n, k), dim, world().rank(), world().size());
  solver::SolverConfig c;
  c.method = method;
  c.closed_form = closed_form;
  c.beta = method == solver::Method::GrIpo ? 0.5 : 1.0;
  c.step_theta = 1e-3;
  c.step_alpha = 1e-3;
  c.iterations = 1 << 30;
  c.param_limit = 0.1;
  f.solver = std::make_unique<solver::MinimaxSolver>(c, world(), f.split,
                                                     solver::MinimaxSolver::initial_theta(c, dim));
  return f;
}

void run_steps(benchmark::State& state, StepFixture& f, index_t bytes) {
  f.solver->step(); // warm-up
  for (auto _ : state) {
    state.SetIterationTime(timed([&] { f.solver->step(); }));
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["ranks"] = world().size();
}

// (b), (d) GR-DPO full-batch step: N = range(0) rows in total (strong) or per rank (weak).
void BM_GrDpoStep(benchmark::State& state) {
  const bool weak = state.range(3) != 0;
  const index_t n = state.range(0) * (weak ? world().size() : 1);
  const int dim = static_cast<int>(state.range(1));
  const int k = static_cast<int>(state.range(2));
  auto f = make_step(solver::Method::GrDpo, n, dim, k);
  // Bytes this rank streams per step: its share of the float32 features and of the float32
  // reference log-ratios (one more value per row).
  run_steps(state, f, f.split.local_rows() * (dim + 1) * static_cast<index_t>(sizeof(float)));
}

// (c) GR-IPO steps through the per-group sufficient statistics: gradient (range(2) = 0) and
// closed form (1); the cost must not depend on N.
void BM_GrIpoStatisticsStep(benchmark::State& state) {
  auto f = make_step(solver::Method::GrIpo, state.range(0), static_cast<int>(state.range(1)), 8,
                     state.range(2) != 0);
  run_steps(state, f, 0);
}

// (i) The run axis: one step of an ensemble of R GR-DPO runs on one dataset of N rows, d
// features and K groups (MinimaxSolver::step_runs: one pass over the features for all runs, one
// Allreduce). The runs differ in seed (theta_0), step sizes and beta. Reported per run-step:
// the time of a step of the ensemble divided by R; the counter `runs` is R.
void BM_EnsembleStep(benchmark::State& state) {
  const index_t n = state.range(0);
  const int dim = static_cast<int>(state.range(1));
  const int k = static_cast<int>(state.range(2));
  const int runs = static_cast<int>(state.range(3));
  const auto split =
      bench::synthetic_split(bench::equal_offsets(n, k), dim, world().rank(), world().size());
  std::vector<std::unique_ptr<solver::MinimaxSolver>> solvers;
  std::vector<solver::MinimaxSolver*> pointers;
  for (int r = 0; r < runs; ++r) {
    solver::SolverConfig c;
    c.method = solver::Method::GrDpo;
    c.beta = 0.5 + 0.01 * r;
    c.step_theta = 1e-3 * (1 + r % 5);
    c.step_alpha = 1e-3 * (1 + r % 3);
    c.iterations = 1 << 30;
    c.param_limit = 0.1;
    c.seed = 2021 + static_cast<std::uint64_t>(r);
    solvers.push_back(std::make_unique<solver::MinimaxSolver>(
        c, world(), split, solver::MinimaxSolver::initial_theta(c, dim)));
    pointers.push_back(solvers.back().get());
  }
  solver::StepScratch scratch;
  std::vector<solver::StepOutcome> outcomes(runs);
  const auto step = [&] {
    solver::MinimaxSolver::step_runs(pointers.data(), runs, scratch, outcomes.data());
  };
  step(); // warm-up
  for (auto _ : state) {
    state.SetIterationTime(timed(step) / runs);
  }
  state.counters["runs"] = runs;
  state.counters["ranks"] = world().size();
}

constexpr int kReps = 7;

/// The reporter of ranks other than 0.
class Silent : public benchmark::BenchmarkReporter {
public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

} // namespace

BENCHMARK(BM_ReadBandwidth)
    ->Arg(1 << 27)
    ->UseManualTime()
    ->Iterations(5)
    ->Repetitions(kReps)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CopyBandwidth)
    ->Arg(1 << 27)
    ->UseManualTime()
    ->Iterations(5)
    ->Repetitions(kReps)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GrDpoStep)
    ->ArgNames({"N", "d", "K", "weak"})
    ->Args({1 << 22, 32, 8, 0})
#if defined(KOKKOS_ENABLE_CUDA)
    // A GPU streams 2^22 rows in about 0.2 ms, close to the fixed cost of a step's launches and
    // host work: 2 GiB of features show the streaming rate.
    ->Args({1 << 24, 32, 8, 0})
#endif
    ->Args({1 << 15, 32, 8, 0})
    ->Args({1 << 22, 32, 2, 0})
    ->Args({1 << 22, 32, 64, 0})
    ->Args({1 << 22, 32, 4096, 0})
    ->Args({1 << 22, 32, 8, 1})
    ->UseManualTime()
    ->Iterations(10)
    ->Repetitions(kReps)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GrIpoStatisticsStep)
    ->ArgNames({"N", "d", "closed"})
    ->Args({1 << 16, 32, 0})
    ->Args({1 << 24, 32, 0})
    ->Args({1 << 16, 32, 1})
    ->Args({1 << 24, 32, 1})
    ->UseManualTime()
    ->Iterations(20)
    ->Repetitions(kReps)
    ->Unit(benchmark::kMicrosecond);

// Paper scale (§5: N = 300, d = 4, K = 2) and the N = 2^22 step of (b), alone and as 64 runs.
BENCHMARK(BM_EnsembleStep)
    ->ArgNames({"N", "d", "K", "R"})
    ->Args({300, 4, 2, 1})
    ->Args({300, 4, 2, 64})
    ->UseManualTime()
    ->Iterations(2000)
    ->Repetitions(kReps)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EnsembleStep)
    ->ArgNames({"N", "d", "K", "R"})
    ->Args({1 << 22, 32, 8, 1})
    ->Args({1 << 22, 32, 8, 64})
    ->UseManualTime()
    ->Iterations(3)
    ->Repetitions(kReps)
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
    if (world().rank() == 0) {
      benchmark::RunSpecifiedBenchmarks();
    } else {
      // Other ranks run the same benchmarks (same collectives) and report nothing.
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
