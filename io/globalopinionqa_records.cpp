// The input of the GlobalOpinionQA source (io/globalopinionqa.hpp, docs/formats.md): the JSON
// array of records, each record's fields checked (id, question, options, attribute,
// gold_distribution) with a one-line DataError naming the input, the record and the field, and
// the bare question of a `question` field. Building the dataset is io/globalopinionqa.cpp.
#include "core/error.hpp"
#include "io/globalopinionqa.hpp"
#include "io/text_input.hpp"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace grpo::io {

namespace {

/// Largest deviation of a distribution's sum from 1.
constexpr double kSumTolerance = 1e-6;

std::string quoted(const std::string& path) { return "'" + path + "'"; }

[[noreturn]] void bad(const std::string& name, const std::string& what) {
  throw DataError(quoted(name) + ": " + what);
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

} // namespace

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

} // namespace grpo::io
