// Tests of the GlobalOpinionQA converter (io/globalopinionqa.hpp) on small hand-made JSON:
// template stripping, spelling merges, pairs and ties, top-N, split sizes, grouping by question
// and determinism, the feature map (hashing, layout, normalisation), every input error (one line
// naming the input, the record, the field and the value), and the written file read back. About
// 600 lines: the 18 tests share the JSON builders at the top.
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/globalopinionqa.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace grpo::io {
namespace {

const char* kName = "input.json";

std::string escaped(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

/// One record in the file's format (the question field in its "Question: ...\nOptions: ..."
/// template).
std::string record(std::int64_t id, const std::string& question,
                   const std::vector<std::string>& options, const std::string& country,
                   const std::vector<double>& shares) {
  std::string field = "Question: " + question + "\nOptions:";
  std::string opts = "[";
  for (std::size_t k = 0; k < options.size(); ++k) {
    field += std::string(" ") + static_cast<char>('A' + k) + ". " + options[k];
    opts += (k ? ", " : "") + escaped(options[k]);
  }
  field += "\nAnswer:";
  std::string dist = "[";
  for (std::size_t k = 0; k < shares.size(); ++k) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.17g", shares[k]);
    dist += (k ? ", " : "") + std::string(text);
  }
  return "{\"question\": " + escaped(field) + ", \"options\": " + opts +
         "], \"attribute\": " + escaped(country) + ", \"gold_distribution\": " + dist +
         "], \"pred_distribution\": null, \"id\": " + std::to_string(id) + "}";
}

std::string array(const std::vector<std::string>& records) {
  std::string s = "[\n";
  for (std::size_t i = 0; i < records.size(); ++i) {
    s += (i ? ",\n" : "") + records[i];
  }
  return s + "\n]";
}

const std::vector<std::string> kYesNo = {"Yes", "No"};
const std::vector<std::string> kFour = {"Very good", "Somewhat good", "Somewhat bad", "Very bad"};

/// `n` questions for `country`, ids from `first`; shares favour option (q mod options).
std::vector<std::string> questions(const std::string& country, int n, std::int64_t first,
                                   const std::vector<std::string>& options = kFour) {
  std::vector<std::string> out;
  for (int q = 0; q < n; ++q) {
    std::vector<double> shares(options.size(), 0.1 / static_cast<double>(options.size() - 1));
    shares[static_cast<std::size_t>(q) % options.size()] = 0.9;
    out.push_back(record(first + q, "Is topic " + std::to_string(q) + " important?", options,
                         country, shares));
  }
  return out;
}

OpinionDataset convert(const std::vector<std::string>& records, const OpinionSpec& spec) {
  return convert_opinions(parse_opinion_records(array(records), kName), spec, kName);
}

OpinionSpec spec_for(std::vector<std::string> countries, OpinionPairs pairs = OpinionPairs::One) {
  OpinionSpec s;
  s.countries = std::move(countries);
  s.pairs = pairs;
  s.dim = 16;
  return s;
}

/// The DataError message of converting `text` with `spec`, or "" when it converts.
std::string data_error(const std::string& text, const OpinionSpec& spec = spec_for({"A"})) {
  try {
    convert_opinions(parse_opinion_records(text, kName), spec, kName);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

index_t group_rows(const OpinionSplit& s, int g) { return s.offsets[g + 1] - s.offsets[g]; }

// ---------------------------------------------------------------------------------------------

TEST(GlobalOpinionQa, BareQuestionStripsTheTemplate) {
  EXPECT_EQ(bare_question("Question: Is it good?\nOptions: A. Yes B. No\nAnswer:"), "Is it good?");
  EXPECT_EQ(bare_question("Question: Only an answer\nAnswer:"), "Only an answer");
  EXPECT_EQ(bare_question("  A plain question  "), "A plain question");
  EXPECT_EQ(bare_question("Question:   \nOptions: A. x"), "");
}

TEST(GlobalOpinionQa, SpellingVariantsAreMergedNonNationalSamplesAreNot) {
  EXPECT_EQ(canonical_country("Great Britain"), "Britain");
  EXPECT_EQ(canonical_country("Britain"), "Britain");
  EXPECT_EQ(canonical_country("S. Korea"), "South Korea");
  EXPECT_EQ(canonical_country("South Korea"), "South Korea");
  EXPECT_EQ(canonical_country("Nigeria (Non-national sample)"), "Nigeria (Non-national sample)");
  for (const auto& a : country_aliases()) {
    EXPECT_EQ(canonical_country(a.canonical), a.canonical) << a.label; // canonical is a fixpoint
  }
  auto records = questions("Britain", 3, 0);
  const auto more = questions("Great Britain", 2, 100, kYesNo); // other questions (options)
  records.insert(records.end(), more.begin(), more.end());
  const auto nigeria = questions("Nigeria", 3, 200);
  const auto sample = questions("Nigeria (Non-national sample)", 4, 300);
  records.insert(records.end(), nigeria.begin(), nigeria.end());
  records.insert(records.end(), sample.begin(), sample.end());
  const auto data = convert(records, spec_for({"Great Britain", "Nigeria"}));
  ASSERT_EQ(data.groups, (std::vector<std::string>{"Britain", "Nigeria"}));
  EXPECT_EQ(data.group_records, (std::vector<index_t>{5, 3}));
  EXPECT_EQ(data.group_questions, (std::vector<index_t>{5, 3}));
  // Requested twice under two spellings: a configuration error.
  EXPECT_THROW(convert(records, spec_for({"Britain", "Great Britain"})), ConfigError);
}

TEST(GlobalOpinionQa, PreferredIsTheLargestShareTiesToTheLowestIndex) {
  const auto records = std::vector<std::string>{
      record(7, "Q1", {"a", "b", "c"}, "A", {0.2, 0.4, 0.4}),
      record(8, "Q2", {"a", "b", "c"}, "A", {0.5, 0.25, 0.25}),
      record(9, "Q3", {"a", "b", "c", "d"}, "A", {0.25, 0.25, 0.25, 0.25}),
  };
  for (auto mode : {OpinionPairs::One, OpinionPairs::All}) {
    const auto data = convert(records, spec_for({"A"}, mode));
    std::map<std::int64_t, std::set<int>> rejected;
    for (const OpinionSplit* s : {&data.train, &data.val, &data.test}) {
      for (index_t i = 0; i < s->rows(); ++i) {
        const std::int64_t id = s->record_id[i];
        const int expected = id == 7 ? 1 : 0;
        EXPECT_EQ(s->chosen_option[i], expected) << "id " << id;
        EXPECT_NE(s->rejected_option[i], s->chosen_option[i]);
        rejected[id].insert(s->rejected_option[i]);
      }
    }
    if (mode == OpinionPairs::All) {
      EXPECT_EQ(rejected[7], (std::set<int>{0, 2}));
      EXPECT_EQ(rejected[8], (std::set<int>{1, 2}));
      EXPECT_EQ(rejected[9], (std::set<int>{1, 2, 3}));
    } else {
      for (const auto& [id, r] : rejected) {
        EXPECT_EQ(r.size(), 1u) << "id " << id; // exactly one pair per record
      }
    }
  }
}

TEST(GlobalOpinionQa, RejectedIsAUniformSeededOtherOption) {
  const auto records = questions("A", 400, 0);
  auto spec = spec_for({"A"});
  const auto a = convert(records, spec);
  const auto b = convert(records, spec);
  spec.seed = 43;
  const auto c = convert(records, spec);
  std::map<int, int> count;
  index_t differ = 0;
  for (const auto* s : {&a.train, &a.val, &a.test}) {
    for (index_t i = 0; i < s->rows(); ++i) {
      const int relative = (s->rejected_option[i] - s->chosen_option[i] + 4) % 4; // 1, 2 or 3
      ++count[relative];
    }
  }
  EXPECT_EQ(a.train.rejected_option, b.train.rejected_option);
  EXPECT_EQ(a.train.chosen, b.train.chosen);
  // Another seed: another split and other draws (compare by record id).
  std::map<std::int64_t, int> draw_a, draw_c;
  for (const auto* s : {&a.train, &a.val, &a.test}) {
    for (index_t i = 0; i < s->rows(); ++i) {
      draw_a[s->record_id[i]] = s->rejected_option[i];
    }
  }
  for (const auto* s : {&c.train, &c.val, &c.test}) {
    for (index_t i = 0; i < s->rows(); ++i) {
      draw_c[s->record_id[i]] = s->rejected_option[i];
    }
  }
  for (const auto& [id, r] : draw_a) {
    differ += draw_c.at(id) != r ? 1 : 0;
  }
  EXPECT_GT(differ, 150); // about 2/3 of 400 differ
  ASSERT_EQ(count.size(), 3u);
  for (const auto& [relative, n] : count) {
    EXPECT_GT(n, 90) << relative; // 133 expected each
  }
}

TEST(GlobalOpinionQa, TopNGroupsByRecordCountTiesByName) {
  std::vector<std::string> records;
  for (const auto& [country, n, first] :
       std::vector<std::tuple<std::string, int, int>>{{"Zambia", 5, 0},
                                                      {"Chile", 6, 100},
                                                      {"Britain", 3, 200},
                                                      {"Great Britain", 2, 300},
                                                      {"Angola", 4, 400},
                                                      {"Peru", 2, 500}}) {
    const auto q = questions(country, n, first, n == 2 ? kYesNo : kFour);
    records.insert(records.end(), q.begin(), q.end());
  }
  OpinionSpec spec;
  spec.dim = 8;
  spec.top = 3;
  auto data = convert(records, spec);
  EXPECT_EQ(data.groups, (std::vector<std::string>{"Chile", "Britain", "Zambia"}));
  EXPECT_EQ(data.selection, "top 3");
  spec.top = 4; // Angola (4) vs nobody else with 4
  data = convert(records, spec);
  EXPECT_EQ(data.groups.back(), "Angola");
  spec.top = 6;
  EXPECT_NE(data_error(array(records), spec).find("--top: 6 groups requested, the file has 5"),
            std::string::npos);
}

TEST(GlobalOpinionQa, SplitsByQuestionWithDocumentedRounding) {
  // Questions per group -> (train, val, test): round(n / 10) halves up, at least 1 from n = 3.
  const std::vector<std::tuple<int, index_t, index_t, index_t>> expected = {
      {2, 1, 1, 0}, {3, 1, 1, 1}, {10, 8, 1, 1}, {14, 12, 1, 1}, {15, 11, 2, 2}, {37, 29, 4, 4}};
  std::vector<std::string> records;
  std::vector<std::string> names;
  int first = 0;
  for (const auto& [n, train, val, test] : expected) {
    const std::string name = "C" + std::to_string(n);
    names.push_back(name);
    const auto q = questions(name, n, first, n == 2 ? kYesNo : kFour);
    records.insert(records.end(), q.begin(), q.end());
    first += 1000;
  }
  for (auto mode : {OpinionPairs::One, OpinionPairs::All}) {
    const auto data = convert(records, spec_for(names, mode));
    const index_t per = mode == OpinionPairs::One ? 1 : 3; // kFour: 3 pairs per record
    for (std::size_t g = 0; g < expected.size(); ++g) {
      const auto [n, train, val, test] = expected[g];
      const index_t p = n == 2 ? 1 : per;
      EXPECT_EQ(group_rows(data.train, static_cast<int>(g)), train * p) << "n = " << n;
      EXPECT_EQ(group_rows(data.val, static_cast<int>(g)), val * p) << "n = " << n;
      EXPECT_EQ(group_rows(data.test, static_cast<int>(g)), test * p) << "n = " << n;
    }
    // All pairs of a question in one split.
    std::map<std::int64_t, std::set<int>> splits_of_question;
    int s = 0;
    for (const auto* split : {&data.train, &data.val, &data.test}) {
      for (index_t i = 0; i < split->rows(); ++i) {
        splits_of_question[split->record_id[i]].insert(s);
      }
      ++s;
    }
    for (const auto& [id, set] : splits_of_question) {
      EXPECT_EQ(set.size(), 1u) << "record " << id;
    }
  }
  // One question: no validation pair possible.
  const auto one = questions("Solo", 1, 0);
  EXPECT_NE(data_error(array(one), spec_for({"Solo"}))
                .find("country 'Solo' has 1 question(s): at least 2 are needed"),
            std::string::npos);
}

TEST(GlobalOpinionQa, DeterministicAndIndependentOfRecordOrder) {
  std::vector<std::string> records;
  for (const char* c : {"A", "B"}) {
    const auto q = questions(c, 30, c[0] == 'A' ? 0 : 100);
    records.insert(records.end(), q.begin(), q.end());
  }
  auto reversed = records;
  std::reverse(reversed.begin(), reversed.end());
  const auto spec = spec_for({"B", "A"}, OpinionPairs::All);
  const auto a = convert(records, spec);
  const auto again = convert(records, spec);
  const auto r = convert(reversed, spec);
  EXPECT_EQ(a.train.options, again.train.options);
  EXPECT_EQ(a.test.record_id, again.test.record_id);
  using Pair = std::tuple<int, std::int64_t, int, int>; // split, record, chosen, rejected
  const auto pairs = [](const OpinionDataset& d) {
    std::set<Pair> out;
    int s = 0;
    for (const auto* split : {&d.train, &d.val, &d.test}) {
      for (index_t i = 0; i < split->rows(); ++i) {
        out.emplace(s, split->record_id[i], split->chosen_option[i], split->rejected_option[i]);
      }
      ++s;
    }
    return out;
  };
  EXPECT_EQ(pairs(a), pairs(r));
  EXPECT_EQ(a.train.offsets, r.train.offsets);
  EXPECT_EQ(a.groups, (std::vector<std::string>{"B", "A"}));
}

TEST(GlobalOpinionQa, ChosenAndRejectedAreTheirOptionRows) {
  const auto data = convert(questions("A", 12, 0), spec_for({"A"}, OpinionPairs::All));
  const int d = data.dim;
  const auto& s = data.train;
  ASSERT_EQ(s.option_offsets.size(), static_cast<std::size_t>(s.rows() + 1));
  for (index_t i = 0; i < s.rows(); ++i) {
    EXPECT_EQ(s.option_offsets[i + 1] - s.option_offsets[i], 4);
    for (int j = 0; j < d; ++j) {
      EXPECT_EQ(s.chosen[i * d + j], s.options[(s.option_offsets[i] + s.chosen_option[i]) * d + j]);
      EXPECT_EQ(s.rejected[i * d + j],
                s.options[(s.option_offsets[i] + s.rejected_option[i]) * d + j]);
    }
  }
}

TEST(GlobalOpinionQa, ThePaperPromptNamesTheCountry) {
  // The same 12 questions asked in two countries: with --prompt paper ("Opinion of people in
  // <country> on: <question>", §8.1) the prompt blocks differ by country; with --prompt question
  // they are equal. Both are the hashed n-grams of that text.
  auto records = questions("A", 12, 0);
  const auto more = questions("B", 12, 100);
  records.insert(records.end(), more.begin(), more.end());
  for (const OpinionPrompt prompt : {OpinionPrompt::Paper, OpinionPrompt::Question}) {
    OpinionSpec spec = spec_for({"A", "B"});
    spec.prompt = prompt;
    const auto data = convert(records, spec);
    const auto l = opinion_feature_layout(data.dim);
    const auto block = [&](const OpinionSplit& s, index_t option_row) {
      const float* row = s.options.data() + option_row * data.dim;
      return std::vector<float>(row + l.question_begin, row + l.question_begin + l.question_size);
    };
    for (int g = 0; g < 2; ++g) {
      const auto& s = data.train;
      const index_t i = s.offsets[g];
      // questions() asks "Is topic q important?" with record ids first + q (first = 0, 100).
      const std::string text = "Is topic " + std::to_string(s.record_id[i] % 100) + " important?";
      std::vector<float> want(static_cast<std::size_t>(l.question_size));
      hash_ngrams(text_ngrams(opinion_prompt_text(prompt, g == 0 ? "A" : "B", text)), want.data(),
                  l.question_size);
      EXPECT_EQ(block(s, s.option_offsets[i]), want);
    }
    // A question of both countries: compare their prompt blocks.
    const auto& s = data.train;
    std::map<std::int64_t, index_t> row_of_question[2];
    for (int g = 0; g < 2; ++g) {
      for (index_t i = s.offsets[g]; i < s.offsets[g + 1]; ++i) {
        row_of_question[g][s.question[i]] = i;
      }
    }
    int shared = 0;
    for (const auto& [q, i] : row_of_question[0]) {
      const auto it = row_of_question[1].find(q);
      if (it == row_of_question[1].end()) {
        continue;
      }
      ++shared;
      const bool equal = block(s, s.option_offsets[i]) == block(s, s.option_offsets[it->second]);
      EXPECT_EQ(equal, prompt == OpinionPrompt::Question);
    }
    EXPECT_GT(shared, 0);
  }
  EXPECT_EQ(parse_opinion_prompt("paper"), OpinionPrompt::Paper);
  EXPECT_THROW(parse_opinion_prompt("chat"), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// The feature map

TEST(GlobalOpinionQa, HashingIsFnv1a64) {
  // Reference values of the FNV-1a 64-bit test suite.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(GlobalOpinionQa, NgramsAreLowerCasedUnigramsAndBigrams) {
  EXPECT_EQ(text_ngrams("Hello, World-2x!"),
            (std::vector<std::string>{"hello", "world", "2x", "hello world", "world 2x"}));
  EXPECT_EQ(text_ngrams("  ...  "), std::vector<std::string>{});
  EXPECT_EQ(text_ngrams("Caf\xc3\xa9 OK"), // UTF-8 stays inside a word, not lower-cased
            (std::vector<std::string>{"caf\xc3\xa9", "ok", "caf\xc3\xa9 ok"}));
}

TEST(GlobalOpinionQa, HashedBlocksAreSignedAndUnitNorm) {
  std::vector<float> block(29);
  int negative = 0;
  int positive = 0;
  for (int t = 0; t < 40; ++t) {
    hash_ngrams({"token" + std::to_string(t)}, block.data(), 29);
    double norm = 0.0;
    for (float v : block) {
      norm += static_cast<double>(v) * v;
      negative += v < 0 ? 1 : 0;
      positive += v > 0 ? 1 : 0;
    }
    EXPECT_NEAR(norm, 1.0, 1e-6);
  }
  EXPECT_GT(negative, 5);
  EXPECT_GT(positive, 5);
  hash_ngrams({}, block.data(), 29);
  EXPECT_TRUE(std::all_of(block.begin(), block.end(), [](float v) { return v == 0.0f; }));
  // Case and punctuation do not matter; word order does (bigrams).
  std::vector<float> a(29), b(29), c(29);
  hash_ngrams(text_ngrams("Very good"), a.data(), 29);
  hash_ngrams(text_ngrams("very, GOOD"), b.data(), 29);
  hash_ngrams(text_ngrams("good very"), c.data(), 29);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(GlobalOpinionQa, FeatureLayoutAndPosition) {
  auto l = opinion_feature_layout(64);
  EXPECT_EQ(l.option_begin, 0);
  EXPECT_EQ(l.option_size, 29);
  EXPECT_EQ(l.question_begin, 29);
  EXPECT_EQ(l.question_size, 29);
  EXPECT_EQ(l.position_begin, 58);
  l = opinion_feature_layout(8);
  EXPECT_EQ(l.option_size, 1);
  EXPECT_EQ(l.question_size, 1);
  l = opinion_feature_layout(15);
  EXPECT_EQ(l.option_size, 5);
  EXPECT_EQ(l.question_size, 4);

  const int d = 64;
  std::vector<float> y0(d), y2(d), y6(d);
  opinion_features("Is it good?", "Very good", 0, 3, d, y0.data());
  opinion_features("Is it good?", "Very bad", 2, 3, d, y2.data());
  opinion_features("Is it good?", "Other", 6, 7, d, y6.data());
  // The question block is the same for every option of a prompt (it cancels in y_w - y_l).
  EXPECT_TRUE(std::equal(y0.begin() + 29, y0.begin() + 58, y2.begin() + 29));
  EXPECT_FALSE(std::equal(y0.begin(), y0.begin() + 29, y2.begin()));
  EXPECT_EQ(std::vector<float>(y0.begin() + 58, y0.end()), (std::vector<float>{1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(std::vector<float>(y2.begin() + 58, y2.end()), (std::vector<float>{0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(std::vector<float>(y6.begin() + 58, y6.end()),
            (std::vector<float>{0, 0, 0, 0, 1, 1})); // positions >= 4 share the last slot
  // Another question: another question block.
  std::vector<float> other(d);
  opinion_features("Is it bad?", "Very good", 0, 3, d, other.data());
  EXPECT_FALSE(std::equal(y0.begin() + 29, y0.begin() + 58, other.begin() + 29));
  EXPECT_TRUE(std::equal(y0.begin(), y0.begin() + 29, other.begin()));
  EXPECT_NE(opinion_feature_map(64).find("question n-grams 29..57"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Errors: one line naming the input, the record (index and id), the field and the value.

TEST(GlobalOpinionQa, MalformedJsonNamesLineColumnAndByte) {
  const auto m = data_error("[\n  {\"id\": 1,,\n]");
  EXPECT_NE(
      m.find("'input.json': not valid JSON at line 2, column 12 (byte offset 13): syntax error"),
      std::string::npos)
      << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);
  EXPECT_NE(data_error("").find("not valid JSON at line 1"), std::string::npos);
  EXPECT_NE(data_error("{\"a\": 1}").find("expected a JSON array of records, got an object"),
            std::string::npos);
  EXPECT_NE(data_error("[1]").find("record 0: is a number, expected an object"), std::string::npos);
  EXPECT_NE(data_error("[]").find("no records (an empty JSON array)"), std::string::npos);
}

TEST(GlobalOpinionQa, EveryBadRecordIsNamed) {
  const std::string good = record(5, "Q", {"x", "y"}, "A", {0.5, 0.5});
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string r = good;
    const auto pos = r.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    r.replace(pos, from.size(), to);
    return array({record(4, "Other", {"x", "y"}, "A", {0.5, 0.5}), r});
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with("\"id\": 5", "\"ID\": 5"), "record 1: field 'id' is missing"},
      {with("\"id\": 5", "\"id\": 5.5"), "record 1: field 'id' = 5.5 is not an integer"},
      {with("\"id\": 5", "\"id\": \"5\""), "record 1: field 'id' is a string, expected an integer"},
      {with("\"id\": 5", "\"id\": 18446744073709551615"),
       "field 'id' = 18446744073709551615 is out of range"},
      {with("\"attribute\"", "\"country\""), "record 1 (id 5): field 'attribute' is missing"},
      {with("\"attribute\": \"A\"", "\"attribute\": 3"),
       "record 1 (id 5): field 'attribute' is a number, expected a string"},
      {with("\"attribute\": \"A\"", "\"attribute\": \" \""), "field 'attribute' = ' ' is empty"},
      {with("\"question\": \"Question: Q", "\"question\": 7, \"q\": \"Q"),
       "record 1 (id 5): field 'question' is a number, expected a string"},
      {with("\"question\": \"Question: Q", "\"question\": \"Question: "),
       "field 'question' = 'Question: \\nOptions: A. x B. y\\nAnswer:' has no question text"},
      {with("\"options\": [\"x\", \"y\"]", "\"options\": \"x, y\""),
       "record 1 (id 5): field 'options' is a string, expected an array of strings"},
      {with("\"options\": [\"x\", \"y\"]", "\"options\": [\"x\", 2]"),
       "field 'options': options[1] is a number, expected a string"},
      {with("\"options\": [\"x\", \"y\"]", "\"options\": [\"x\"]"),
       "field 'options' has 1 option(s), expected at least 2"},
      {with("\"options\": [\"x\", \"y\"]", "\"options\": [\"x\", \"y\", \"z\"]"),
       "field 'gold_distribution' has 2 values for 3 options"},
      {with("[0.5, 0.5]", "[0.5, 0.5, 0]"), "field 'gold_distribution' has 3 values for 2 options"},
      {with("[0.5, 0.5]", "[1.5, -0.5]"),
       "field 'gold_distribution': gold_distribution[1] = -0.5 is negative"},
      {with("[0.5, 0.5]", "[0.5, 1e999]"),
       "not valid JSON at line 3, column 126 (byte offset 299): number overflow parsing '1e999' "
       "(not a finite number)"},
      {with("[0.5, 0.5]", "[0.5, 0.48]"),
       "record 1 (id 5): field 'gold_distribution' sums to 0.98, expected 1 (within 1e-6)"},
      {with("[0.5, 0.5]", "[0.5, null]"), "gold_distribution[1] is a null, expected a number"},
      {with("[0.5, 0.5]", "{}"), "field 'gold_distribution' is an object, expected an array"},
      {with("\"gold_distribution\"", "\"gold\""), "field 'gold_distribution' is missing"},
  };
  for (const auto& [text, expected] : cases) {
    const auto m = data_error(text);
    EXPECT_EQ(m.rfind("'input.json': ", 0), 0u) << m;
    EXPECT_NE(m.find(expected), std::string::npos) << "got: " << m << "\nwanted: " << expected;
  }
  // Within 1e-6 is accepted, and integers are numbers.
  EXPECT_EQ(data_error(array({record(1, "Q1", kYesNo, "A", {0.5, 0.5000005}),
                              record(2, "Q2", kYesNo, "A", {1, 0})})),
            "");
}

TEST(GlobalOpinionQa, UnknownCountryIsADataErrorWithSuggestions) {
  auto records = questions("India (Current national sample)", 3, 0);
  const auto more = questions("India (Non-national sample)", 3, 10);
  records.insert(records.end(), more.begin(), more.end());
  const auto m = data_error(array(records), spec_for({"India"}));
  EXPECT_NE(m.find("'input.json': option --countries: country 'India' has no records in the file "
                   "(2 groups; similar: 'India (Current national sample)', 'India "
                   "(Non-national sample)')"),
            std::string::npos)
      << m;
  // The default countries: the first missing one is named.
  OpinionSpec defaults;
  EXPECT_NE(data_error(array(records), defaults).find("country 'Nigeria' has no records"),
            std::string::npos);
}

TEST(GlobalOpinionQa, SpecValidation) {
  OpinionSpec s;
  s.dim = 7;
  EXPECT_THROW(s.validate(), ConfigError);
  s.dim = 8;
  EXPECT_NO_THROW(s.validate());
  s.top = 2;
  s.countries = {"A"};
  EXPECT_THROW(s.validate(), ConfigError);
  s.top = 0;
  s.countries = {"A", " "};
  EXPECT_THROW(s.validate(), ConfigError);
  EXPECT_EQ(parse_opinion_pairs("all"), OpinionPairs::All);
  EXPECT_THROW(parse_opinion_pairs("some"), ConfigError);
}

// ---------------------------------------------------------------------------------------------

TEST(GlobalOpinionQa, WrittenFileLoadsWithItsOptions) {
  const auto self = test::self_communicator();
  const test::ScratchDir scratch(self, "goqa");
  const std::string input = scratch.path("in.json");
  std::vector<std::string> records = questions("A", 12, 0);
  const auto b = questions("Great Britain", 9, 100, kYesNo);
  records.insert(records.end(), b.begin(), b.end());
  { std::ofstream(input) << array(records); }
  OpinionSpec spec = spec_for({"Britain", "A"}, OpinionPairs::All);
  const auto data = convert_opinions(read_opinion_records(input), spec, input);
  const auto out = scratch.file("goqa");
  {
    DatasetWriter writer(out, self, opinion_header(data, spec, input, file_checksum(input)));
    write_opinion_splits(writer, data, self);
    writer.commit();
  }
  const auto summary = inspect_dataset(out);
  EXPECT_EQ(summary.schema_version, "1.1");
  EXPECT_EQ(summary.source, "globalopinionqa");
  EXPECT_EQ(summary.group_names, (std::vector<std::string>{"Britain", "A"}));
  EXPECT_EQ(summary.attributes.at("pairs"), "all");
  EXPECT_EQ(summary.attributes.at("input_checksum"), file_checksum(input));
  EXPECT_EQ(summary.attributes.at("feature_map"), opinion_feature_map(16));
  ASSERT_EQ(summary.splits.size(), 3u);
  LoadOptions request;
  request.options = true;
  request.pair_features = true;
  request.test = true;
  const auto loaded = load_dataset(summary, self, request);
  const auto options = Kokkos::create_mirror_view_and_copy(HostSpace(), loaded.test.options);
  const auto chosen = Kokkos::create_mirror_view_and_copy(HostSpace(), loaded.test.chosen_option);
  ASSERT_EQ(static_cast<index_t>(options.extent(0)), data.test.option_rows());
  for (index_t r = 0; r < data.test.option_rows(); ++r) {
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(options(r, j), data.test.options[r * 16 + j]);
    }
  }
  for (index_t i = 0; i < data.test.rows(); ++i) {
    EXPECT_EQ(chosen(i), data.test.chosen_option[i]);
  }
  EXPECT_EQ(loaded.train.offsets, data.train.offsets);
}

} // namespace
} // namespace grpo::io
