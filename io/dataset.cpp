// Checking grpo datasets (io/dataset.hpp, docs/formats.md): inspect_dataset checks every split's
// shapes, element types, offsets and values and names the file, dataset and value in one
// DataError. Reading this rank's rows is io/dataset_load.cpp; the writer is dataset_writer.cpp.
// The checks of one format are kept together, in the order the format lists.
#include "io/dataset.hpp"

#include "core/environment.hpp"
#include "core/error.hpp"
#include "io/dataset_impl.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace grpo::io {

using dataset_detail::bad;
using dataset_detail::kLoadBlockRows;

namespace {

std::string shape_string(const std::vector<hsize_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    s += (i != 0U ? ", " : "") + std::to_string(dims[i]);
  }
  return s + "]";
}

const char* class_text(H5T_class_t c) {
  return c == H5T_INTEGER  ? "integer"
         : c == H5T_FLOAT  ? "float"
         : c == H5T_STRING ? "string"
                           : "other";
}

void require_float(const h5::File& f, const std::string& name, const h5::File::Info& info) {
  if (info.type_class != H5T_FLOAT) {
    bad(f.path(), name,
        std::string("has element type ") + class_text(info.type_class) +
            ", expected float32 (or another floating-point type)");
  }
}

void require_shape(const h5::File& f, const std::string& name, const h5::File::Info& info,
                   const std::vector<hsize_t>& expected) {
  if (info.dims != expected) {
    bad(f.path(), name,
        "has shape " + shape_string(info.dims) + ", expected " + shape_string(expected));
  }
}

void require_integer(const h5::File& f, const std::string& name, const h5::File::Info& info,
                     const char* expected) {
  if (info.type_class != H5T_INTEGER) {
    bad(f.path(), name,
        std::string("has element type ") + class_text(info.type_class) + ", expected " + expected);
  }
}

/// The schema 1.1 option datasets of a split, in the order they are checked.
constexpr const char* kOptionDatasets[4] = {"option_offsets", "options", "chosen_option",
                                            "rejected_option"};

/// Validates the option datasets of a split (all or none; types, shapes, offsets starting at 0
/// and growing by at least 2 per pair, positions in range and distinct), reading the integer
/// datasets in blocks so that memory stays bounded. Sets has_options and option_rows.
void inspect_options(const h5::File& f, SplitInfo& s, int d) {
  int present = 0;
  std::string missing;
  for (const char* name : kOptionDatasets) {
    const std::string full = s.name + "/" + name;
    if (f.exists(full)) {
      ++present;
    } else if (missing.empty()) {
      missing = full;
    }
  }
  if (present == 0) {
    return;
  }
  if (present < 4) {
    bad(f.path(), missing,
        "is missing (option_offsets, options, chosen_option and rejected_option come together)");
  }
  const index_t n = s.offsets.back();
  const std::string off_name = s.name + "/option_offsets";
  const auto off_info = f.info(off_name);
  require_integer(f, off_name, off_info, "int64");
  require_shape(f, off_name, off_info, {static_cast<hsize_t>(n) + 1});
  const std::string chosen_name = s.name + "/chosen_option";
  const std::string rejected_name = s.name + "/rejected_option";
  for (const auto& name : {chosen_name, rejected_name}) {
    const auto info = f.info(name);
    require_integer(f, name, info, "int32");
    require_shape(f, name, info, {static_cast<hsize_t>(n)});
  }
  const index_t block = std::min<index_t>(kLoadBlockRows, std::max<index_t>(n, 1));
  std::vector<std::int64_t> off(static_cast<std::size_t>(block + 1));
  std::vector<std::int64_t> chosen(static_cast<std::size_t>(block));
  std::vector<std::int64_t> rejected(static_cast<std::size_t>(block));
  const auto entry = [](const char* name, index_t i, std::int64_t value) {
    return std::string(name) + "[" + std::to_string(i) + "] = " + std::to_string(value);
  };
  const auto check_position = [&](const std::string& name, const char* field, index_t i,
                                  std::int64_t value, std::int64_t count) {
    if (value < 0 || value >= count) {
      bad(f.path(), name,
          entry(field, i, value) + " is out of range [0, " + std::to_string(count) + ") (pair " +
              std::to_string(i) + " has " + std::to_string(count) + " options)");
    }
  };
  index_t m = 0; // option_offsets[N]
  for (index_t lo = 0;; lo += block) {
    const index_t hi = std::min(lo + block, n);
    f.read_rows(off_name, lo, hi + 1, off.data());
    if (lo == 0 && off[0] != 0) {
      bad(f.path(), off_name, entry("option_offsets", 0, off[0]) + ", expected 0");
    }
    f.read_rows(chosen_name, lo, hi, chosen.data());
    f.read_rows(rejected_name, lo, hi, rejected.data());
    for (index_t i = lo; i < hi; ++i) {
      const auto k = static_cast<std::size_t>(i - lo);
      // off[k] >= 0 here (checked from option_offsets[0] = 0 up), so the difference is exact.
      if (off[k + 1] < off[k] || off[k + 1] - off[k] < 2) {
        bad(f.path(), off_name,
            entry("option_offsets", i + 1, off[k + 1]) + " < option_offsets[" + std::to_string(i) +
                "] + 2 (" + entry("option_offsets", i, off[k]) + "; pair " + std::to_string(i) +
                " needs at least 2 options)");
      }
      const std::int64_t count = off[k + 1] - off[k];
      check_position(chosen_name, "chosen_option", i, chosen[k], count);
      check_position(rejected_name, "rejected_option", i, rejected[k], count);
      if (chosen[k] == rejected[k]) {
        bad(f.path(), rejected_name,
            entry("rejected_option", i, rejected[k]) +
                " equals chosen_option (the two responses of a pair must differ)");
      }
    }
    m = off[static_cast<std::size_t>(hi - lo)];
    if (hi >= n) {
      break;
    }
  }
  const std::string options_name = s.name + "/options";
  const auto info = f.info(options_name);
  require_float(f, options_name, info);
  require_shape(f, options_name, info, {static_cast<hsize_t>(m), static_cast<hsize_t>(d)});
  s.has_options = true;
  s.option_rows = m;
}

int schema_major(const std::string& version) {
  const auto dot = version.find('.');
  const std::string major = version.substr(0, dot);
  if (major.empty() || major.size() > 6 ||
      major.find_first_not_of("0123456789") != std::string::npos || dot == std::string::npos) {
    return -1; // not "major.minor", or a major no grpo will ever read
  }
  return std::stoi(major);
}

SplitInfo inspect_split(const h5::File& f, const std::string& split, int k, int d) {
  SplitInfo s;
  s.name = split;
  const std::string off_name = split + "/offsets";
  const auto off_info = f.info(off_name);
  if (off_info.type_class != H5T_INTEGER) {
    bad(f.path(), off_name,
        std::string("has element type ") + class_text(off_info.type_class) + ", expected int64");
  }
  require_shape(f, off_name, off_info, {static_cast<hsize_t>(k + 1)});
  const auto offsets = f.read_int64(off_name);
  if (offsets[0] != 0) {
    bad(f.path(), off_name, "offsets[0] = " + std::to_string(offsets[0]) + ", expected 0");
  }
  for (int g = 1; g <= k; ++g) {
    if (offsets[g] < offsets[g - 1]) {
      bad(f.path(), off_name,
          "not monotone: offsets[" + std::to_string(g) + "] = " + std::to_string(offsets[g]) +
              " < offsets[" + std::to_string(g - 1) + "] = " + std::to_string(offsets[g - 1]));
    }
  }
  s.offsets.assign(offsets.begin(), offsets.end());
  const auto n = static_cast<hsize_t>(offsets[k]);
  for (const char* name : {"chosen", "rejected"}) {
    const std::string full = split + "/" + name;
    const auto info = f.info(full);
    require_float(f, full, info);
    require_shape(f, full, info, {n, static_cast<hsize_t>(d)});
  }
  const std::string ref = split + "/ref_logratio";
  if (f.exists(ref)) {
    const auto info = f.info(ref);
    require_float(f, ref, info);
    require_shape(f, ref, info, {n});
    s.has_ref = true;
  }
  inspect_options(f, s, d);
  return s;
}

} // namespace

const SplitInfo* DatasetSummary::split(const std::string& name) const {
  for (const auto& s : splits) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

DatasetSummary inspect_dataset(const std::string& path, const Communicator* comm) {
  const h5::File f = h5::File::open(path, false, comm);
  DatasetSummary s;
  s.path = path;
  if (f.has_attribute("/", "kind")) {
    const auto kind = f.read_string_attribute("/", "kind");
    if (kind != "dataset") {
      bad(path, "attribute 'kind'", "is '" + kind + "', expected 'dataset' (is this a trace?)");
    }
  }
  s.schema_version = f.read_string_attribute("/", "schema_version");
  if (schema_major(s.schema_version) != kDatasetSchemaMajor) {
    bad(path, "attribute 'schema_version'",
        "'" + s.schema_version + "' is not supported (this grpo reads dataset schema 1.x)");
  }
  const auto d = f.read_int_attribute("/", "feature_dim");
  if (d < 1 || d > (1 << 20)) {
    bad(path, "attribute 'feature_dim'", std::to_string(d) + " is out of range [1, 2^20]");
  }
  s.feature_dim = static_cast<int>(d);
  const auto k = f.read_int_attribute("/", "num_groups");
  if (k < 1 || k > (1 << 24)) {
    bad(path, "attribute 'num_groups'", std::to_string(k) + " is out of range [1, 2^24]");
  }
  s.source = f.read_string_attribute("/", "source");
  s.group_names = f.read_strings("groups/names");
  if (static_cast<std::int64_t>(s.group_names.size()) != k) {
    bad(path, "groups/names",
        "has " + std::to_string(s.group_names.size()) +
            " names, expected num_groups = " + std::to_string(k));
  }
  for (const auto& name : f.attribute_names("/")) {
    const auto type = f.attribute_type_class("/", name);
    if (type == H5T_STRING) { // other attributes are read through their typed fields
      s.attributes[name] = f.read_string_attribute("/", name); // one string, or DataError
    }
  }
  if (!f.exists("train")) {
    bad(path, "group 'train'", "is missing (every dataset needs a train split)");
  }
  for (const char* split : {"train", "val", "test"}) {
    if (!f.exists(split)) {
      continue;
    }
    s.splits.push_back(inspect_split(f, split, static_cast<int>(k), s.feature_dim));
    const auto& info = s.splits.back();
    if (std::string(split) != "test") {
      for (int g = 0; g < k; ++g) {
        if (info.offsets[g + 1] == info.offsets[g]) {
          bad(path, std::string(split) + "/offsets",
              "group " + std::to_string(g) + " ('" + s.group_names[g] +
                  "') is empty (every group needs pairs in train and val)");
        }
      }
    }
  }
  if (f.exists("env")) {
    const auto params = f.info("env/reward_params");
    require_float(f, "env/reward_params", params);
    require_shape(f, "env/reward_params", params,
                  {static_cast<hsize_t>(k), static_cast<hsize_t>(s.feature_dim)});
    const auto features = f.info("env/action_features");
    require_float(f, "env/action_features", features);
    if (features.dims.size() != 4 || features.dims[0] < 1 ||
        features.dims[1] != static_cast<hsize_t>(k) || features.dims[2] < 1 ||
        features.dims[3] != static_cast<hsize_t>(s.feature_dim)) {
      bad(path, "env/action_features",
          "has shape " + shape_string(features.dims) + ", expected [M >= 1, " + std::to_string(k) +
              ", A >= 1, " + std::to_string(s.feature_dim) + "]");
    }
    // One rank holds its share of the states; a corrupt file may declare absurd sizes.
    const auto gib = static_cast<double>(1ULL << 30);
    double bytes = 8.0;
    for (auto dim : features.dims) {
      bytes *= static_cast<double>(dim);
    }
    const int ranks = comm != nullptr ? comm->size() : 1;
    const double memory = core::physical_memory_bytes();
    if (features.dims[2] > (1ULL << 24) || bytes / ranks > memory) {
      bad(path, "env/action_features",
          "has shape " + shape_string(features.dims) + ": " + format_double(bytes / gib) +
              " GiB, more than this machine's memory (corrupt file?)");
    }
    s.has_env = true;
    s.env_states = static_cast<index_t>(features.dims[0]);
    s.env_actions = static_cast<int>(features.dims[2]);
  }
  return s;
}

} // namespace grpo::io
