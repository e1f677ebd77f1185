// Peak resident memory of a training run against the dataset's bytes (bench/README.md, target e).
//   grpo_bench_memory write FILE N D K [VAL]   writes a dataset of N random pairs (plus VAL
//                                              validation pairs) in K equal groups
//   grpo_bench_memory load FILE STEPS          loads it (collectively) and runs STEPS GR-DPO
//                                              steps; prints one JSON line (rank 0)
// Run `load` in a fresh process: ru_maxrss is the peak of the whole process.
#include "bench/bench_data.hpp"
#include "core/environment.hpp"
#include "core/rng.hpp"
#include "io/dataset.hpp"
#include "io/hdf5.hpp"
#include "solver/minimax_solver.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/resource.h>
#include <vector>

namespace {

using namespace grpo;

void write_split(io::DatasetWriter& writer, const std::string& name, index_t n, int d, int k,
                 std::uint64_t seed) {
  const auto offsets = bench::equal_offsets(n, k);
  writer.begin_split(name, offsets);
  const index_t block = index_t{1} << 18;
  std::vector<float> chosen(static_cast<std::size_t>(block * d));
  std::vector<float> rejected(chosen.size());
  for (index_t lo = 0; lo < n; lo += block) {
    const index_t hi = std::min(n, lo + block);
    for (index_t i = lo; i < hi; ++i) {
      for (int j = 0; j < d; ++j) {
        const auto row = static_cast<std::uint64_t>(i);
        const auto col = static_cast<std::uint64_t>(j);
        chosen[(i - lo) * d + j] = static_cast<float>(rng::to_unit(rng::hash(seed, row, col, 0)));
        rejected[(i - lo) * d + j] =
            static_cast<float>(rng::to_unit(rng::hash(seed, row, col, 1)) - 0.1 * (j % 3));
      }
    }
    writer.write_split_rows(name, lo, hi, chosen.data(), rejected.data(), nullptr);
  }
}

int write(const std::string& path, index_t n, int d, int k, index_t val) {
  Communicator comm;
  io::DatasetHeader header;
  header.feature_dim = d;
  for (int g = 0; g < k; ++g) {
    header.group_names.push_back("g" + std::to_string(g));
  }
  header.source = "benchmark";
  io::DatasetWriter writer(path, comm, header);
  write_split(writer, "train", n, d, k, 11);
  if (val > 0) {
    write_split(writer, "val", val, d, k, 12);
  }
  writer.commit();
  return 0;
}

int load(const std::string& path, int steps) {
  Communicator comm;
  const auto data = io::load_dataset(path, comm);
  solver::SolverConfig config;
  config.method = solver::Method::GrDpo;
  config.iterations = steps;
  config.step_theta = 1e-3;
  config.step_alpha = 1e-3;
  solver::MinimaxSolver solver(config, comm, data.train,
                               std::vector<double>(data.summary.feature_dim, 0.1));
  for (int t = 0; t < steps; ++t) {
    solver.step();
  }
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  const double rss = static_cast<double>(usage.ru_maxrss) * 1024.0; // kilobytes on Linux
  // Bytes of this rank's share of the train split as stored: chosen + rejected + ref_logratio.
  const double share = static_cast<double>(data.train.local_rows()) *
                       (2.0 * data.summary.feature_dim + 1.0) * sizeof(float);
  const double worst_ratio = comm.allreduce_max((rss - 64.0 * 1024 * 1024) / share);
  const double rss_max = comm.allreduce_max(rss);
  double share_total = share;
  comm.allreduce_sum(&share_total, 1);
  if (comm.is_root()) {
    std::printf("{\"ranks\": %d, \"train_rows\": %lld, \"dataset_bytes\": %.0f, "
                "\"rank0_share_bytes\": %.0f, \"rank0_peak_rss_bytes\": %.0f, "
                "\"max_peak_rss_bytes\": %.0f, \"max_rss_minus_64MiB_over_share\": %.4f}\n",
                comm.size(), static_cast<long long>(data.train.total_rows()), share_total, share,
                rss, rss_max, worst_ratio);
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  core::Environment env(argc, argv);
  env.start_kokkos();
  io::h5::silence_errors();
  const std::string mode = argc > 1 ? argv[1] : "";
  int status = 2;
  try {
    if (mode == "write" && argc >= 6) {
      status = write(argv[2], std::atoll(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]),
                     argc > 6 ? std::atoll(argv[6]) : 0);
    } else if (mode == "load" && argc >= 4) {
      status = load(argv[2], std::atoi(argv[3]));
    } else {
      std::fprintf(stderr, "usage: grpo_bench_memory write FILE N D K [VAL] | load FILE STEPS\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grpo_bench_memory: %s\n", e.what());
    status = 1;
  }
  return status;
}
