// grpo convert SOURCE: turn real data into a grpo dataset. Sources: globalopinionqa (the JSON
// array of (question, country, distribution) records, io/globalopinionqa.hpp). Every rank reads
// and converts the input, so that a bad input stops every rank with the same error; rank 0 alone
// writes the file (through a one-rank communicator) and tells the others how that went.
#include "apps/commands.hpp"
#include "apps/options.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/git_revision.hpp"
#include "io/dataset.hpp"
#include "io/globalopinionqa.hpp"

#include <sstream>

namespace grpo::app {

namespace {

const char* kConvertUsage = "Usage: grpo convert SOURCE [options]\n\n"
                            "Converts real data into a grpo dataset (schema 1.1, with the "
                            "features\nof every option of each pair).\n\n"
                            "Sources:\n"
                            "  globalopinionqa   GlobalOpinionQA records (JSON array) -> "
                            "per-country preference pairs\n\n"
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
    ("dim", text(), "feature dimension d, >= 8 [64]")
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

  Communicator world;
  std::int64_t code = 0;
  std::string message;
  if (world.is_root()) {
    try {
      auto header = io::opinion_header(data, spec, input, io::file_checksum(input));
      header.text_attributes["git_revision"] = GRPO_GIT_REVISION;
      const auto self = self_communicator();
      io::DatasetWriter writer(out, self, header);
      io::write_opinion_splits(writer, data, self);
      writer.commit();
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
  root_print(env, summary_line(out, data));
  return 0;
}

} // namespace

io::OpinionSpec check_convert_options(const std::string& source,
                                      const std::vector<std::string>& args) {
  if (source != "globalopinionqa") {
    throw ConfigError("grpo convert: unknown source '" + source + "' (expected globalopinionqa)");
  }
  return resolve(parse_options("convert globalopinionqa", globalopinionqa_options(), args));
}

int run_convert(core::Environment& env, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    if (args.empty()) {
      throw ConfigError("grpo convert: missing SOURCE (expected globalopinionqa; see grpo "
                        "convert --help)");
    }
    root_print(env, kConvertUsage);
    return 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "globalopinionqa") {
    return run_globalopinionqa(env, rest);
  }
  throw ConfigError("grpo convert: unknown source '" + args[0] +
                    "' (expected globalopinionqa; see grpo convert --help)");
}

} // namespace grpo::app
