// Reading grpo datasets (io/dataset.hpp): load_dataset partitions each split by sample count and
// reads this rank's rows in blocks straight into device Views (z = chosen - rejected, the
// reference log-ratios, on request the pair features and the schema 1.1 options), checking every
// value for NaN/Inf, and this rank's share of the evaluation states. The file was checked first
// by inspect_dataset (io/dataset.cpp).
#include "core/environment.hpp"
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/dataset_impl.hpp"
#include "solver/group_partition.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <vector>

namespace grpo::io {

using dataset_detail::bad;
using dataset_detail::kLoadBlockRows;

namespace {

/// First global row (from row_begin) whose `width` values are not all finite, or `none`.
index_t first_bad_row(const float* values, std::size_t count, index_t row_begin, std::size_t width,
                      index_t none) {
  for (std::size_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) {
      return row_begin + static_cast<index_t>(i / width);
    }
  }
  return none;
}

/// This rank's option rows of a split (schema 1.1): the local option offsets (rebased to 0), the
/// positions of y_w and y_l, and the option features, read in blocks of option rows. Every rank
/// makes the same number of collective reads; every value is checked for NaN/Inf.
struct LocalOptions {
  std::vector<std::int64_t> offsets; ///< rows + 1 global offsets
  std::vector<std::int32_t> chosen;
  std::vector<std::int32_t> rejected;
  index_t first = 0; ///< first global option row held here
  index_t rows = 0;  ///< option rows held here
};

LocalOptions read_local_options(const h5::File& f, const SplitInfo& info, index_t begin,
                                index_t end, const Communicator& comm) {
  LocalOptions o;
  const auto rows = static_cast<std::size_t>(end - begin);
  o.offsets.resize(rows + 1);
  o.chosen.resize(std::max<std::size_t>(rows, 1));
  o.rejected.resize(std::max<std::size_t>(rows, 1));
  f.read_rows(info.name + "/option_offsets", begin, end + 1, o.offsets.data());
  f.read_rows(info.name + "/chosen_option", begin, end, o.chosen.data());
  f.read_rows(info.name + "/rejected_option", begin, end, o.rejected.data());
  // inspect_dataset validated these; a file changed since must not index out of bounds.
  bool consistent = o.offsets.front() >= 0 && o.offsets.back() <= info.option_rows;
  for (std::size_t i = 0; consistent && i < rows; ++i) {
    const std::int64_t count = o.offsets[i + 1] - o.offsets[i];
    consistent = count >= 2 && o.chosen[i] >= 0 && o.chosen[i] < count && o.rejected[i] >= 0 &&
                 o.rejected[i] < count && o.chosen[i] != o.rejected[i];
  }
  if (comm.any(!consistent)) {
    bad(f.path(), info.name + "/option_offsets",
        "differs from what was inspected (was the file changed while it was read?)");
  }
  o.first = o.offsets.front();
  o.rows = o.offsets.back() - o.first;
  return o;
}

/// Streams this rank's rows of a split in blocks: chosen and rejected rows are read into two
/// block buffers and their difference goes straight into the device View of z, so peak memory is
/// z itself plus the blocks (not 3 x the share). Every rank makes the same number of collective
/// reads (some possibly empty); every value is checked for NaN/Inf. On request the pair features
/// are kept too, and the option datasets are read (options first, so that each pair's chosen
/// and rejected rows can be checked against the options they point at).
policies::PreferenceSplit load_split(const h5::File& f, const SplitInfo& info, int d,
                                     const Communicator& comm, const LoadOptions& request) {
  const solver::GroupPartition partition(info.offsets, comm.size());
  const int r = comm.rank();
  const index_t begin = partition.rank_begin(r);
  const index_t end = partition.rank_end(r);
  const index_t rows = end - begin;
  if (request.options && !info.has_options) {
    bad(f.path(), "split '" + info.name + "'",
        "has no option datasets (option_offsets, options, chosen_option, rejected_option: "
        "dataset schema 1.1), but the options of every pair were requested");
  }

  policies::PreferenceSplit split;
  split.name = info.name;
  split.feature_dim = d;
  split.offsets = info.offsets;
  split.global_begin = begin;
  split.pieces = partition.pieces(r);
  LocalOptions opts;
  if (request.options) {
    opts = read_local_options(f, info, begin, end, comm);
  }
  // Refuse shares that cannot fit in this machine's memory before allocating (an over-committed
  // allocation would be killed later instead of failing).
  const double row_floats = request.pair_features ? 3.0 : 1.0;
  const double need =
      (static_cast<double>(rows) * row_floats + static_cast<double>(opts.rows)) * d * sizeof(float);
  bool allocated = need < core::physical_memory_bytes();
  const std::string label = "grpo::data::" + info.name + "::";
  const auto matrix = [&](const char* name, index_t n) {
    return Kokkos::View<float**, MemSpace>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label + name), n, d);
  };
  try {
    if (allocated) {
      split.z = matrix("z", rows);
      split.ref_logratio = View1<float>(label + "ref_logratio", rows);
      if (request.pair_features) {
        split.chosen = matrix("chosen", rows);
        split.rejected = matrix("rejected", rows);
      }
      if (request.options) {
        split.options = matrix("options", opts.rows);
        split.option_offsets = View1<index_t>(label + "option_offsets", rows + 1);
        split.chosen_option = View1<int>(label + "chosen_option", rows);
        split.rejected_option = View1<int>(label + "rejected_option", rows);
      }
    }
  } catch (const std::exception&) { // std::bad_alloc, or Kokkos' allocation failure
    allocated = false;
  }
  if (comm.any(!allocated)) {
    bad(f.path(), info.name + "/chosen",
        "declares " + std::to_string(info.offsets.back()) + " rows of " + std::to_string(d) +
            " features; a rank's share does not fit in memory (use more ranks)");
  }

  constexpr index_t none = std::numeric_limits<index_t>::max();
  // Option rows: read first (blocks of option rows), checked for NaN/Inf.
  index_t bad_option_row = none;
  auto options_host = Kokkos::create_mirror_view(split.options);
  if (request.options) {
    const index_t block = std::min<index_t>(kLoadBlockRows, std::max<index_t>(opts.rows, 1));
    const index_t blocks = comm.allreduce_max((opts.rows + kLoadBlockRows - 1) / kLoadBlockRows);
    std::vector<float> buffer(static_cast<std::size_t>(block * d));
    const index_t opt_end = opts.first + opts.rows;
    for (index_t b = 0; b < blocks; ++b) {
      const index_t lo = std::min(opts.first + b * kLoadBlockRows, opt_end);
      const index_t hi = std::min(lo + kLoadBlockRows, opt_end);
      const auto n = static_cast<std::size_t>(hi - lo);
      f.read_rows(info.name + "/options", lo, hi, buffer.data());
      bad_option_row = std::min(bad_option_row, first_bad_row(buffer.data(), n * d, lo, d, none));
      for (std::size_t i = 0; i < n; ++i) {
        const index_t local = lo - opts.first + static_cast<index_t>(i);
        for (int j = 0; j < d; ++j) {
          options_host(local, j) = buffer[i * d + j];
        }
      }
    }
    auto off_host = Kokkos::create_mirror_view(split.option_offsets);
    auto chosen_host = Kokkos::create_mirror_view(split.chosen_option);
    auto rejected_host = Kokkos::create_mirror_view(split.rejected_option);
    for (index_t i = 0; i <= rows; ++i) {
      off_host(i) = opts.offsets[static_cast<std::size_t>(i)] - opts.first;
    }
    for (index_t i = 0; i < rows; ++i) {
      chosen_host(i) = opts.chosen[static_cast<std::size_t>(i)];
      rejected_host(i) = opts.rejected[static_cast<std::size_t>(i)];
    }
    Kokkos::deep_copy(split.options, options_host);
    Kokkos::deep_copy(split.option_offsets, off_host);
    Kokkos::deep_copy(split.chosen_option, chosen_host);
    Kokkos::deep_copy(split.rejected_option, rejected_host);
    split.options_loaded = true;
  }

  const index_t block = std::min<index_t>(kLoadBlockRows, std::max<index_t>(rows, 1));
  const index_t blocks = comm.allreduce_max((rows + kLoadBlockRows - 1) / kLoadBlockRows);
  std::vector<float> chosen(static_cast<std::size_t>(block * d));
  std::vector<float> rejected(static_cast<std::size_t>(block * d));
  std::vector<float> ref(static_cast<std::size_t>(block));
  auto z_host = Kokkos::create_mirror_view(split.z); // the View itself when it lives on the host
  auto ref_host = Kokkos::create_mirror_view(split.ref_logratio);
  auto chosen_host = Kokkos::create_mirror_view(split.chosen);
  auto rejected_host = Kokkos::create_mirror_view(split.rejected);
  // chosen, rejected, ref, chosen - rejected, chosen != its option, rejected != its option
  index_t bad_rows[6] = {none, none, none, none, none, none};
  for (index_t b = 0; b < blocks; ++b) {
    const index_t lo = std::min(begin + b * kLoadBlockRows, end);
    const index_t hi = std::min(lo + kLoadBlockRows, end);
    const auto n = static_cast<std::size_t>(hi - lo);
    f.read_rows(info.name + "/chosen", lo, hi, chosen.data());
    f.read_rows(info.name + "/rejected", lo, hi, rejected.data());
    if (info.has_ref) {
      f.read_rows(info.name + "/ref_logratio", lo, hi, ref.data());
    } else {
      std::fill(ref.begin(), ref.end(), 0.0F);
    }
    bad_rows[0] = std::min(bad_rows[0], first_bad_row(chosen.data(), n * d, lo, d, none));
    bad_rows[1] = std::min(bad_rows[1], first_bad_row(rejected.data(), n * d, lo, d, none));
    bad_rows[2] = std::min(bad_rows[2], first_bad_row(ref.data(), n, lo, 1, none));
    for (std::size_t i = 0; i < n; ++i) {
      const index_t local = lo - begin + static_cast<index_t>(i);
      for (int j = 0; j < d; ++j) {
        // z = chosen - rejected, rounded once to float32.
        const std::size_t k = i * d + j;
        const auto value =
            static_cast<float>(static_cast<double>(chosen[k]) - static_cast<double>(rejected[k]));
        if (!std::isfinite(value) && bad_rows[3] == none) {
          bad_rows[3] = lo + static_cast<index_t>(i);
        }
        z_host(local, j) = value;
      }
      ref_host(local) = ref[i];
      if (request.pair_features) {
        for (int j = 0; j < d; ++j) {
          chosen_host(local, j) = chosen[i * d + j];
          rejected_host(local, j) = rejected[i * d + j];
        }
      }
      if (request.options) {
        const auto p = static_cast<std::size_t>(local);
        const index_t first = opts.offsets[p] - opts.first;
        const index_t c = first + opts.chosen[p];
        const index_t w = first + opts.rejected[p];
        for (int j = 0; j < d; ++j) {
          if (options_host(c, j) != chosen[i * d + j] && bad_rows[4] == none) {
            bad_rows[4] = lo + static_cast<index_t>(i);
          }
          if (options_host(w, j) != rejected[i * d + j] && bad_rows[5] == none) {
            bad_rows[5] = lo + static_cast<index_t>(i);
          }
        }
      }
    }
  }
  const char* names[4] = {"/chosen", "/rejected", "/ref_logratio", "/chosen - rejected"};
  for (int a = 0; a < 4; ++a) {
    const index_t row = comm.allreduce_min(bad_rows[a]);
    if (row != none) {
      bad(f.path(), info.name + names[a], "row " + std::to_string(row) + " contains NaN or Inf");
    }
  }
  if (request.options) {
    const index_t row = comm.allreduce_min(bad_option_row);
    if (row != none) {
      bad(f.path(), info.name + "/options", "row " + std::to_string(row) + " contains NaN or Inf");
    }
    const char* which[2] = {"chosen", "rejected"};
    for (int a = 0; a < 2; ++a) {
      const index_t pair = comm.allreduce_min(bad_rows[4 + a]);
      if (pair != none) {
        bad(f.path(), info.name + "/" + which[a],
            "row " + std::to_string(pair) + " differs from the option it points at (" + info.name +
                "/options row option_offsets[" + std::to_string(pair) + "] + " + which[a] +
                "_option[" + std::to_string(pair) + "])");
      }
    }
  }
  Kokkos::deep_copy(split.z, z_host);
  Kokkos::deep_copy(split.ref_logratio, ref_host);
  if (request.pair_features) {
    Kokkos::deep_copy(split.chosen, chosen_host);
    Kokkos::deep_copy(split.rejected, rejected_host);
    split.pair_features_loaded = true;
  }
  return split;
}

} // namespace

LoadedDataset load_dataset(const std::string& path, const Communicator& comm) {
  return load_dataset(path, comm, LoadOptions{});
}

LoadedDataset load_dataset(const std::string& path, const Communicator& comm,
                           const LoadOptions& options) {
  return load_dataset(inspect_dataset(path, &comm), comm, options);
}

LoadedDataset load_dataset(const DatasetSummary& summary, const Communicator& comm) {
  return load_dataset(summary, comm, LoadOptions{});
}

LoadedDataset load_dataset(const DatasetSummary& summary, const Communicator& comm,
                           const LoadOptions& options) {
  LoadedDataset out;
  out.summary = summary;
  const std::string& path = summary.path;
  const h5::File f = h5::File::open(path, false, &comm);
  const int d = out.summary.feature_dim;
  out.train = load_split(f, *out.summary.split("train"), d, comm, options);
  if (const auto* val = out.summary.split("val")) {
    out.val = load_split(f, *val, d, comm, options);
  }
  if (const auto* test = out.summary.split("test"); test != nullptr && options.test) {
    out.test = load_split(f, *test, d, comm, options);
  }
  if (out.summary.has_env) {
    auto& env = out.env;
    const int k = out.summary.num_groups();
    env.num_groups = k;
    env.num_actions = out.summary.env_actions;
    env.feature_dim = d;
    env.num_states = out.summary.env_states;
    env.state_begin = solver::even_share_begin(env.num_states, comm.size(), comm.rank());
    const index_t end = solver::even_share_begin(env.num_states, comm.size(), comm.rank() + 1);
    const auto local = static_cast<std::size_t>(end - env.state_begin);
    const std::size_t width = static_cast<std::size_t>(k) * env.num_actions * d;
    std::vector<double> features(local * width);
    f.read_rows("env/action_features", env.state_begin, end, features.data());
    const auto params = f.read_double("env/reward_params");
    index_t bad_row = std::numeric_limits<index_t>::max();
    for (std::size_t i = 0; i < features.size(); ++i) {
      if (!std::isfinite(features[i])) {
        bad_row = env.state_begin + static_cast<index_t>(i / width);
        break;
      }
    }
    bad_row = comm.allreduce_min(bad_row);
    if (bad_row != std::numeric_limits<index_t>::max()) {
      bad(path, "env/action_features", "state " + std::to_string(bad_row) + " contains NaN or Inf");
    }
    for (double p : params) {
      if (!std::isfinite(p)) {
        bad(path, "env/reward_params", "contains NaN or Inf");
      }
    }
    env.features = Kokkos::View<double****, MemSpace>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::data::env::features"), local, k,
        env.num_actions, d);
    auto fh = Kokkos::create_mirror_view(env.features);
    std::size_t idx = 0;
    for (std::size_t m = 0; m < local; ++m) {
      for (int g = 0; g < k; ++g) {
        for (int a = 0; a < env.num_actions; ++a) {
          for (int j = 0; j < d; ++j) {
            fh(m, g, a, j) = features[idx++];
          }
        }
      }
    }
    Kokkos::deep_copy(env.features, fh);
    env.reward_params = View2<double>("grpo::data::env::reward_params", k, d);
    auto ph = Kokkos::create_mirror_view(env.reward_params);
    for (int g = 0; g < k; ++g) {
      for (int j = 0; j < d; ++j) {
        ph(g, j) = params[static_cast<std::size_t>(g) * d + j];
      }
    }
    Kokkos::deep_copy(env.reward_params, ph);
  }
  return out;
}

} // namespace grpo::io
