// grpo info FILE: a summary of a dataset or a trace.
#include "apps/commands.hpp"
#include "apps/options.hpp"
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/hdf5.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace grpo::app {

namespace {

std::string list(const std::vector<double>& v, std::size_t max_items = 8) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max_items; ++i) {
    s += (i ? ", " : "") + format_double(v[i]);
  }
  if (v.size() > max_items) {
    s += ", ... (" + std::to_string(v.size()) + " values)";
  }
  return s;
}

std::string describe_dataset(const std::string& path) {
  const auto s = io::inspect_dataset(path);
  std::ostringstream o;
  o << path << ": grpo dataset, schema " << s.schema_version << ", source " << s.source << "\n"
    << "  feature_dim " << s.feature_dim << ", " << s.num_groups() << " groups\n";
  for (const auto& split : s.splits) {
    o << "  " << split.name << ": " << split.offsets.back() << " pairs";
    o << " (per group ";
    for (int g = 0; g < s.num_groups() && g < 16; ++g) {
      o << (g ? "/" : "") << split.offsets[g + 1] - split.offsets[g];
    }
    o << (s.num_groups() > 16 ? "/..." : "") << ")" << (split.has_ref ? ", ref_logratio" : "");
    if (split.has_options) {
      o << ", options (" << split.option_rows << " option rows)";
    }
    o << "\n";
  }
  o << "  groups: ";
  for (int g = 0; g < s.num_groups() && g < 16; ++g) {
    o << (g ? ", " : "") << s.group_names[g];
  }
  o << (s.num_groups() > 16 ? ", ..." : "") << "\n";
  if (s.has_env) {
    o << "  env: " << s.env_states << " evaluation states x " << s.env_actions
      << " actions (reward error and KL available)\n";
  }
  for (const char* key : {"preset", "feature_type", "input", "countries", "pairs"}) {
    if (const auto it = s.attributes.find(key); it != s.attributes.end()) {
      o << "  " << key << ": " << it->second << "\n";
    }
  }
  return o.str();
}

std::string describe_trace(const std::string& path) {
  const auto f = io::h5::File::open(path, false, nullptr);
  std::ostringstream o;
  auto attr = [&](const char* name) {
    return f.has_attribute("/", name) ? f.read_string_attribute("/", name) : std::string("?");
  };
  o << path << ": grpo trace, schema " << attr("schema_version") << ", status " << attr("status")
    << "\n"
    << "  method " << attr("method") << ", dataset " << attr("dataset_path") << " ("
    << attr("dataset_checksum") << ")\n"
    << "  git " << attr("git_revision") << ", Kokkos " << attr("kokkos_backend") << ", ranks "
    << (f.has_attribute("/", "num_ranks") ? f.read_int_attribute("/", "num_ranks") : 0) << "\n";
  if (f.exists("iteration")) {
    const auto iterations = f.read_int64("iteration");
    o << "  records " << iterations.size();
    if (!iterations.empty()) {
      o << " (iterations " << iterations.front() << " .. " << iterations.back() << ")";
    }
    o << "\n";
    if (!iterations.empty()) {
      for (const char* name : {"worst_val_loss", "worst_train_loss", "max_reward_error", "max_kl",
                               "grad_norm", "wall_seconds"}) {
        if (f.exists(name)) {
          const auto v = f.read_double(name);
          if (v.size() != iterations.size()) {
            throw DataError("'" + path + "': dataset '" + name + "' has " +
                            std::to_string(v.size()) + " values for " +
                            std::to_string(iterations.size()) + " records");
          }
          o << "  last " << name << " = " << format_double(v.back()) << "\n";
        }
      }
      if (f.exists("alpha")) {
        const auto info = f.info("alpha");
        const auto v = f.read_double("alpha");
        const std::size_t k = info.dims.size() == 2 ? info.dims[1] : 1;
        if (info.dims.empty() || info.dims[0] != iterations.size() || k == 0 || v.size() < k) {
          throw DataError("'" + path + "': dataset 'alpha' does not hold one row per record");
        }
        o << "  last alpha = ["
          << list(std::vector<double>(v.end() - static_cast<long>(k), v.end())) << "]\n";
      }
    }
  }
  for (const char* name : {"theta_final", "theta_avg"}) {
    if (f.exists(name)) {
      o << "  " << name << " = [" << list(f.read_double(name)) << "]\n";
    }
  }
  return o.str();
}

} // namespace

int run_info(core::Environment& env, const std::vector<std::string>& args) {
  po::options_description options("grpo info options");
  options.add_options()("help,h", "show this help")("file", text(), "dataset or trace (HDF5)");
  const auto parsed = parse_options("info", options, args, "file");
  if (parsed.help) {
    std::ostringstream o;
    o << "Usage: grpo info FILE\n\nSummarises a grpo dataset or trace.\n\n" << options;
    root_print(env, o.str());
    return 0;
  }
  if (!given(parsed, "file")) {
    throw ConfigError("grpo info: missing FILE (usage: grpo info FILE)");
  }
  const std::string path = get_string(parsed, "file");
  std::string kind = "dataset";
  {
    const auto f = io::h5::File::open(path, false, nullptr);
    if (f.has_attribute("/", "kind")) {
      kind = f.read_string_attribute("/", "kind");
    }
  }
  root_print(env, kind == "trace" ? describe_trace(path) : describe_dataset(path));
  return 0;
}

} // namespace grpo::app
