// grpo generate: write the synthetic group bandit of ALGORITHM.md §5 as a dataset file. Every
// rank generates and writes its own block of rows (parallel HDF5); the file is identical for any
// number of ranks because each sample's draws are keyed by (seed, split, group, index).
#include "apps/commands.hpp"
#include "apps/options.hpp"
#include "core/error.hpp"
#include "core/git_revision.hpp"
#include "io/dataset.hpp"
#include "io/synthetic_bandit.hpp"
#include "solver/group_partition.hpp"

#include <sstream>

namespace grpo::app {

namespace {

po::options_description generate_options() {
  po::options_description o("grpo generate options");
  // clang-format off
  o.add_options()
    ("help,h", "show this help")
    ("config", text(), "INI file with any of these options (command line wins)")
    ("out", text(), "output dataset (HDF5) [required]")
    ("preset", text(), "even-imbalanced | uneven-balanced | uneven-imbalanced (ALGORITHM.md §5.5)")
    ("seed", text(), "seed of every draw [2021]")
    ("state-dim", text(), "state dimension d; features have 2d entries [2]")
    ("actions", text(), "number of actions A [8]")
    ("groups", text(), "number of groups K [2]")
    ("feature-type", text(), "same | swapped | flipped [swapped]")
    ("train-size", text(), "training pairs N [300]")
    ("val-size", text(), "validation pairs (0 = no val split) [1000]")
    ("test-size", text(), "test pairs; their states are the evaluation states [1000]")
    ("pairs", text(), "train action pairs: even | uneven [even]")
    ("val-pairs", text(), "validation action pairs: even | uneven [as --pairs]")
    ("proportions", text(), "train group proportions, K values or 'equal' [0.2,0.8]")
    ("val-proportions", text(), "validation group proportions [equal]")
    ("labels", text(), "deterministic | bradley-terry | mixed (train) [deterministic]")
    ("val-labels", text(), "labels of the validation split [deterministic]")
    ("deterministic-ratio", text(), "mixed labels: per-group probability of a deterministic label");
  // clang-format on
  return o;
}

io::BanditSpec resolve(const ParsedOptions& p) {
  io::BanditSpec s;
  if (given(p, "preset")) {
    s = io::bandit_preset(get_string(p, "preset"));
  }
  auto to_int = [&](const char* name) {
    const auto v = get_int(p, name);
    if (v < -2147483647LL || v > 2147483647LL) {
      throw ConfigError(std::string("option --") + name + ": invalid value " + std::to_string(v) +
                        " (out of range)");
    }
    return static_cast<int>(v);
  };
  set_if_given(p, "seed", s.seed, get_uint);
  if (given(p, "state-dim")) {
    s.state_dim = to_int("state-dim");
  }
  if (given(p, "actions")) {
    s.num_actions = to_int("actions");
  }
  if (given(p, "groups")) {
    s.num_groups = to_int("groups");
  }
  if (given(p, "feature-type")) {
    s.feature_type = io::parse_feature_type(get_string(p, "feature-type"));
  }
  set_if_given(p, "train-size", s.train.size, get_int);
  set_if_given(p, "val-size", s.val.size, get_int);
  set_if_given(p, "test-size", s.test.size, get_int);
  if (given(p, "pairs")) {
    s.train.pairs = io::parse_pair_rule(get_string(p, "pairs"), "pairs");
    if (!given(p, "val-pairs")) {
      s.val.pairs = s.train.pairs;
    }
  }
  if (given(p, "val-pairs")) {
    s.val.pairs = io::parse_pair_rule(get_string(p, "val-pairs"), "val-pairs");
  }
  if (given(p, "proportions")) {
    s.train.proportions = get_list(p, "proportions", true);
  }
  if (given(p, "val-proportions")) {
    s.val.proportions = get_list(p, "val-proportions", true);
  }
  if (given(p, "labels")) {
    s.train.labels = io::parse_label_rule(get_string(p, "labels"), "labels");
  }
  if (given(p, "val-labels")) {
    s.val.labels = io::parse_label_rule(get_string(p, "val-labels"), "val-labels");
  }
  if (given(p, "deterministic-ratio")) {
    s.train.deterministic_ratio = get_list(p, "deterministic-ratio");
    s.val.deterministic_ratio = s.train.deterministic_ratio;
  }
  if (!given(p, "out")) {
    throw ConfigError("grpo generate: the option '--out' is required but missing");
  }
  // The built-in proportions (0.2, 0.8) only fit K = 2: other K default to equal groups.
  if (!given(p, "proportions") && !given(p, "preset") && s.num_groups != 2) {
    s.train.proportions.clear();
  }
  s.validate();
  return s;
}

std::string join(const std::vector<double>& v) { return v.empty() ? "equal" : join_values(v); }

std::string render(const io::BanditSpec& s) {
  std::ostringstream o;
  o << "seed = " << s.seed << "\nstate-dim = " << s.state_dim << "\nactions = " << s.num_actions
    << "\ngroups = " << s.num_groups << "\nfeature-type = " << io::feature_type_name(s.feature_type)
    << "\ntrain-size = " << s.train.size << "\nval-size = " << s.val.size
    << "\ntest-size = " << s.test.size << "\npairs = " << io::pair_rule_name(s.train.pairs)
    << "\nval-pairs = " << io::pair_rule_name(s.val.pairs)
    << "\nproportions = " << join(s.train.proportions)
    << "\nval-proportions = " << join(s.val.proportions)
    << "\nlabels = " << io::label_rule_name(s.train.labels)
    << "\nval-labels = " << io::label_rule_name(s.val.labels) << "\n";
  if (!s.train.deterministic_ratio.empty()) {
    o << "deterministic-ratio = " << join(s.train.deterministic_ratio) << "\n";
  }
  return o.str();
}

void write_split(io::DatasetWriter& writer, const io::BanditSpec& spec, io::SplitKind kind,
                 const Communicator& comm) {
  const index_t n = spec.split(kind).size;
  if (n == 0) {
    return;
  }
  const std::string name = io::split_kind_name(kind);
  const auto offsets = io::split_offsets(spec, kind);
  const solver::GroupPartition partition(offsets, comm.size());
  const index_t begin = partition.rank_begin(comm.rank());
  const index_t end = partition.rank_end(comm.rank());
  const auto rows = io::generate_rows(spec, kind, begin, end);
  writer.begin_split(name, offsets);
  writer.write_split_rows(name, begin, end, rows.chosen.data(), rows.rejected.data(), nullptr);
  // Per-row provenance for analysis: states, (y_w, y_l) and their true rewards.
  const auto total = static_cast<hsize_t>(n);
  writer.create_rows_dataset(name + "/states", H5T_IEEE_F64LE,
                             {total, static_cast<hsize_t>(spec.state_dim)});
  writer.write_rows(name + "/states", H5T_NATIVE_DOUBLE, begin, end, rows.states.data());
  std::vector<std::int32_t> actions;
  std::vector<double> rewards;
  for (std::size_t i = 0; i < rows.action_chosen.size(); ++i) {
    actions.push_back(rows.action_chosen[i]);
    actions.push_back(rows.action_rejected[i]);
    rewards.push_back(rows.reward_chosen[i]);
    rewards.push_back(rows.reward_rejected[i]);
  }
  writer.create_rows_dataset(name + "/actions", H5T_STD_I32LE, {total, 2});
  writer.write_rows(name + "/actions", H5T_NATIVE_INT32, begin, end, actions.data());
  writer.create_rows_dataset(name + "/true_rewards", H5T_IEEE_F64LE, {total, 2});
  writer.write_rows(name + "/true_rewards", H5T_NATIVE_DOUBLE, begin, end, rewards.data());
}

void write_environment(io::DatasetWriter& writer, const io::BanditSpec& spec,
                       const Communicator& comm) {
  const index_t m = spec.test.size;
  if (m == 0) {
    return;
  }
  const int k = spec.num_groups;
  const int a = spec.num_actions;
  const int d = spec.feature_dim();
  const index_t begin = solver::even_share_begin(m, comm.size(), comm.rank());
  const index_t end = solver::even_share_begin(m, comm.size(), comm.rank() + 1);
  const auto env = io::environment_rows(spec, begin, end);
  const auto local = static_cast<std::size_t>(end - begin);
  // [K][local][A][D] -> [local][K][A][D]: the state is the row dimension on disk.
  std::vector<double> features(env.action_features.size());
  const std::size_t block = static_cast<std::size_t>(a) * d;
  for (int g = 0; g < k; ++g) {
    for (std::size_t s = 0; s < local; ++s) {
      std::copy_n(env.action_features.begin() + static_cast<long>((g * local + s) * block), block,
                  features.begin() + static_cast<long>((s * k + g) * block));
    }
  }
  writer.create_group("env");
  writer.write_attribute("env", "feature_map", io::feature_type_name(spec.feature_type));
  writer.create_rows_dataset("env/action_features", H5T_IEEE_F64LE,
                             {static_cast<hsize_t>(m), static_cast<hsize_t>(k),
                              static_cast<hsize_t>(a), static_cast<hsize_t>(d)});
  writer.write_rows("env/action_features", H5T_NATIVE_DOUBLE, begin, end, features.data());
  writer.create_rows_dataset("env/states", H5T_IEEE_F64LE,
                             {static_cast<hsize_t>(m), static_cast<hsize_t>(spec.state_dim)});
  writer.write_rows("env/states", H5T_NATIVE_DOUBLE, begin, end, env.states.data());
  const auto params = io::reward_params(k, d);
  writer.create_rows_dataset("env/reward_params", H5T_IEEE_F64LE,
                             {static_cast<hsize_t>(k), static_cast<hsize_t>(d)});
  writer.write_rows("env/reward_params", H5T_NATIVE_DOUBLE, 0, comm.is_root() ? k : 0,
                    params.data());
}

} // namespace

io::DatasetSummary check_generate_options(const std::vector<std::string>& args) {
  const auto parsed = parse_options("generate", generate_options(), args);
  const io::BanditSpec spec = resolve(parsed);
  io::DatasetSummary summary;
  summary.path = get_string(parsed, "out");
  summary.source = "synthetic";
  summary.feature_dim = spec.feature_dim();
  for (int g = 0; g < spec.num_groups; ++g) {
    summary.group_names.push_back("group_" + std::to_string(g));
  }
  summary.splits.push_back({"train", io::split_offsets(spec, io::SplitKind::Train), false});
  if (!spec.preset.empty()) {
    summary.attributes["preset"] = spec.preset;
  }
  return summary;
}

int run_generate(core::Environment& env, const std::vector<std::string>& args) {
  const auto options = generate_options();
  const auto parsed = parse_options("generate", options, args);
  if (parsed.help) {
    std::ostringstream o;
    o << "Usage: grpo generate --out FILE [--preset P] [options]\n\n"
      << "Writes the synthetic group bandit of the paper (ALGORITHM.md §5) as a grpo dataset:\n"
      << "train/val/test pairs sorted by group, and env/ with the true rewards for metrics.\n\n"
      << options;
    root_print(env, o.str());
    return 0;
  }
  const io::BanditSpec spec = naming_config_file(parsed, [&] { return resolve(parsed); });
  const std::string out = get_string(parsed, "out");
  Communicator comm;

  io::DatasetHeader header;
  header.feature_dim = spec.feature_dim();
  for (int g = 0; g < spec.num_groups; ++g) {
    header.group_names.push_back("group_" + std::to_string(g));
  }
  header.source = "synthetic";
  header.text_attributes = {{"generator", render(spec)},
                            {"feature_type", io::feature_type_name(spec.feature_type)},
                            {"git_revision", GRPO_GIT_REVISION}};
  if (!spec.preset.empty()) {
    header.text_attributes["preset"] = spec.preset;
  }
  header.int_attributes = {{"seed", static_cast<std::int64_t>(spec.seed)},
                           {"state_dim", spec.state_dim},
                           {"num_actions", spec.num_actions}};
  io::DatasetWriter writer(out, comm, header);
  for (auto kind : {io::SplitKind::Train, io::SplitKind::Val, io::SplitKind::Test}) {
    write_split(writer, spec, kind, comm);
  }
  write_environment(writer, spec, comm);
  writer.commit();

  std::ostringstream o;
  const auto train = io::split_offsets(spec, io::SplitKind::Train);
  o << "wrote " << out << ": " << spec.num_groups << " groups, d = " << spec.feature_dim()
    << ", train " << spec.train.size << " pairs (";
  for (int g = 0; g < spec.num_groups; ++g) {
    o << (g != 0 ? "/" : "") << train[g + 1] - train[g];
  }
  o << "), val " << spec.val.size << ", test " << spec.test.size << "\n";
  root_print(env, o.str());
  return 0;
}

} // namespace grpo::app
