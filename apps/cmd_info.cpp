// grpo info FILE: a summary of a dataset, a trace or a trace pack.
#include "apps/commands.hpp"
#include "apps/options.hpp"
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/trace_pack.hpp"
#include "io/trace_reader.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace grpo::app {

namespace {

std::string list(const std::vector<double>& v, std::size_t max_items = 8) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max_items; ++i) {
    s += (i != 0U ? ", " : "") + format_double(v[i]);
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
      o << (g != 0 ? "/" : "") << split.offsets[g + 1] - split.offsets[g];
    }
    o << (s.num_groups() > 16 ? "/..." : "") << ")" << (split.has_ref ? ", ref_logratio" : "");
    if (split.has_options) {
      o << ", options (" << split.option_rows << " option rows)";
    }
    o << "\n";
  }
  o << "  groups: ";
  for (int g = 0; g < s.num_groups() && g < 16; ++g) {
    o << (g != 0 ? ", " : "") << s.group_names[g];
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
  const io::TraceReader trace(path);
  std::ostringstream o;
  auto attr = [&](const char* name) { return trace.text_attribute(name).value_or("?"); };
  o << path << ": grpo trace, schema " << attr("schema_version") << ", status " << attr("status")
    << "\n"
    << "  method " << attr("method") << ", dataset " << attr("dataset_path") << " ("
    << attr("dataset_checksum") << ")\n"
    << "  git " << attr("git_revision") << ", Kokkos " << attr("kokkos_backend") << ", ranks "
    << trace.int_attribute("num_ranks").value_or(0) << "\n";
  if (trace.has("iteration")) {
    const auto iterations = trace.iterations();
    o << "  records " << iterations.size();
    if (!iterations.empty()) {
      o << " (iterations " << iterations.front() << " .. " << iterations.back() << ")";
    }
    o << "\n";
    if (!iterations.empty()) {
      for (const char* name : {"worst_val_loss", "worst_train_loss", "max_reward_error", "max_kl",
                               "grad_norm", "wall_seconds"}) {
        if (const auto value = trace.last(name)) {
          o << "  last " << name << " = " << format_double(*value) << "\n";
        }
      }
      if (trace.has("alpha")) {
        o << "  last alpha = [" << list(trace.last_row("alpha")) << "]\n";
      }
    }
  }
  for (const char* name : {"theta_final", "theta_avg"}) {
    if (trace.has(name)) {
      o << "  " << name << " = [" << list(trace.final_vector(name, false)) << "]\n";
    }
  }
  return o.str();
}

std::string describe_pack(const std::string& path) {
  const io::TracePack pack(path);
  std::size_t completed = 0;
  for (std::size_t r = 0; r < pack.size(); ++r) {
    completed += pack.status(r) == "completed" ? 1 : 0;
  }
  std::ostringstream o;
  o << path << ": grpo trace pack, " << pack.size() << " runs (" << completed << " completed)\n"
    << "  task  method  seed  status  records  last worst_val_loss  last worst_train_loss\n";
  const auto last = [&](std::size_t r, const char* name) {
    const auto value = pack.last(r, name);
    return value ? format_double(*value) : std::string("-");
  };
  for (std::size_t r = 0; r < pack.size(); ++r) {
    o << "  " << pack.task(r) << "  " << pack.attribute(r, "method").value_or("?") << "  "
      << pack.attribute(r, "seed").value_or("?") << "  " << pack.status(r) << "  "
      << pack.records(r) << "  " << last(r, "worst_val_loss") << "  " << last(r, "worst_train_loss")
      << "\n";
  }
  return o.str();
}

} // namespace

int run_info(core::Environment& env, const std::vector<std::string>& args) {
  po::options_description options("grpo info options");
  options.add_options()("help,h", "show this help")("file", text(),
                                                    "dataset, trace or trace pack (HDF5)");
  const auto parsed = parse_options("info", options, args, "file");
  if (parsed.help) {
    std::ostringstream o;
    o << "Usage: grpo info FILE\n\nSummarises a grpo dataset, trace or trace pack.\n\n" << options;
    root_print(env, o.str());
    return 0;
  }
  if (!given(parsed, "file")) {
    throw ConfigError("grpo info: missing FILE (usage: grpo info FILE)");
  }
  const std::string path = get_string(parsed, "file");
  const std::string kind = io::file_kind(path);
  root_print(env, kind == "trace"        ? describe_trace(path)
                  : kind == "trace_pack" ? describe_pack(path)
                                         : describe_dataset(path));
  return 0;
}

} // namespace grpo::app
