#include "io/globalopinionqa.hpp"

#include "core/environment.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/text_input.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

namespace grpo::io {

namespace {

/// Largest deviation of a distribution's sum from 1.
constexpr double kSumTolerance = 1e-6;

std::string quoted(const std::string& path) { return "'" + path + "'"; }

[[noreturn]] void bad(const std::string& name, const std::string& what) {
  throw DataError(quoted(name) + ": " + what);
}

/// Identity of a question: its bare text and its options (two questions with the same text but
/// other options are different questions).
std::string question_key(const OpinionRecord& r) {
  std::string key = r.question;
  for (const auto& o : r.options) {
    key += '\x1f';
    key += o;
  }
  return key;
}

std::string join(const std::vector<std::string>& v, const char* separator) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    s += (i != 0U ? separator : "") + v[i];
  }
  return s;
}

OpinionRecord parse_record(const nlohmann::json& r, std::size_t index, const std::string& name) {
  std::string where = "record " + std::to_string(index);
  const auto fail = [&](const std::string& what) { bad(name, where + ": " + what); };
  if (!r.is_object()) {
    fail("is " + json_type_text(r) +
         ", expected an object with fields question, options, attribute, gold_distribution, id");
  }
  const auto field = [&](const char* key) -> const nlohmann::json& {
    const auto it = r.find(key);
    if (it == r.end()) {
      fail(std::string("field '") + key + "' is missing");
    }
    return *it;
  };
  OpinionRecord out;
  const auto& id = field("id");
  if (id.is_number_unsigned()) {
    const auto value = id.get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail("field 'id' = " + id.dump() + " is out of range (at most 2^63 - 1)");
    }
    out.id = static_cast<std::int64_t>(value);
  } else if (id.is_number_integer()) {
    out.id = id.get<std::int64_t>();
  } else if (id.is_number_float()) {
    fail("field 'id' = " + json_number_text(id) + " is not an integer");
  } else {
    fail("field 'id' is " + json_type_text(id) + ", expected an integer");
  }
  where += " (id " + std::to_string(out.id) + ")";

  const auto& question = field("question");
  if (!question.is_string()) {
    fail("field 'question' is " + json_type_text(question) + ", expected a string");
  }
  out.question = bare_question(question.get<std::string>());
  if (out.question.empty()) {
    fail("field 'question' = " + shown(question.get<std::string>()) + " has no question text");
  }
  const auto& options = field("options");
  if (!options.is_array()) {
    fail("field 'options' is " + json_type_text(options) + ", expected an array of strings");
  }
  for (std::size_t k = 0; k < options.size(); ++k) {
    if (!options[k].is_string()) {
      fail("field 'options': options[" + std::to_string(k) + "] is " + json_type_text(options[k]) +
           ", expected a string");
    }
    out.options.push_back(options[k].get<std::string>());
  }
  if (out.options.size() < 2) {
    fail("field 'options' has " + std::to_string(out.options.size()) +
         " option(s), expected at least 2");
  }
  if (out.options.size() > static_cast<std::size_t>(kOpinionMaxOptions)) {
    fail("field 'options' has " + std::to_string(out.options.size()) + " options, at most " +
         std::to_string(kOpinionMaxOptions) + " are accepted");
  }
  const auto& attribute = field("attribute");
  if (!attribute.is_string()) {
    fail("field 'attribute' is " + json_type_text(attribute) + ", expected a string");
  }
  out.attribute = attribute.get<std::string>();
  if (trim(out.attribute).empty()) {
    fail("field 'attribute' = " + shown(out.attribute) + " is empty (expected a country)");
  }
  out.country = canonical_country(out.attribute);
  const auto& gold = field("gold_distribution");
  if (!gold.is_array()) {
    fail("field 'gold_distribution' is " + json_type_text(gold) + ", expected an array of numbers");
  }
  double sum = 0.0;
  for (std::size_t k = 0; k < gold.size(); ++k) {
    const auto& v = gold[k];
    const std::string entry =
        "field 'gold_distribution': gold_distribution[" + std::to_string(k) + "]";
    if (!v.is_number()) {
      fail(entry + " is " + json_type_text(v) + ", expected a number");
    }
    const double p = v.get<double>();
    if (!std::isfinite(p)) {
      fail(entry + " = " + json_number_text(v) + " is not finite");
    }
    if (p < 0.0) {
      fail(entry + " = " + json_number_text(v) + " is negative");
    }
    out.distribution.push_back(p);
    sum += p;
  }
  if (out.distribution.size() != out.options.size()) {
    fail("field 'gold_distribution' has " + std::to_string(out.distribution.size()) +
         " values for " + std::to_string(out.options.size()) + " options");
  }
  if (!(std::abs(sum - 1.0) <= kSumTolerance)) {
    fail("field 'gold_distribution' sums to " + format_double(sum) + ", expected 1 (within 1e-6)");
  }
  return out;
}

/// Order of the questions of a group before the split: by a seeded hash of the question (so the
/// order is a uniformly random permutation, the same for every group), ties by question index.
struct SplitKey {
  std::uint64_t hash = 0;
  index_t question = 0;
  bool operator<(const SplitKey& o) const {
    return hash != o.hash ? hash < o.hash : question < o.question;
  }
};

/// How many of a group's n questions go to val and to test (the rest to train): round(n / 10),
/// halves up, and at least one each when n >= 3; with n = 2 one goes to val, none to test.
std::pair<index_t, index_t> held_out(index_t n) {
  if (n >= 3) {
    const index_t h = std::max<index_t>(1, (n + 5) / 10);
    return {h, h};
  }
  return {n == 2 ? 1 : 0, 0};
}

void append_pair(OpinionSplit& split, const std::vector<float>& features, int n, int chosen,
                 int rejected, int dim, std::int64_t question, std::int64_t id) {
  const auto row = [&](int k) { return features.begin() + static_cast<std::ptrdiff_t>(k) * dim; };
  split.chosen.insert(split.chosen.end(), row(chosen), row(chosen + 1));
  split.rejected.insert(split.rejected.end(), row(rejected), row(rejected + 1));
  split.options.insert(split.options.end(), features.begin(), features.end());
  split.option_offsets.push_back(split.option_offsets.back() + n);
  split.chosen_option.push_back(chosen);
  split.rejected_option.push_back(rejected);
  split.question.push_back(question);
  split.record_id.push_back(id);
}

} // namespace

OpinionPairs parse_opinion_pairs(const std::string& value, const std::string& option) {
  if (value == "one") {
    return OpinionPairs::One;
  }
  if (value == "all") {
    return OpinionPairs::All;
  }
  throw ConfigError("option --" + option + ": invalid value '" + value + "' (accepted: one, all)");
}

const char* opinion_pairs_name(OpinionPairs pairs) {
  return pairs == OpinionPairs::One ? "one" : "all";
}

OpinionPrompt parse_opinion_prompt(const std::string& value) {
  if (value == "paper") {
    return OpinionPrompt::Paper;
  }
  if (value == "question") {
    return OpinionPrompt::Question;
  }
  throw ConfigError("option --prompt: invalid value '" + value + "' (accepted: paper, question)");
}

const char* opinion_prompt_name(OpinionPrompt prompt) {
  return prompt == OpinionPrompt::Paper ? "paper" : "question";
}

std::string opinion_prompt_text(OpinionPrompt prompt, const std::string& country,
                                const std::string& question) {
  if (prompt == OpinionPrompt::Question) {
    return question;
  }
  return "Opinion of people in " + country + " on: " + question;
}

void OpinionSpec::validate() const {
  validate_text_dim(dim);
  if (top < 0 || top > kOpinionMaxTop) {
    throw ConfigError("option --top: invalid value " + std::to_string(top) + " (accepted: 1 to " +
                      std::to_string(kOpinionMaxTop) + ")");
  }
  if (top > 0 && !countries.empty()) {
    throw ConfigError("option --top: cannot be combined with --countries (give one of them)");
  }
  std::map<std::string, std::string> seen;
  for (const auto& c : countries) {
    if (trim(c).empty()) {
      throw ConfigError("option --countries: an empty country name in the list");
    }
    const auto canonical = canonical_country(trim(c));
    const auto [it, fresh] = seen.emplace(canonical, c);
    if (!fresh) {
      throw ConfigError("option --countries: '" + canonical + "' is listed twice (as '" +
                        it->second + "' and '" + c + "')");
    }
  }
}

const std::vector<std::string>& opinion_default_countries() {
  static const std::vector<std::string> countries = {
      "Nigeria", "Egypt", "India (Current national sample)", "China", "Japan"};
  return countries;
}

const std::vector<CountryAlias>& country_aliases() {
  // The same country under two spellings, one per source survey (Pew GAS / WVS); abbreviations
  // are spelled out. Non-national samples keep their own labels (never merged with national).
  static const std::vector<CountryAlias> aliases = {
      {"Great Britain", "Britain"},
      {"S. Korea", "South Korea"},
      {"S. Africa", "South Africa"},
      {"S. Africa (Non-national sample)", "South Africa (Non-national sample)"},
      {"Czech Rep.", "Czechia"},
      {"Taiwan ROC", "Taiwan"},
  };
  return aliases;
}

std::string canonical_country(const std::string& label) {
  for (const auto& a : country_aliases()) {
    if (label == a.label) {
      return a.canonical;
    }
  }
  return label;
}

std::string bare_question(const std::string& field) {
  std::string s = field;
  const std::string prefix = "Question:";
  if (s.compare(0, prefix.size(), prefix) == 0) {
    s.erase(0, prefix.size());
  }
  auto end = s.find("\nOptions:");
  if (end == std::string::npos) {
    end = s.rfind("\nAnswer:");
  }
  if (end != std::string::npos) {
    s.erase(end);
  }
  return trim(s);
}

std::vector<OpinionRecord> parse_opinion_records(const std::string& text, const std::string& name) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const std::size_t byte = e.byte > 0 ? e.byte - 1 : 0;
    const auto [line, column] = line_and_column(text, byte);
    bad(name, "not valid JSON at line " + std::to_string(line) + ", column " +
                  std::to_string(column) + " (byte offset " + std::to_string(byte) +
                  "): " + json_parse_reason(e.what()));
  } catch (const nlohmann::json::exception& e) {
    // A number beyond the range of a double ("number overflow parsing '1e999'"): located by
    // its first occurrence in the text.
    std::string reason = e.what();
    const auto pos = reason.find("] ");
    reason = pos == std::string::npos ? reason : reason.substr(pos + 2);
    const auto open = reason.find('\'');
    const auto close = open == std::string::npos ? open : reason.find('\'', open + 1);
    const auto at = close == std::string::npos
                        ? std::string::npos
                        : text.find(reason.substr(open + 1, close - open - 1));
    std::string where;
    if (at != std::string::npos) {
      const auto [line, column] = line_and_column(text, at);
      where = " at line " + std::to_string(line) + ", column " + std::to_string(column) +
              " (byte offset " + std::to_string(at) + ")";
    }
    bad(name,
        "not valid JSON" + where + ": " + json_parse_reason(reason) + " (not a finite number)");
  }
  if (!root.is_array()) {
    bad(name, "expected a JSON array of records, got " + json_type_text(root));
  }
  std::vector<OpinionRecord> records;
  records.reserve(root.size());
  for (std::size_t i = 0; i < root.size(); ++i) {
    records.push_back(parse_record(root[i], i, name));
  }
  return records;
}

std::vector<OpinionRecord> read_opinion_records(const std::string& path) {
  auto in = open_input_file(path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) {
    throw IoError("cannot read '" + path + "'");
  }
  return parse_opinion_records(bytes.str(), path);
}

// ---------------------------------------------------------------------------------------------

OpinionFeatureLayout opinion_feature_layout(int dim) {
  OpinionFeatureLayout l;
  const int text = dim - kOpinionPositionSize;
  l.option_begin = 0;
  l.option_size = (text + 1) / 2;
  l.question_begin = l.option_size;
  l.question_size = text - l.option_size;
  l.position_begin = l.question_begin + l.question_size;
  return l;
}

void opinion_features(const std::string& question, const std::string& option, int k, int n, int dim,
                      float* out) {
  const auto l = opinion_feature_layout(dim);
  hash_text(option, out + l.option_begin, l.option_size);
  hash_text(question, out + l.question_begin, l.question_size);
  float* position = out + l.position_begin;
  std::fill(position, position + l.position_size, 0.0F);
  position[std::min(k, kOpinionPositionSlots - 1)] = 1.0F;
  position[kOpinionPositionSlots] =
      n > 1 ? static_cast<float>(static_cast<double>(k) / static_cast<double>(n - 1)) : 0.0F;
}

std::string opinion_feature_map(int dim) {
  const auto l = opinion_feature_layout(dim);
  std::ostringstream o;
  o << "globalopinionqa-hashed-ngrams-v1: phi(x, y_k) = [option n-grams " << l.option_begin << ".."
    << l.option_begin + l.option_size - 1 << " | question n-grams " << l.question_begin << ".."
    << l.question_begin + l.question_size - 1 << " | position " << l.position_begin << ".."
    << l.position_begin + l.position_size - 1 << "]; " << kNgramHashDescription
    << "; question = text between 'Question:' and "
       "'\\nOptions:', its n-grams those of the prompt (--prompt paper: 'Opinion of people in "
       "<country> on: <question>'; question: the question alone); position: one-hot min(k, 4), "
       "then k/(n-1)";
  return o.str();
}

// ---------------------------------------------------------------------------------------------

OpinionDataset convert_opinions(const std::vector<OpinionRecord>& records, const OpinionSpec& spec,
                                const std::string& name) {
  spec.validate();
  if (records.empty()) {
    bad(name, "no records (an empty JSON array): nothing to convert");
  }
  OpinionDataset out;
  out.dim = spec.dim;
  out.num_records = static_cast<index_t>(records.size());
  const int d = spec.dim;

  // Question numbering (first appearance) and records per group label.
  std::unordered_map<std::string, index_t> question_ids;
  std::vector<index_t> question_of(records.size());
  std::vector<std::uint64_t> question_hash(records.size());
  std::map<std::string, index_t> counts;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::string key = question_key(records[i]);
    const auto [it, fresh] = question_ids.emplace(key, static_cast<index_t>(question_ids.size()));
    question_of[i] = it->second;
    question_hash[i] = fnv1a64(key);
    ++counts[records[i].country];
  }
  out.num_questions = static_cast<index_t>(question_ids.size());

  // The groups.
  if (spec.top > 0) {
    if (static_cast<std::size_t>(spec.top) > counts.size()) {
      bad(name, "option --top: " + std::to_string(spec.top) + " groups requested, the file has " +
                    std::to_string(counts.size()));
    }
    std::vector<std::pair<index_t, std::string>> order;
    order.reserve(counts.size());
    for (const auto& [country, n] : counts) {
      order.emplace_back(-n, country); // most records first, ties by name
    }
    std::sort(order.begin(), order.end());
    for (int g = 0; g < spec.top; ++g) {
      out.groups.push_back(order[static_cast<std::size_t>(g)].second);
    }
    out.selection = "top " + std::to_string(spec.top);
  } else {
    const auto& wanted = spec.countries.empty() ? opinion_default_countries() : spec.countries;
    out.selection = spec.countries.empty() ? "default" : "countries";
    for (const auto& w : wanted) {
      const std::string canonical = canonical_country(trim(w));
      if (counts.count(canonical) == 0) {
        // Suggest labels that contain the name (case-insensitive), e.g. the samples of a country.
        std::string lower = canonical;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::vector<std::string> near;
        for (const auto& [country, n] : counts) {
          std::string l = country;
          std::transform(l.begin(), l.end(), l.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          if (!lower.empty() && near.size() < 5 && l.find(lower) != std::string::npos) {
            near.push_back("'" + country + "'");
          }
        }
        bad(name, "option --countries: country " + shown(w) + " has no records in the file (" +
                      std::to_string(counts.size()) + " groups" +
                      (near.empty() ? "" : "; similar: " + join(near, ", ")) + ")");
      }
      out.groups.push_back(canonical);
    }
  }
  const int k = static_cast<int>(out.groups.size());
  std::map<std::string, int> group_of;
  for (int g = 0; g < k; ++g) {
    group_of[out.groups[static_cast<std::size_t>(g)]] = g;
  }

  // Records of each group (input order), their questions, and each question's split.
  std::vector<std::vector<std::size_t>> members(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto it = group_of.find(records[i].country);
    if (it != group_of.end()) {
      members[static_cast<std::size_t>(it->second)].push_back(i);
    }
  }
  // split_of[g][question] = 0 train, 1 val, 2 test
  std::vector<std::unordered_map<index_t, int>> split_of(static_cast<std::size_t>(k));
  double pairs = 0.0;
  double option_rows = 0.0;
  for (int g = 0; g < k; ++g) {
    const auto gs = static_cast<std::size_t>(g);
    std::map<index_t, SplitKey> keys;
    for (const std::size_t i : members[gs]) {
      keys.emplace(question_of[i],
                   SplitKey{rng::hash(spec.seed, rng::kStreamOpinionSplit, question_hash[i]),
                            question_of[i]});
      const auto n = static_cast<double>(records[i].options.size());
      const double p = spec.pairs == OpinionPairs::One ? 1.0 : n - 1.0;
      pairs += p;
      option_rows += p * n;
    }
    std::vector<SplitKey> order;
    order.reserve(keys.size());
    for (const auto& entry : keys) {
      order.push_back(entry.second);
    }
    std::sort(order.begin(), order.end());
    const auto nq = static_cast<index_t>(order.size());
    out.group_records.push_back(static_cast<index_t>(members[gs].size()));
    out.group_questions.push_back(nq);
    const auto [n_val, n_test] = held_out(nq);
    if (n_val == 0) {
      bad(name, "country '" + out.groups[gs] + "' has " + std::to_string(nq) +
                    " question(s): at least 2 are needed (train and validation need one each)");
    }
    const index_t n_train = nq - n_val - n_test;
    for (index_t q = 0; q < nq; ++q) {
      split_of[gs][order[static_cast<std::size_t>(q)].question] =
          q < n_train ? 0 : (q < n_train + n_val ? 1 : 2);
    }
  }
  // Refuse what cannot be held before building it: pairs, option rows and their features.
  const double bytes = (2.0 * pairs + option_rows) * d * sizeof(float) + pairs * 40.0;
  if (bytes > 0.5 * core::physical_memory_bytes()) {
    bad(name, "the dataset would need " + format_double(bytes / static_cast<double>(1ULL << 30)) +
                  " GiB (" + format_double(pairs) + " pairs, " + format_double(option_rows) +
                  " option rows of " + std::to_string(d) +
                  " features), more than half of this machine's memory (use a smaller --dim)");
  }

  OpinionSplit* splits[3] = {&out.train, &out.val, &out.test};
  std::vector<float> features;
  for (int s = 0; s < 3; ++s) {
    OpinionSplit& split = *splits[s];
    split.offsets.push_back(0);
    split.option_offsets.push_back(0);
    for (int g = 0; g < k; ++g) {
      const auto gs = static_cast<std::size_t>(g);
      for (const std::size_t i : members[gs]) {
        if (split_of[gs].at(question_of[i]) != s) {
          continue;
        }
        const OpinionRecord& r = records[i];
        const int n = static_cast<int>(r.options.size());
        const std::string prompt = opinion_prompt_text(spec.prompt, out.groups[gs], r.question);
        features.assign(static_cast<std::size_t>(n) * d, 0.0F);
        for (int o = 0; o < n; ++o) {
          opinion_features(prompt, r.options[static_cast<std::size_t>(o)], o, n, d,
                           features.data() + static_cast<std::ptrdiff_t>(o) * d);
        }
        // Preferred: the largest share, ties to the lowest index.
        int best = 0;
        for (int o = 1; o < n; ++o) {
          if (r.distribution[static_cast<std::size_t>(o)] >
              r.distribution[static_cast<std::size_t>(best)]) {
            best = o;
          }
        }
        if (spec.pairs == OpinionPairs::One) {
          const std::uint64_t h = rng::hash(spec.seed, rng::kStreamOpinionPairs, question_hash[i],
                                            fnv1a64(r.country), static_cast<std::uint64_t>(r.id));
          const auto draw = static_cast<int>(rng::to_index(h, n - 1));
          const int rejected = draw < best ? draw : draw + 1;
          append_pair(split, features, n, best, rejected, d, question_of[i], r.id);
        } else {
          for (int o = 0; o < n; ++o) {
            if (o != best) {
              append_pair(split, features, n, best, o, d, question_of[i], r.id);
            }
          }
        }
      }
      split.offsets.push_back(static_cast<index_t>(split.chosen_option.size()));
    }
  }
  return out;
}

DatasetHeader opinion_header(const OpinionDataset& data, const OpinionSpec& spec,
                             const std::string& input, const std::string& checksum) {
  DatasetHeader h;
  h.feature_dim = data.dim;
  h.group_names = data.groups;
  h.source = "globalopinionqa";
  std::ostringstream ini;
  ini << "input = " << input << "\ncountries = " << join(data.groups, ",")
      << "\npairs = " << opinion_pairs_name(spec.pairs)
      << "\nprompt = " << opinion_prompt_name(spec.prompt) << "\ndim = " << data.dim
      << "\nseed = " << spec.seed << "\n";
  h.text_attributes = {{"input", input},
                       {"input_checksum", checksum},
                       {"countries", join(data.groups, ",")},
                       {"selection", data.selection},
                       {"pairs", opinion_pairs_name(spec.pairs)},
                       {"prompt", opinion_prompt_name(spec.prompt)},
                       {"feature_map", opinion_feature_map(data.dim)},
                       {"converter", ini.str()}};
  h.int_attributes = {{"seed", static_cast<std::int64_t>(spec.seed)},
                      {"input_records", data.num_records},
                      {"input_questions", data.num_questions}};
  return h;
}

void write_opinion_splits(DatasetWriter& writer, const OpinionDataset& data,
                          const Communicator& comm) {
  const std::pair<const char*, const OpinionSplit*> splits[3] = {
      {"train", &data.train}, {"val", &data.val}, {"test", &data.test}};
  for (const auto& [name, split] : splits) {
    const index_t n = split->rows();
    if (n == 0) {
      continue; // only test may be empty (every group has train and val questions)
    }
    const std::string s = name;
    const index_t end = comm.is_root() ? n : 0;
    writer.begin_split(s, split->offsets);
    writer.write_split_rows(s, 0, end, split->chosen.data(), split->rejected.data(), nullptr);
    writer.begin_split_options(s, split->option_rows());
    writer.write_split_options(s, 0, end, split->option_offsets.data(), split->options.data(),
                               split->chosen_option.data(), split->rejected_option.data());
    for (const auto& [dataset, values] :
         {std::pair<const char*, const std::vector<std::int64_t>*>{"question", &split->question},
          {"record_id", &split->record_id}}) {
      writer.create_rows_dataset(s + "/" + dataset, H5T_STD_I64LE, {static_cast<hsize_t>(n)});
      writer.write_rows(s + "/" + dataset, H5T_NATIVE_INT64, 0, end, values->data());
    }
  }
}

} // namespace grpo::io
