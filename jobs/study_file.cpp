// Study files (jobs/study_file.hpp, docs/studies.md): the entry points, safe names, and the
// parse of the file itself with its [study] and [slurm] tables. The other tables and the value
// readers are in study_data.cpp, study_experiments.cpp and study_values.cpp
// (jobs/study_file_impl.hpp).
#include "core/error.hpp"
#include "jobs/study_file_impl.hpp"

#include <filesystem>
#include <set>
#include <sstream>

namespace grpo::jobs {

namespace fs = std::filesystem;

bool is_safe_id(const std::string& id) {
  if (id.empty() || id.size() > 200) {
    return false;
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
      return false;
    }
  }
  return true;
}

bool is_safe_name(const std::string& name) { return name.size() <= 64 && is_safe_id(name); }

const char* const kConvertSources[2] = {"globalopinionqa", "pairs"};

bool is_selection_metric(const std::string& name) {
  // docs/formats.md: the scalar record columns of the log-linear policy ...
  static const std::set<std::string> fixed = {
      "worst_train_loss", "worst_val_loss", "objective",      "max_reward_error",
      "max_kl",           "grad_norm",      "param_norm",     "gap",
      "gap_upper",        "gap_lower",      "gap_residual",   "gap_last",
      "gap_upper_last",   "gap_lower_last", "worst_test_loss"};
  if (fixed.count(name) > 0) {
    return true;
  }
  // ... and the MLP's per split: average_<s>_loss, {worst,average}_<s>_{reward,logprob}_accuracy.
  for (const char* split : {"train", "val", "test"}) {
    const std::string s(split);
    if (name == "average_" + s + "_loss") {
      return true;
    }
    for (const char* agg : {"worst_", "average_"}) {
      for (const char* what : {"_reward_accuracy", "_logprob_accuracy"}) {
        if (name == agg + s + what) {
          return true;
        }
      }
    }
  }
  return false;
}

namespace study_detail {

Parser::Parser(std::string file, std::string cwd, const OptionCheck& check)
    : m_file(std::move(file))
    , m_cwd(std::move(cwd))
    , m_check(check) {}

StudySpec Parser::parse() {
  std::error_code ec;
  if (!fs::is_regular_file(m_file, ec)) {
    throw IoError("study file '" + m_file + "': cannot open (no such file)");
  }
  toml::table root;
  try {
    root = toml::parse_file(m_file);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << "study file '" << m_file << "' line " << e.source().begin.line << ": " << e.description();
    throw ConfigError(o.str());
  }
  StudySpec s;
  s.file = fs::absolute(m_file).lexically_normal().string();
  expect_keys(root, "", {"study", "slurm", "data", "experiment"});
  const toml::table* study = table_at(root, "study", "study", true);
  expect_keys(*study, "study.",
              {"name", "output", "executor", "jobs", "ranks", "mpiexec", "python", "seeds"});
  s.name = name_at(*study, "name", "study.name");
  const std::string output = string_at(*study, "output", "study.output", false);
  s.output = absolute_from(output.empty() ? "run/" + s.name : output, m_cwd);
  s.executor = string_at(*study, "executor", "study.executor", false);
  if (s.executor.empty()) {
    s.executor = "local";
  }
  if (s.executor != "local" && s.executor != "slurm") {
    fail("study.executor", *study->get("executor"),
         "invalid value '" + s.executor + "' (expected local or slurm)");
  }
  s.jobs = int_at(*study, "jobs", "study.jobs", 0, 0, 4096);
  const int ranks = int_at(*study, "ranks", "study.ranks", 1, 1, 65536);
  const std::string mpiexec = string_at(*study, "mpiexec", "study.mpiexec", false);
  if (!mpiexec.empty()) {
    s.mpiexec = mpiexec;
  }
  s.python = string_at(*study, "python", "study.python", false);
  std::vector<std::uint64_t> seeds{0};
  if (study->contains("seeds")) {
    seeds = seeds_at(*study->get("seeds"), "study.seeds");
  }

  if (const toml::table* slurm = table_at(root, "slurm", "slurm", false)) {
    parse_slurm(*slurm, s.slurm);
  }
  const toml::table* data = table_at(root, "data", "data", true);
  for (auto&& [key, node] : *data) {
    s.data.push_back(parse_data(std::string(key.str()), node));
  }
  if (s.data.empty()) {
    throw ConfigError(where("data") + ": no data set defined (add a [data.NAME] table)");
  }
  const toml::node* experiments = root.get("experiment");
  if (experiments == nullptr || !experiments->is_array_of_tables() ||
      experiments->as_array()->empty()) {
    throw ConfigError(where("experiment") + ": missing (add at least one [[experiment]] table)");
  }
  std::set<std::string> names;
  int index = 0;
  for (auto&& node : *experiments->as_array()) {
    auto e = parse_experiment(*node.as_table(), index++, s, seeds, ranks);
    if (!names.insert(e.name).second) {
      fail("experiment.name", node, "duplicate experiment name '" + e.name + "'");
    }
    s.experiments.push_back(std::move(e));
  }
  return s;
}

void Parser::parse_slurm(const toml::table& t, SlurmResources& r) const {
  expect_keys(
      t, "slurm.",
      {"partition", "account", "qos", "time", "memory", "cpus-per-task", "throttle", "sbatch"});
  const auto word = [&](const char* name, const char* extra) {
    std::string v = string_at(t, name, std::string("slurm.") + name, false);
    for (const char c : v) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string(extra).find(c) != std::string::npos;
      if (!ok) {
        fail(std::string("slurm.") + name, *t.get(name),
             "invalid value '" + v + "' (allowed: letters, digits and '" + extra + "')");
      }
    }
    return v;
  };
  r.partition = word("partition", "_.-,");
  r.account = word("account", "_.-");
  r.qos = word("qos", "_.-");
  r.time = word("time", ":-");
  r.memory = word("memory", "");
  r.cpus_per_task = int_at(t, "cpus-per-task", "slurm.cpus-per-task", 1, 1, 4096);
  r.throttle = int_at(t, "throttle", "slurm.throttle", 0, 0, 1000000);
  if (const toml::node* extra = t.get("sbatch")) {
    for (const auto& line : strings_at(*extra, "slurm.sbatch")) {
      if (line.rfind("--", 0) != 0 || line.size() < 3) {
        fail("slurm.sbatch", *extra,
             "invalid value '" + line + "' (each entry is one sbatch option, e.g. '--qos=low')");
      }
      r.extra.push_back(line);
    }
  }
}

} // namespace study_detail

StudySpec parse_study_file(const std::string& path, const std::string& cwd,
                           const OptionCheck& check) {
  return study_detail::Parser(path, cwd, check).parse();
}

} // namespace grpo::jobs
