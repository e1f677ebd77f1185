// grpo study plan | run | resume | status | report | task: convergence studies as task graphs
// (docs/studies.md). This command never initialises MPI: it launches `grpo generate`,
// `mpirun -n R grpo train` and the report as child processes, locally or through Slurm. Only
// `grpo study task` starts Kokkos, and only to run one-rank training runs in its own process
// (a bundle of runs shares one start-up).
#include "apps/commands.hpp"
#include "apps/options.hpp"
#include "core/error.hpp"
#include "io/globalopinionqa.hpp"
#include "io/pairs_convert.hpp"
#include "jobs/executors.hpp"
#include "jobs/plan.hpp"
#include "jobs/process.hpp"
#include "jobs/study_file.hpp"

#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

namespace grpo::app {

namespace {

namespace fs = std::filesystem;

po::options_description study_options() {
  po::options_description o("grpo study options");
  // clang-format off
  o.add_options()
    ("help,h", "show this help")
    ("out", text(), "study directory (overrides the file's study.output)")
    ("executor", text(), "local | slurm (overrides study.executor)")
    ("jobs,j", text(), "local executor: cores to keep busy [all of this machine's]")
    ("bundle", text(), "local executor: one-rank runs a process [about 4 bundles a core, at most 32]")
    ("dry-run", text()->implicit_value("true"), "slurm: write and print the sbatch scripts, submit nothing")
    ("all", text()->implicit_value("true"), "plan/status: list every task")
    ("args", po::value<std::vector<std::string>>(), "ACTION FILE|DIR [TASK]");
  // clang-format on
  return o;
}

const char* kStudyUsage =
    "Usage: grpo study ACTION ... [options]\n\n"
    "  plan FILE            check a study file and print its task graph\n"
    "  run FILE             plan, then run every task not yet done (local or Slurm)\n"
    "  resume DIR|FILE      rerun the unfinished and failed tasks of a planned study\n"
    "  status DIR|FILE      done / running / queued / failed / pending per layer, with logs\n"
    "  report DIR|FILE      redraw the report (plots and tables) from the traces\n"
    "  pack DIR|FILE        pack the traces of finished runs that are still one file each\n"
    "                       (bundles pack their own; docs/studies.md)\n"
    "  task DIR ID...       run tasks in turn, one-rank runs in this process (what the\n"
    "                       executors launch)\n\n"
    "Exit codes: 0 done, 1 some task failed (or, for status, not everything is done),\n"
    "2 configuration, 3 data, 4 I/O, 70 internal.\n\n";

/// The metadata a converted dataset will have: what io::inspect_dataset would read from the
/// file `grpo convert` writes (schema 1.1: every split with its options; an empty test split is
/// not written).
io::DatasetSummary opinion_summary(const io::OpinionDataset& data, const io::OpinionSpec& spec,
                                   const std::string& input, const std::string& path) {
  io::DatasetSummary s;
  s.path = path;
  s.schema_version = io::kDatasetSchemaVersion;
  const io::DatasetHeader header = io::opinion_header(data, spec, input, "");
  s.source = header.source;
  s.feature_dim = data.dim;
  s.group_names = data.groups;
  s.attributes = {header.text_attributes.begin(), header.text_attributes.end()};
  s.attributes["source"] = header.source;
  const std::pair<const char*, const io::OpinionSplit*> splits[3] = {
      {"train", &data.train}, {"val", &data.val}, {"test", &data.test}};
  for (const auto& [name, split] : splits) {
    if (split->rows() > 0) {
      io::SplitInfo info;
      info.name = name;
      info.offsets = split->offsets;
      info.has_options = true;
      info.option_rows = split->option_rows();
      s.splits.push_back(std::move(info));
    }
  }
  return s;
}

/// The metadata of the file `grpo convert pairs` writes for a planned conversion.
io::DatasetSummary pairs_summary(const io::PairsPlan& plan, const io::PairsSpec& spec,
                                 const std::string& input, const std::string& path) {
  io::DatasetSummary s;
  s.path = path;
  s.schema_version = io::kDatasetSchemaVersion;
  const io::DatasetHeader header = io::pairs_header(plan, spec, input);
  s.source = header.source;
  s.feature_dim = plan.dim;
  s.group_names = plan.groups;
  s.attributes = {header.text_attributes.begin(), header.text_attributes.end()};
  s.attributes["source"] = header.source;
  for (int k = 0; k < 3; ++k) {
    if (plan.split_rows(k) > 0) {
      io::SplitInfo info;
      info.name = io::kPairSplitNames[k];
      info.offsets = plan.offsets[static_cast<std::size_t>(k)];
      info.has_options = spec.options == io::PairOptions::Pair;
      info.option_rows = info.has_options ? 2 * plan.split_rows(k) : 0;
      s.splits.push_back(std::move(info));
    }
  }
  return s;
}

/// The OptionCheck the study parser uses: every run's options through the same parsers as
/// `grpo generate` / `grpo convert` / `grpo train`, with the data set's metadata (a generated
/// one's is known from its options, a converted one's from converting its input in memory, an
/// existing file is inspected).
class RunChecker {
public:
  void operator()(const std::string& command, const jobs::OptionList& options,
                  const jobs::DataSpec* data) {
    if (command == "generate") {
      check_generate_options(words(options, {"--out=/nonexistent/grpo-study-check.h5"}));
      return;
    }
    if (command == "convert") {
      convert(options, *data);
      return;
    }
    check_train_options(words(options, {"--dataset=/nonexistent/grpo-study-check-in.h5",
                                        "--out=/nonexistent/grpo-study-check-out.h5"}),
                        summary_of(*data));
  }

private:
  static std::vector<std::string> words(const jobs::OptionList& options,
                                        std::vector<std::string> head) {
    for (const auto& [k, v] : options) {
      head.push_back("--" + k + "=" + v);
    }
    return head;
  }
  /// Checks the options, then converts the input in memory (nothing is written) and keeps the
  /// metadata of the result for the checks of the training runs on it.
  void convert(const jobs::OptionList& options, const jobs::DataSpec& d) {
    const auto args = words(options, {"--out=/nonexistent/grpo-study-check.h5"});
    if (d.convert_source == "pairs") {
      const io::PairsSpec spec = check_convert_pairs_options(args);
      const std::string input = input_of(options);
      // The first pass only: every row checked, the split and the offsets known, no features.
      const io::PairsPlan plan = io::plan_pairs(input, spec);
      m_summaries[d.name] = pairs_summary(plan, spec, input, "data/" + d.name + ".h5");
      return;
    }
    const io::OpinionSpec spec = check_convert_options(d.convert_source, args);
    const std::string input = input_of(options);
    const auto converted = io::convert_opinions(io::read_opinion_records(input), spec, input);
    m_summaries[d.name] = opinion_summary(converted, spec, input, "data/" + d.name + ".h5");
  }
  static std::string input_of(const jobs::OptionList& options) {
    std::string input;
    for (const auto& [k, v] : options) {
      if (k == "input") {
        input = v;
      }
    }
    std::error_code ec;
    if (!fs::is_regular_file(input, ec)) {
      throw ConfigError("option --input: no such file '" + input + "'");
    }
    return input;
  }
  const io::DatasetSummary& summary_of(const jobs::DataSpec& d) {
    auto it = m_summaries.find(d.name);
    if (it == m_summaries.end() && d.converted()) {
      throw InternalError("study check: data set '" + d.name + "' was not converted");
    }
    if (it == m_summaries.end()) {
      io::DatasetSummary s =
          d.generated()
              ? check_generate_options(words(d.generate, {"--out=/nonexistent/grpo-check.h5"}))
              : io::inspect_dataset(d.file);
      it = m_summaries.emplace(d.name, std::move(s)).first;
    }
    return it->second;
  }
  std::map<std::string, io::DatasetSummary> m_summaries;
};

jobs::StudySpec parse_spec(const std::string& file, const ParsedOptions& p) {
  RunChecker checker;
  auto spec =
      jobs::parse_study_file(file, fs::current_path().string(),
                             [&](const std::string& command, const jobs::OptionList& options,
                                 const jobs::DataSpec* data) { checker(command, options, data); });
  if (given(p, "out")) {
    spec.output = fs::absolute(get_string(p, "out")).lexically_normal().string();
  }
  set_if_given(p, "executor", spec.executor, get_string);
  if (spec.executor != "local" && spec.executor != "slurm") {
    throw ConfigError("option --executor: invalid value '" + spec.executor +
                      "' (expected local or slurm)");
  }
  return spec;
}

/// A study directory, or a study file naming one.
jobs::Plan load_plan(const std::string& target, const ParsedOptions& p) {
  std::error_code ec;
  if (fs::is_directory(target, ec)) {
    return jobs::read_plan(target);
  }
  if (!fs::exists(target, ec)) {
    throw IoError("'" + target + "': no such study file or directory");
  }
  return jobs::read_plan(parse_spec(target, p).output);
}

void print_plan(const jobs::Plan& plan, bool all, std::ostream& out) {
  out << "study " << plan.name << " -> " << plan.directory << " (executor " << plan.executor
      << ")\n";
  std::map<std::string, std::size_t> per_layer;
  for (const auto& t : plan.tasks) {
    ++per_layer[t.layer()];
  }
  for (const char* layer : jobs::kLayers) {
    out << "  " << layer << ": " << per_layer[layer] << " task(s)";
    if (std::string(layer) == "train") {
      for (const auto& e : plan.experiments) {
        std::size_t runs = 0;
        std::size_t cells = 0;
        for (const auto& c : plan.cells) {
          if (c.experiment == e.name) {
            ++cells;
            runs += c.runs.size();
          }
        }
        out << "\n    experiment " << e.name << " (" << e.kind
            << (e.x.empty() ? "" : ", x = " + e.x) << "): " << cells << " cells, " << runs
            << " runs";
      }
    }
    out << "\n";
  }
  out << "  graph: data -> train -> aggregate (one per cell) -> report\n";
  if (all) {
    const auto tools = jobs::default_toolchain(plan);
    for (const auto& t : plan.tasks) {
      out << t.id;
      if (!t.deps.empty()) {
        out << "  after "
            << (t.deps.size() == 1 ? t.deps[0] : std::to_string(t.deps.size()) + " tasks");
      }
      const auto argv = jobs::task_command(plan, t, tools);
      out << "\n    "
          << (argv.empty() ? "(aggregate " + plan.path(t.output) + ")" : jobs::shell_command(argv))
          << "\n";
    }
  }
}

/// Packs the traces of finished training runs that are still their own files (docs/studies.md
/// "Trace packs"); a failure leaves them as they are, which every reader takes as well, and
/// returns its exit code (0 on success).
int pack_leftovers(const jobs::Plan& plan, std::ostream& out) {
  std::vector<std::string> ids;
  for (const auto& t : plan.tasks) {
    if (t.kind == jobs::TaskKind::Train) {
      ids.push_back(t.id);
    }
  }
  try {
    const std::string pack = jobs::pack_traces(plan, ids);
    if (!pack.empty()) {
      out << "packed the traces of runs that were not yet packed into " << pack << "\n";
    }
  } catch (const Error& e) {
    out << "the traces of some finished runs stay unpacked: " << e.what() << "\n";
    return e.exit_code();
  }
  return 0;
}

int execute(const jobs::Plan& plan, const ParsedOptions& p, std::ostream& out) {
  const auto tools = jobs::default_toolchain(plan);
  std::string executor = given(p, "executor") ? get_string(p, "executor") : plan.executor;
  if (executor == "slurm") {
    return jobs::submit_slurm(plan, tools, given(p, "dry-run") && get_bool(p, "dry-run"), out);
  }
  if (executor != "local") {
    throw ConfigError("option --executor: invalid value '" + executor +
                      "' (expected local or slurm)");
  }
  // An integer option in [1, most], or `absent` when not given.
  const auto count_option = [&](const char* name, int most, int absent) {
    if (!given(p, name)) {
      return absent;
    }
    const auto v = get_int(p, name);
    if (v < 1 || v > most) {
      throw ConfigError(std::string("option --") + name + ": invalid value " + std::to_string(v) +
                        " (expected an integer in [1, " + std::to_string(most) + "])");
    }
    return static_cast<int>(v);
  };
  const int jobs_count = count_option("jobs", 4096, plan.jobs);
  const int bundle = count_option("bundle", 100000, 0);
  const int rc = jobs::run_local(plan, tools, jobs_count, bundle, out);
  pack_leftovers(plan, out); // runs finished by bundles that were interrupted before packing
  if (rc == 0) {
    out << "report: " << plan.path("report/report.md") << "\n";
  } else {
    out << "see: grpo study status " << plan.directory << "\n";
  }
  return rc;
}

} // namespace

jobs::StudySpec read_study_file(const std::string& file) {
  RunChecker checker;
  return jobs::parse_study_file(
      file, fs::current_path().string(),
      [&](const std::string& command, const jobs::OptionList& options, const jobs::DataSpec* data) {
        checker(command, options, data);
      });
}

int run_study(const std::vector<std::string>& args) {
  const auto options = study_options();
  const auto parsed = parse_options("study", options, args, "args");
  std::vector<std::string> words;
  if (parsed.values.count("args") > 0) {
    words = parsed.values["args"].as<std::vector<std::string>>();
  }
  if (parsed.help || words.empty()) {
    if (words.empty() && !parsed.help) {
      throw ConfigError(
          "grpo study: missing action (plan, run, resume, status, report, pack or task)");
    }
    std::cout << kStudyUsage << options;
    return 0;
  }
  const std::string& action = words[0];
  const std::size_t expected = action == "task" ? 3 : 2;
  if (action == "task" ? words.size() < expected : words.size() != expected) {
    throw ConfigError("grpo study " + action + ": expected " +
                      (action == "task" ? std::string("DIR and a task id")
                                        : std::string("one study file or directory")) +
                      ", got " + std::to_string(words.size() - 1) + " argument(s)");
  }
  const bool all = given(parsed, "all") && get_bool(parsed, "all");
  if (action == "plan") {
    const auto plan = jobs::build_plan(parse_spec(words[1], parsed));
    print_plan(plan, all, std::cout);
    return 0;
  }
  if (action == "run") {
    std::error_code ec;
    if (fs::is_directory(words[1], ec)) {
      throw ConfigError("grpo study run: '" + words[1] +
                        "' is a directory; give the study file (or use resume)");
    }
    const auto plan = jobs::build_plan(parse_spec(words[1], parsed));
    jobs::write_plan(plan);
    fs::copy_file(words[1], plan.path("study.toml"), fs::copy_options::overwrite_existing, ec);
    print_plan(plan, false, std::cout);
    return execute(plan, parsed, std::cout);
  }
  if (action == "resume") {
    return execute(load_plan(words[1], parsed), parsed, std::cout);
  }
  if (action == "pack") {
    const auto plan = load_plan(words[1], parsed);
    return pack_leftovers(plan, std::cout);
  }
  if (action == "status") {
    return jobs::print_status(load_plan(words[1], parsed), std::cout, all);
  }
  if (action == "report") {
    const auto plan = load_plan(words[1], parsed);
    const auto tools = jobs::default_toolchain(plan);
    const jobs::Task* report = plan.find("report");
    if (report == nullptr) {
      throw DataError("study plan '" + plan.path("plan.json") + "': no report task");
    }
    // The report prints its own one-line error; its exit code is passed on.
    const auto status = jobs::wait_for(jobs::spawn(jobs::task_command(plan, *report, tools), ""));
    return status.signal != 0 ? 128 + status.signal : status.code;
  }
  if (action == "task") {
    const auto plan = jobs::read_plan(words[1]);
    auto tools = jobs::default_toolchain(plan);
    // One-rank runs, generations and conversions in this process (Kokkos started by the first
    // run). Under an MPI launcher (or GRPO_MPI=1) each is its own grpo child, as before.
    std::optional<core::Environment> env;
    if (!core::mpi_launched_here()) {
      tools.run_here = [&env](const std::vector<std::string>& command) {
        if (!env) {
          static char name[] = "grpo";
          static char* names[] = {name, nullptr};
          int argc = 1;
          char** argv = names;
          env.emplace(argc, argv);
        }
        const std::vector<std::string> command_args(command.begin() + 1, command.end());
        return run_reporting_errors(*env, [&] {
          if (command.front() == "train") {
            return run_train(*env, command_args);
          }
          if (command.front() == "generate") {
            return run_generate(*env, command_args);
          }
          if (command.front() == "convert") {
            return run_convert(*env, command_args);
          }
          throw InternalError("grpo study task: no command '" + command.front() +
                              "' to run in this process");
        });
      };
    }
    return jobs::run_tasks(plan, std::vector<std::string>(words.begin() + 2, words.end()), tools);
  }
  throw ConfigError("grpo study: unknown action '" + action +
                    "' (expected plan, run, resume, status, report, pack or task)");
}

} // namespace grpo::app
