// The GlobalOpinionQA source (io/globalopinionqa.hpp, docs/formats.md): the conversion options
// and the groups (country aliases), the feature map of an option, the pairs with their seeded
// split into train/val/test, and the dataset's attributes and rows. Reading the input records is
// io/globalopinionqa_records.cpp.
#include "io/globalopinionqa.hpp"

#include "core/environment.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/text_input.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <unordered_map>

namespace grpo::io {

namespace {

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
