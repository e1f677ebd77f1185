#include "io/pairs_reader.hpp"

#include "io/pairs_reader_impl.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <zlib.h>

namespace grpo::io {

using namespace pairs_detail;

namespace {

// ---------------------------------------------------------------------------------------------
// JSON Lines

class JsonlReader final : public PairsReader::Impl {
public:
  using Impl::Impl;

  bool next(PairRow& row) override {
    while (m_src.read_line(m_line, m_line_number + 1)) {
      ++m_line_number;
      if (trim(m_line).empty()) {
        continue; // blank lines (a trailing newline) are skipped
      }
      row.line = m_line_number;
      const auto [column, reason] = bad_text(m_line);
      if (column > 0) {
        fail(m_name, row.line, static_cast<std::int64_t>(column), reason);
      }
      const auto first = m_line.find_first_not_of(" \t");
      if (!m_started && m_line[first] == '[') {
        fail(m_name, row.line, static_cast<std::int64_t>(first + 1),
             "a JSON array, not JSON Lines (expected one JSON object per line)");
      }
      if (!m_started && m_line[first] != '{') {
        fail(m_name, row.line, static_cast<std::int64_t>(first + 1),
             "value " + shown(m_line) +
                 ": not a JSON object (expected one object per line; a CSV file? give "
                 "--format csv)");
      }
      nlohmann::json value;
      try {
        value = nlohmann::json::parse(m_line);
      } catch (const nlohmann::json::parse_error& e) {
        const std::size_t byte = e.byte > 0 ? e.byte : 1;
        fail(m_name, row.line, static_cast<std::int64_t>(byte),
             "not valid JSON: " + json_parse_reason(e.what()));
      } catch (const nlohmann::json::exception& e) {
        fail(m_name, row.line, 0, "not valid JSON: " + json_parse_reason(e.what()));
      }
      if (!value.is_object()) {
        fail(m_name, row.line, 0,
             "value " + shown(value.dump()) + " is " + json_type_text(value) +
                 ", expected a JSON object");
      }
      read_row(value, row);
      return true;
    }
    return false;
  }

private:
  static std::string what(const std::string& field) { return "field '" + printable(field) + "'"; }

  const nlohmann::json* find(const nlohmann::json& o, const std::string& key, bool required,
                             const PairRow& row) const {
    const auto it = o.find(key);
    if (it == o.end()) {
      if (required) {
        fail(m_name, row.line, 0, what(key) + " is missing");
      }
      return nullptr;
    }
    return &*it;
  }
  std::string text(const nlohmann::json& v, const std::string& key, const PairRow& row) const {
    if (!v.is_string()) {
      fail(m_name, row.line, 0,
           what(key) + ": value " + shown(v.dump()) + " is " + json_type_text(v) +
               ", expected a string" +
               (v.is_array() ? " (conversational data: apply the chat template first)" : ""));
    }
    return v.get<std::string>();
  }
  double number(const nlohmann::json& v, const std::string& label, const PairRow& row) const {
    if (!v.is_number()) {
      fail(m_name, row.line, 0,
           label + ": value " + shown(v.dump()) + " is " + json_type_text(v) +
               ", expected a number");
    }
    const double x = v.get<double>();
    if (!float_range(x)) {
      fail(m_name, row.line, 0,
           label + ": value " + json_number_text(v) + " is out of the float32 range");
    }
    return x;
  }
  void features(const nlohmann::json& v, const std::string& key, const PairRow& row,
                std::vector<float>& out) {
    if (!v.is_array()) {
      fail(m_name, row.line, 0,
           what(key) + ": value " + shown(v.dump()) + " is " + json_type_text(v) +
               ", expected an array of numbers");
    }
    check_length(row, v.size(), 0, what(key));
    out.resize(v.size());
    for (std::size_t j = 0; j < v.size(); ++j) {
      out[j] = static_cast<float>(number(v[j], what(key) + "[" + std::to_string(j) + "]", row));
    }
  }
  /// Whether an optional field is read: decided by the first row, then required of every row.
  bool optional_field(const nlohmann::json& o, const std::string& key, bool required, bool& decided,
                      const PairRow& row) const {
    if (key.empty()) {
      return false;
    }
    const bool present = o.contains(key);
    if (!m_started) {
      if (!present && required) {
        fail(m_name, row.line, 0, what(key) + " is missing");
      }
      decided = present;
    } else if (present != decided) {
      fail(m_name, row.line, 0,
           what(key) + (present ? " is present" : " is missing") + ", but " +
               (present ? "absent" : "present") + " in the first row (line " +
               std::to_string(m_first_row) + "): give it in every row or in none");
    }
    return decided;
  }

  void read_row(const nlohmann::json& o, PairRow& row) {
    const auto& c = m_columns;
    if (!m_started) {
      m_first_row = row.line;
    }
    const bool prompt = optional_field(o, c.prompt, c.prompt_required, m_has_prompt, row);
    const bool split = optional_field(o, c.split, c.split_required, m_has_split, row);
    m_started = true;

    const nlohmann::json& group = *find(o, c.group, true, row);
    if (group.is_string()) {
      set_group(row, group.get<std::string>(), 0, what(c.group));
    } else if (group.is_number_integer()) {
      row.group = group.dump();
    } else {
      fail(m_name, row.line, 0,
           what(c.group) + ": value " + shown(group.dump()) + " is " + json_type_text(group) +
               ", expected a string or an integer");
    }
    row.prompt = prompt ? text(*find(o, c.prompt, true, row), c.prompt, row) : std::string();
    row.split = -1;
    if (split) {
      set_split(row, text(*find(o, c.split, true, row), c.split, row), 0, what(c.split));
    }
    if (c.precomputed()) {
      features(*find(o, c.chosen_features, true, row), c.chosen_features, row, row.chosen_features);
      features(*find(o, c.rejected_features, true, row), c.rejected_features, row,
               row.rejected_features);
    } else {
      row.chosen = text(*find(o, c.chosen, true, row), c.chosen, row);
      row.rejected = text(*find(o, c.rejected, true, row), c.rejected, row);
    }
    if (c.has_ref()) {
      row.ref_chosen = number(*find(o, c.ref_chosen, true, row), what(c.ref_chosen), row);
      row.ref_rejected = number(*find(o, c.ref_rejected, true, row), what(c.ref_rejected), row);
    }
  }

  std::string m_line;
  std::int64_t m_line_number = 0;
  std::int64_t m_first_row = 0;
};

} // namespace

// ---------------------------------------------------------------------------------------------

PairsFormat parse_pairs_format(const std::string& value) {
  if (value == "jsonl") {
    return PairsFormat::Jsonl;
  }
  if (value == "csv") {
    return PairsFormat::Csv;
  }
  throw ConfigError("option --format: invalid value '" + value + "' (accepted: jsonl, csv)");
}

const char* pairs_format_name(PairsFormat format) {
  return format == PairsFormat::Jsonl ? "jsonl" : "csv";
}

PairsFormat pairs_format_of(const std::string& path) {
  const auto dot = path.rfind('.');
  const auto slash = path.rfind('/');
  std::string ext = dot == std::string::npos || (slash != std::string::npos && dot < slash)
                        ? ""
                        : path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (ext == "jsonl" || ext == "ndjson" || ext == "json") {
    return PairsFormat::Jsonl;
  }
  if (ext == "csv") {
    return PairsFormat::Csv;
  }
  throw ConfigError("option --input: cannot tell the format of '" + printable(path) +
                    "' from its extension (.jsonl, .ndjson, .json or .csv): give --format jsonl "
                    "or --format csv");
}

PairsReader::PairsReader(std::istream& in, std::string name, PairsFormat format,
                         PairsColumns columns) {
  if (format == PairsFormat::Jsonl) {
    m_impl = std::make_unique<JsonlReader>(in, std::move(name), std::move(columns));
  } else {
    m_impl = make_csv_reader(in, std::move(name), std::move(columns));
  }
}
PairsReader::~PairsReader() = default;
PairsReader::PairsReader(PairsReader&&) noexcept = default;
PairsReader& PairsReader::operator=(PairsReader&&) noexcept = default;

bool PairsReader::next(PairRow& row) { return m_impl->next(row); }
bool PairsReader::has_prompt() const { return m_impl->m_has_prompt; }
bool PairsReader::has_split() const { return m_impl->m_has_split; }
int PairsReader::feature_dim() const { return m_impl->m_dim; }
std::uint64_t PairsReader::bytes_read() const { return m_impl->m_src.bytes(); }
std::string PairsReader::checksum() const { return m_impl->m_src.checksum(); }

} // namespace grpo::io
