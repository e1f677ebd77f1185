// Dataset schema 1.1 option datasets under mpiexec -n 1, 2, 3: every rank writes its block of
// pairs and their options, then loads (on request) exactly its rows with their options, rebased
// option offsets and the pair features; inspect_dataset rejects every malformed option dataset
// with one line naming the file, the dataset and the value.
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/hdf5.hpp"
#include "solver/group_partition.hpp"
#include "tests/support/mpi_test.hpp"
#include "tests/support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace grpo;
using test::ScratchDir;

constexpr int kDim = 3;

/// The synthetic content: pair i (global, per split) has 2 + (i + salt) % 4 options; option o of
/// pair i has features 1000 salt + 100 i + 10 o + j; y_w is option i % n, y_l option (i + 1) % n.
struct Content {
  std::vector<index_t> offsets; ///< group offsets
  int salt = 0;
  index_t rows() const { return offsets.back(); }
  int options(index_t i) const { return 2 + static_cast<int>((i + salt) % 4); }
  int chosen(index_t i) const { return static_cast<int>(i % options(i)); }
  int rejected(index_t i) const { return static_cast<int>((i + 1) % options(i)); }
  float value(index_t i, int o, int j) const {
    return static_cast<float>(1000 * salt + 100 * i + 10 * o + j);
  }
  std::vector<std::int64_t> option_offsets() const {
    std::vector<std::int64_t> off{0};
    for (index_t i = 0; i < rows(); ++i) {
      off.push_back(off.back() + options(i));
    }
    return off;
  }
};

const Content kTrain{{0, 4, 11, 16}, 0};
const Content kVal{{0, 2, 3, 5}, 1};
const Content kTest{{0, 3, 3, 4}, 2}; // group 1 empty: allowed in test

void write_split(io::DatasetWriter& w, const std::string& name, const Content& c,
                 const Communicator& comm, bool with_options) {
  const solver::GroupPartition p(c.offsets, comm.size());
  const index_t begin = p.rank_begin(comm.rank());
  const index_t end = p.rank_end(comm.rank());
  const auto all = c.option_offsets();
  std::vector<float> chosen, rejected, options;
  std::vector<std::int32_t> chosen_option, rejected_option;
  for (index_t i = begin; i < end; ++i) {
    for (int j = 0; j < kDim; ++j) {
      chosen.push_back(c.value(i, c.chosen(i), j));
    }
    for (int j = 0; j < kDim; ++j) {
      rejected.push_back(c.value(i, c.rejected(i), j));
    }
    for (int o = 0; o < c.options(i); ++o) {
      for (int j = 0; j < kDim; ++j) {
        options.push_back(c.value(i, o, j));
      }
    }
    chosen_option.push_back(c.chosen(i));
    rejected_option.push_back(c.rejected(i));
  }
  w.begin_split(name, c.offsets);
  w.write_split_rows(name, begin, end, chosen.data(), rejected.data(), nullptr);
  if (with_options) {
    const std::vector<std::int64_t> local(all.begin() + begin, all.begin() + end + 1);
    w.begin_split_options(name, all.back());
    w.write_split_options(name, begin, end, local.data(), options.data(), chosen_option.data(),
                          rejected_option.data());
  }
}

void write_file(const std::string& path, const Communicator& comm, bool with_options = true) {
  io::DatasetHeader header;
  header.feature_dim = kDim;
  header.group_names = {"a", "b", "c"};
  header.source = "test";
  io::DatasetWriter w(path, comm, header);
  write_split(w, "train", kTrain, comm, with_options);
  write_split(w, "val", kVal, comm, with_options);
  write_split(w, "test", kTest, comm, with_options);
  w.commit();
}

/// Checks one rank's loaded split against the content: rows, rebased offsets, options, positions
/// and pair features. Returns an empty string or what is wrong.
std::string check_split(const policies::PreferenceSplit& s, const Content& c,
                        const Communicator& comm) {
  const solver::GroupPartition p(c.offsets, comm.size());
  const index_t begin = p.rank_begin(comm.rank());
  const index_t rows = p.rank_rows(comm.rank());
  if (!s.has_options() || !s.has_pair_features() || s.local_rows() != rows ||
      s.global_begin != begin) {
    return s.name + ": flags or rows";
  }
  if (static_cast<index_t>(s.option_offsets.extent(0)) != rows + 1 ||
      static_cast<index_t>(s.chosen_option.extent(0)) != rows ||
      static_cast<index_t>(s.chosen.extent(0)) != rows || s.chosen.extent(1) != kDim) {
    return s.name + ": extents";
  }
  const auto off = Kokkos::create_mirror_view_and_copy(HostSpace(), s.option_offsets);
  const auto options = Kokkos::create_mirror_view_and_copy(HostSpace(), s.options);
  const auto co = Kokkos::create_mirror_view_and_copy(HostSpace(), s.chosen_option);
  const auto ro = Kokkos::create_mirror_view_and_copy(HostSpace(), s.rejected_option);
  const auto ch = Kokkos::create_mirror_view_and_copy(HostSpace(), s.chosen);
  const auto rj = Kokkos::create_mirror_view_and_copy(HostSpace(), s.rejected);
  const auto z = Kokkos::create_mirror_view_and_copy(HostSpace(), s.z);
  if (off(0) != 0 || static_cast<index_t>(options.extent(0)) != off(rows)) {
    return s.name + ": option offsets not rebased";
  }
  for (index_t l = 0; l < rows; ++l) {
    const index_t i = begin + l;
    if (off(l + 1) - off(l) != c.options(i) || co(l) != c.chosen(i) || ro(l) != c.rejected(i)) {
      return s.name + ": pair " + std::to_string(i) + " offsets or positions";
    }
    for (int o = 0; o < c.options(i); ++o) {
      for (int j = 0; j < kDim; ++j) {
        if (options(off(l) + o, j) != c.value(i, o, j)) {
          return s.name + ": option " + std::to_string(o) + " of pair " + std::to_string(i);
        }
      }
    }
    for (int j = 0; j < kDim; ++j) {
      if (ch(l, j) != c.value(i, c.chosen(i), j) || rj(l, j) != c.value(i, c.rejected(i), j) ||
          z(l, j) != ch(l, j) - rj(l, j)) {
        return s.name + ": pair features of pair " + std::to_string(i);
      }
    }
  }
  return "";
}

TEST(DatasetOptions, WrittenInBlocksLoadedPerRank) {
  Communicator comm;
  const ScratchDir scratch(comm, "options");
  const auto path = scratch.file("options");
  write_file(path, comm);
  const auto summary = io::inspect_dataset(path, &comm);
  bool ok = summary.schema_version == "1.1" && summary.splits.size() == 3;
  for (const auto& split : summary.splits) {
    const Content& c = split.name == "train" ? kTrain : split.name == "val" ? kVal : kTest;
    ok = ok && split.has_options && split.option_rows == c.option_offsets().back();
  }
  io::LoadOptions request;
  request.pair_features = true;
  request.options = true;
  request.test = true;
  const auto data = io::load_dataset(summary, comm, request);
  std::string problem;
  for (const auto& [split, content] :
       {std::pair<const policies::PreferenceSplit*, const Content*>{&data.train, &kTrain},
        {&data.val, &kVal},
        {&data.test, &kTest}}) {
    if (problem.empty()) {
      problem = check_split(*split, *content, comm);
    }
  }
  EXPECT_TRUE(test::all_ranks(comm, ok && problem.empty()))
      << "rank " << comm.rank() << ": " << problem;
}

TEST(DatasetOptions, DefaultLoadReadsNoOptionsAndNoTest) {
  Communicator comm;
  const ScratchDir scratch(comm, "options_default");
  const auto path = scratch.file("default");
  write_file(path, comm);
  const auto data = io::load_dataset(path, comm);
  const bool ok = !data.train.has_options() && !data.train.has_pair_features() &&
                  data.train.options.extent(0) == 0 && data.train.chosen.extent(0) == 0 &&
                  data.test.empty() && !data.val.empty();
  EXPECT_TRUE(test::all_ranks(comm, ok));
}

TEST(DatasetOptions, PairFeaturesWithoutOptionsFile) {
  Communicator comm;
  const ScratchDir scratch(comm, "options_none");
  const auto path = scratch.file("none");
  write_file(path, comm, false);
  io::LoadOptions request;
  request.pair_features = true;
  const auto data = io::load_dataset(path, comm, request);
  const solver::GroupPartition p(kTrain.offsets, comm.size());
  bool ok = data.train.has_pair_features() && !data.train.has_options() &&
            !data.summary.splits[0].has_options;
  const auto ch = Kokkos::create_mirror_view_and_copy(HostSpace(), data.train.chosen);
  for (index_t l = 0; ok && l < data.train.local_rows(); ++l) {
    const index_t i = p.rank_begin(comm.rank()) + l;
    ok = ch(l, 2) == kTrain.value(i, kTrain.chosen(i), 2);
  }
  // Options requested from a file without them: a DataError naming file and split, everywhere.
  std::string message;
  request.options = true;
  try {
    io::load_dataset(path, comm, request);
  } catch (const DataError& e) {
    message = e.what();
  }
  ok = ok && message.find(path) != std::string::npos &&
       message.find("split 'train'") != std::string::npos &&
       message.find("no option datasets") != std::string::npos;
  EXPECT_TRUE(test::all_ranks(comm, ok)) << message;
}

/// A valid file, changed by `mutate` (root, serial access), then inspected (and, with `load`,
/// loaded with options) on every rank: the DataError message, identical everywhere, or "".
std::string error_after(const ScratchDir& scratch, const Communicator& comm,
                        const std::string& name,
                        const std::function<void(const io::h5::File&)>& mutate, bool load = false) {
  const auto path = scratch.file(name);
  write_file(path, comm);
  if (comm.is_root()) {
    const auto f = io::h5::File::open(path, true, nullptr);
    mutate(f);
  }
  comm.barrier();
  std::string message;
  try {
    io::LoadOptions request;
    request.options = true;
    request.pair_features = true;
    const auto summary = io::inspect_dataset(path, &comm);
    if (load) {
      io::load_dataset(summary, comm, request);
    }
  } catch (const DataError& e) {
    message = e.what();
  }
  std::string root_message = message;
  comm.broadcast(root_message);
  return test::all_ranks(comm, message == root_message) ? message : "ranks disagree: " + message;
}

void set_int64(const io::h5::File& f, const std::string& name, index_t row, std::int64_t v) {
  f.write_rows(name, H5T_NATIVE_INT64, row, row + 1, &v);
}

void set_float(const io::h5::File& f, const std::string& name, index_t row, int width, float v) {
  std::vector<float> values(static_cast<std::size_t>(width), v);
  f.write_rows(name, H5T_NATIVE_FLOAT, row, row + 1, values.data());
}

TEST(DatasetOptions, ValidationNamesFileDatasetAndValue) {
  Communicator comm;
  const ScratchDir scratch(comm, "options_bad");
  struct Case {
    const char* name;
    std::function<void(const io::h5::File&)> mutate;
    std::vector<std::string> expected; ///< substrings of the message
    bool load = false;
  };
  const std::vector<Case> cases = {
      {"missing",
       [](const io::h5::File& f) { f.remove("val/rejected_option"); },
       {"val/rejected_option", "is missing", "come together"}},
      {"first-offset",
       [](const io::h5::File& f) { set_int64(f, "train/option_offsets", 0, 1); },
       {"train/option_offsets", "option_offsets[0] = 1, expected 0"}},
      {"one-option",
       // pair 2 has 4 options: offsets 0 2 5 9 -> 0 2 5 6 leaves pair 2 one option
       [](const io::h5::File& f) { set_int64(f, "train/option_offsets", 3, 6); },
       {"train/option_offsets",
        "option_offsets[3] = 6 < option_offsets[2] + 2 (option_offsets[2] = 5;",
        "pair 2 needs at least 2 options"}},
      {"chosen-out-of-range",
       [](const io::h5::File& f) { set_int64(f, "train/chosen_option", 1, 3); },
       {"train/chosen_option", "chosen_option[1] = 3 is out of range [0, 3)"}},
      {"rejected-negative",
       [](const io::h5::File& f) { set_int64(f, "val/rejected_option", 0, -1); },
       {"val/rejected_option", "rejected_option[0] = -1 is out of range [0, 3)"}},
      {"same-option",
       [](const io::h5::File& f) { set_int64(f, "test/rejected_option", 2, 0); },
       {"test/rejected_option", "rejected_option[2] = 0 equals chosen_option"}},
      {"options-shape",
       [](const io::h5::File& f) {
         f.remove("train/options");
         f.create_dataset("train/options", H5T_IEEE_F32LE, {10, kDim});
       },
       {"train/options", "has shape [10, 3], expected [", ", 3]"}},
      {"offsets-float",
       [](const io::h5::File& f) {
         f.remove("train/option_offsets");
         f.create_dataset("train/option_offsets", H5T_IEEE_F64LE, {17});
       },
       {"train/option_offsets", "has element type float, expected int64"}},
      {"offsets-shape",
       [](const io::h5::File& f) {
         f.remove("val/option_offsets");
         f.create_dataset("val/option_offsets", H5T_STD_I64LE, {5});
       },
       {"val/option_offsets", "has shape [5], expected [6]"}},
      {"positions-shape",
       [](const io::h5::File& f) {
         f.remove("train/chosen_option");
         f.create_dataset("train/chosen_option", H5T_STD_I32LE, {15});
       },
       {"train/chosen_option", "has shape [15], expected [16]"}},
      {"options-nan",
       [](const io::h5::File& f) {
         set_float(f, "train/options", 7, kDim, std::numeric_limits<float>::quiet_NaN());
       },
       {"train/options", "row 7 contains NaN or Inf"},
       true},
      {"chosen-differs",
       // pair 5 (3 options, chosen 2): its chosen row no longer equals option row 14 + 2
       [](const io::h5::File& f) { set_float(f, "train/chosen", 5, kDim, 0.5f); },
       {"train/chosen", "row 5 differs from the option it points at"},
       true},
  };
  for (const auto& c : cases) {
    const auto message = error_after(scratch, comm, c.name, c.mutate, c.load);
    bool ok = message.find(scratch.file(c.name)) != std::string::npos &&
              message.find('\n') == std::string::npos;
    for (const auto& e : c.expected) {
      ok = ok && message.find(e) != std::string::npos;
    }
    EXPECT_TRUE(test::all_ranks(comm, ok)) << c.name << ": '" << message << "'";
  }
}

TEST(DatasetOptions, UnreadableOptionsAreNotCheckedUnlessRequested) {
  // A NaN option row is a load-time check: files stay inspectable, and loads without options
  // do not read the option rows at all.
  Communicator comm;
  const ScratchDir scratch(comm, "options_lazy");
  const auto path = scratch.file("lazy");
  write_file(path, comm);
  if (comm.is_root()) {
    const auto f = io::h5::File::open(path, true, nullptr);
    set_float(f, "train/options", 3, kDim, std::numeric_limits<float>::infinity());
  }
  comm.barrier();
  bool ok = true;
  try {
    const auto data = io::load_dataset(path, comm);
    ok = data.train.total_rows() == 16;
  } catch (const Error&) {
    ok = false;
  }
  EXPECT_TRUE(test::all_ranks(comm, ok));
}

} // namespace
