// grpo convert SOURCE: turn real data into a grpo dataset. Sources: globalopinionqa (the JSON
// array of (question, country, distribution) records, io/globalopinionqa.hpp) and pairs
// (preference pairs with a group column in JSON Lines or CSV, io/pairs_convert.hpp). Every rank
// reads and checks the input, so that a bad input stops every rank with the same error; rank 0
// alone writes the file (through a one-rank communicator) and tells the others how that went.
#include "apps/commands.hpp"
#include "apps/options.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/git_revision.hpp"
#include "io/dataset.hpp"
#include "io/globalopinionqa.hpp"
#include "io/pairs_convert.hpp"

#include <sstream>

namespace grpo::app {

namespace {

const char* kConvertUsage = "Usage: grpo convert SOURCE [options]\n\n"
                            "Converts real data into a grpo dataset (schema 1.1, with the "
                            "features\nof every option of each pair).\n\n"
                            "Sources:\n"
                            "  globalopinionqa   GlobalOpinionQA records (JSON array) -> "
                            "per-country preference pairs\n"
                            "  pairs             preference pairs with a group column (JSON "
                            "Lines or CSV), text or\n"
                            "                    precomputed features\n\n"
                            "See grpo convert SOURCE --help.\n";

po::options_description globalopinionqa_options() {
  po::options_description o("grpo convert globalopinionqa options");
  // clang-format off
  o.add_options()
    ("help,h", "show this help")
    ("config", text(), "INI file with any of these options (command line wins)")
    ("input", text(), "GlobalOpinionQA JSON array of records [required]")
    ("out", text(), "output dataset (HDF5) [required]")
    ("countries", text(), "groups, comma-separated, in this order [Nigeria,Egypt,"
                          "India (Current national sample),China,Japan]")
    ("top", text(), "instead: the N groups with the most records (ties by name)")
    ("pairs", text(), "one (preferred vs a random other option) | all (vs every other) [one]")
    ("prompt", text(), "paper ('Opinion of people in <country> on: <question>', §8.1) | "
                       "question (the bare question, the same for every country) [paper]")
    ("dim", text(), io::kTextDimHelp)
    ("seed", text(), "seed of the split and of the rejected options [42]");
  // clang-format on
  return o;
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    const auto comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? comma : comma - pos);
    const auto first = item.find_first_not_of(" \t");
    item = first == std::string::npos
               ? ""
               : item.substr(first, item.find_last_not_of(" \t") - first + 1);
    if (item.empty()) {
      throw ConfigError("option --countries: invalid list '" + text +
                        "' (an empty name; expected e.g. Nigeria,Egypt)");
    }
    out.push_back(item);
    if (comma == std::string::npos) {
      return out;
    }
    pos = comma + 1;
  }
}

io::OpinionSpec resolve(const ParsedOptions& p) {
  io::OpinionSpec s;
  const auto ranged = [&](const char* name, std::int64_t lo, std::int64_t hi) {
    const auto v = get_int(p, name);
    if (v < lo || v > hi) {
      throw ConfigError(std::string("option --") + name + ": invalid value " + std::to_string(v) +
                        " (accepted: " + std::to_string(lo) + " to " + std::to_string(hi) + ")");
    }
    return static_cast<int>(v);
  };
  if (given(p, "countries")) {
    s.countries = split_names(get_string(p, "countries"));
  }
  if (given(p, "top")) {
    s.top = ranged("top", 1, io::kOpinionMaxTop);
  }
  if (given(p, "pairs")) {
    s.pairs = io::parse_opinion_pairs(get_string(p, "pairs"));
  }
  if (given(p, "prompt")) {
    s.prompt = io::parse_opinion_prompt(get_string(p, "prompt"));
  }
  if (given(p, "dim")) {
    s.dim = ranged("dim", io::kOpinionMinDim, io::kOpinionMaxDim);
  }
  set_if_given(p, "seed", s.seed, get_uint);
  if (!given(p, "input")) {
    throw ConfigError("grpo convert globalopinionqa: the option '--input' is required but missing");
  }
  if (!given(p, "out")) {
    throw ConfigError("grpo convert globalopinionqa: the option '--out' is required but missing");
  }
  s.validate();
  return s;
}

/// Rethrows on every rank the error (code and message) that the root broadcast.
[[noreturn]] void rethrow(std::int64_t code, const std::string& message) {
  switch (static_cast<ExitCode>(code)) {
  case ExitCode::Config:
    throw ConfigError(message);
  case ExitCode::Data:
    throw DataError(message);
  case ExitCode::Io:
    throw IoError(message);
  case ExitCode::Numerical:
    throw NumericalError(message);
  default:
    throw InternalError(message, false);
  }
}

Communicator self_communicator() {
#if GRPO_ENABLE_MPI
  return Communicator(MPI_COMM_SELF);
#else
  return Communicator();
#endif
}

/// Runs `write` on rank 0 with a one-rank communicator; every rank then throws the error (code
/// and message) it threw, if any.
template <class Write>
void write_on_root(Write&& write) {
  Communicator world;
  std::int64_t code = 0;
  std::string message;
  if (world.is_root()) {
    try {
      write(self_communicator());
    } catch (const Error& e) {
      code = e.exit_code();
      message = e.what();
    }
  }
  world.broadcast(code);
  world.broadcast(message);
  if (code != 0) {
    rethrow(code, message);
  }
}

std::string summary_line(const std::string& out, const io::OpinionDataset& data) {
  std::ostringstream o;
  const auto pairs = data.train.rows() + data.val.rows() + data.test.rows();
  o << "wrote " << out << ": " << data.groups.size() << " groups, d = " << data.dim << ", " << pairs
    << " pairs (train " << data.train.rows() << ", val " << data.val.rows() << ", test "
    << data.test.rows() << "), "
    << data.train.option_rows() + data.val.option_rows() + data.test.option_rows()
    << " option rows\n";
  for (std::size_t g = 0; g < data.groups.size(); ++g) {
    const auto count = [&](const io::OpinionSplit& s) { return s.offsets[g + 1] - s.offsets[g]; };
    o << "  " << data.groups[g] << ": " << data.group_records[g] << " records, "
      << data.group_questions[g] << " questions, pairs " << count(data.train) << "/"
      << count(data.val) << "/" << count(data.test) << "\n";
  }
  return o.str();
}

int run_globalopinionqa(core::Environment& env, const std::vector<std::string>& args) {
  const auto options = globalopinionqa_options();
  const auto parsed = parse_options("convert globalopinionqa", options, args);
  if (parsed.help) {
    std::ostringstream o;
    o << "Usage: grpo convert globalopinionqa --input FILE --out D.h5 [options]\n\n"
      << "Per-country preference pairs from GlobalOpinionQA (ALGORITHM.md §8.1): preferred =\n"
      << "the option with the largest share, rejected = a random other option (or all); each\n"
      << "country's questions split 80/10/10 into train/val/test; hashed n-gram features of\n"
      << "question and option plus the option position (docs/formats.md).\n\n"
      << options;
    root_print(env, o.str());
    return 0;
  }
  const io::OpinionSpec spec = naming_config_file(parsed, [&] { return resolve(parsed); });
  const std::string input = get_string(parsed, "input");
  const std::string out = get_string(parsed, "out");
  const auto records = io::read_opinion_records(input);
  const auto data = io::convert_opinions(records, spec, input);
  write_on_root([&](const Communicator& self) {
    auto header = io::opinion_header(data, spec, input, io::file_checksum(input));
    header.text_attributes["git_revision"] = GRPO_GIT_REVISION;
    io::DatasetWriter writer(out, self, header);
    io::write_opinion_splits(writer, data, self);
    writer.commit();
  });
  root_print(env, summary_line(out, data));
  return 0;
}

po::options_description pairs_options() {
  po::options_description o("grpo convert pairs options");
  // clang-format off
  o.add_options()
    ("help,h", "show this help")
    ("config", text(), "INI file with any of these options (command line wins)")
    ("input", text(), "preference pairs: JSON Lines (one object per line) or CSV [required]")
    ("out", text(), "output dataset (HDF5) [required]")
    ("format", text(), "jsonl | csv [from the extension: .jsonl .ndjson .json | .csv]")
    ("group", text(), "column of the group (a string; JSONL: or an integer) [group]")
    ("prompt", text(), "column of the prompt x; none: no prompt [prompt, left out if absent]")
    ("chosen", text(), "column of the preferred response y_w (text features) [chosen]")
    ("rejected", text(), "column of the rejected response y_l (text features) [rejected]")
    ("split", text(), "column of the split (train, val or validation, test); none: split "
                      "by fractions [split, if the file has it]")
    ("chosen-features", text(), "precomputed phi(x, y_w): a JSONL field holding an array of "
                                "numbers, or a CSV column prefix (cf_ for cf_0, cf_1, ...)")
    ("rejected-features", text(), "precomputed phi(x, y_l), as --chosen-features")
    ("ref-chosen", text(), "column of log pi_ref(y_w|x) (with --ref-rejected: ref_logratio)")
    ("ref-rejected", text(), "column of log pi_ref(y_l|x)")
    ("dim", text(), io::kTextDimHelp)
    ("val-fraction", text(), "without a split column: fraction of each group's prompts for "
                             "validation [0.1]")
    ("test-fraction", text(), "... and for test (0: no test split) [0.1]")
    ("seed", text(), "seed of the split by fractions [42]")
    ("group-order", text(), "first-seen (order of the first row of each group) | sorted "
                            "[first-seen]")
    ("min-pairs", text(), "pairs every group needs in train, val (and test) [1]")
    ("options", text(), "pair (option datasets of the two responses, for the MLP) | none [pair]");
  // clang-format on
  return o;
}

io::PairsSpec resolve_pairs(const ParsedOptions& p) {
  io::PairsSpec s;
  auto& c = s.columns;
  if (!given(p, "input")) {
    throw ConfigError("grpo convert pairs: the option '--input' is required but missing");
  }
  if (!given(p, "out")) {
    throw ConfigError("grpo convert pairs: the option '--out' is required but missing");
  }
  s.format = given(p, "format") ? io::parse_pairs_format(get_string(p, "format"))
                                : io::pairs_format_of(get_string(p, "input"));
  set_if_given(p, "group", c.group, get_string);
  set_if_given(p, "chosen", c.chosen, get_string);
  set_if_given(p, "rejected", c.rejected, get_string);
  set_if_given(p, "chosen-features", c.chosen_features, get_string);
  set_if_given(p, "rejected-features", c.rejected_features, get_string);
  set_if_given(p, "ref-chosen", c.ref_chosen, get_string);
  set_if_given(p, "ref-rejected", c.ref_rejected, get_string);
  // An explicit column must exist; `none` (or empty) reads none.
  const auto optional_column = [&](const char* name, std::string& column, bool& required) {
    if (given(p, name)) {
      const std::string v = get_string(p, name);
      column = v == "none" ? "" : v;
      required = !column.empty();
    }
  };
  optional_column("prompt", c.prompt, c.prompt_required);
  optional_column("split", c.split, c.split_required);
  if (c.precomputed() && given(p, "dim")) {
    throw ConfigError("option --dim: only for text features (precomputed features keep the "
                      "length they have in the file)");
  }
  if (c.precomputed() && (given(p, "chosen") || given(p, "rejected"))) {
    throw ConfigError(std::string("option --") + (given(p, "chosen") ? "chosen" : "rejected") +
                      ": text responses and precomputed features (--chosen-features) exclude "
                      "each other");
  }
  if (given(p, "dim")) {
    const auto d = get_int(p, "dim");
    if (d < io::kTextMinDim || d > io::kTextMaxDim) {
      throw ConfigError("option --dim: invalid value " + std::to_string(d) +
                        " (accepted: " + std::to_string(io::kTextMinDim) + " to " +
                        std::to_string(io::kTextMaxDim) + ")");
    }
    s.dim = static_cast<int>(d);
  }
  set_if_given(p, "val-fraction", s.val_fraction, get_double);
  set_if_given(p, "test-fraction", s.test_fraction, get_double);
  s.fractions_given = given(p, "val-fraction") || given(p, "test-fraction");
  if (s.fractions_given && c.split_required) {
    throw ConfigError("option --val-fraction: cannot be combined with --split " + c.split +
                      " (fractions split a file without a split column; give --split none)");
  }
  set_if_given(p, "seed", s.seed, get_uint);
  if (given(p, "group-order")) {
    s.group_order = io::parse_group_order(get_string(p, "group-order"));
  }
  set_if_given(p, "min-pairs", s.min_pairs, get_int);
  if (given(p, "options")) {
    s.options = io::parse_pair_options(get_string(p, "options"));
  }
  s.validate();
  return s;
}

std::string pairs_summary_line(const std::string& out, const io::PairsPlan& plan,
                               const io::PairsSpec& spec) {
  std::ostringstream o;
  o << "wrote " << out << ": " << plan.groups.size() << " groups, d = " << plan.dim << " ("
    << (spec.columns.precomputed() ? "precomputed" : "text") << " features), " << plan.rows
    << " pairs (train " << plan.split_rows(0) << ", val " << plan.split_rows(1) << ", test "
    << plan.split_rows(2) << "), split by "
    << (plan.split_column ? "column '" + spec.columns.split + "'" : std::string("fractions"))
    << ", " << plan.bytes << " bytes read\n";
  for (std::size_t g = 0; g < plan.groups.size(); ++g) {
    const auto count = [&](int s) {
      const auto& off = plan.offsets[static_cast<std::size_t>(s)];
      return off[g + 1] - off[g];
    };
    o << "  " << plan.groups[g] << ": " << plan.group_pairs[g] << " pairs, " << count(0) << "/"
      << count(1) << "/" << count(2) << "\n";
  }
  return o.str();
}

int run_pairs(core::Environment& env, const std::vector<std::string>& args) {
  const auto options = pairs_options();
  const auto parsed = parse_options("convert pairs", options, args);
  if (parsed.help) {
    std::ostringstream o;
    o << "Usage: grpo convert pairs --input FILE --out D.h5 [options]\n\n"
      << "Preference pairs with a group column from JSON Lines or CSV (docs/formats.md,\n"
      << "\"Source pairs\"): text features (the hashed n-grams of convert globalopinionqa)\n"
      << "or precomputed feature vectors and reference log-probabilities; split by a split\n"
      << "column or by fractions of each group's prompts. Two passes over the input.\n\n"
      << options;
    root_print(env, o.str());
    return 0;
  }
  const io::PairsSpec spec = naming_config_file(parsed, [&] { return resolve_pairs(parsed); });
  const std::string input = get_string(parsed, "input");
  const std::string out = get_string(parsed, "out");
  const io::PairsPlan plan = io::plan_pairs(input, spec);
  write_on_root([&](const Communicator& self) {
    auto header = io::pairs_header(plan, spec, input);
    header.text_attributes["git_revision"] = GRPO_GIT_REVISION;
    io::DatasetWriter writer(out, self, header);
    io::write_pairs(writer, input, spec, plan);
    writer.commit();
  });
  root_print(env, pairs_summary_line(out, plan, spec));
  return 0;
}

} // namespace

io::OpinionSpec check_convert_options(const std::string& source,
                                      const std::vector<std::string>& args) {
  if (source != "globalopinionqa") {
    throw ConfigError("grpo convert: unknown source '" + source +
                      "' (expected globalopinionqa or pairs)");
  }
  return resolve(parse_options("convert globalopinionqa", globalopinionqa_options(), args));
}

io::PairsSpec check_convert_pairs_options(const std::vector<std::string>& args) {
  return resolve_pairs(parse_options("convert pairs", pairs_options(), args));
}

int run_convert(core::Environment& env, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    if (args.empty()) {
      throw ConfigError("grpo convert: missing SOURCE (expected globalopinionqa or pairs; see grpo "
                        "convert --help)");
    }
    root_print(env, kConvertUsage);
    return 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "globalopinionqa") {
    return run_globalopinionqa(env, rest);
  }
  if (args[0] == "pairs") {
    return run_pairs(env, rest);
  }
  throw ConfigError("grpo convert: unknown source '" + args[0] +
                    "' (expected globalopinionqa or pairs; see grpo convert --help)");
}

} // namespace grpo::app
