// The CSV reader of `grpo convert pairs` (io/pairs_reader.hpp): an RFC 4180 state machine over
// the input's bytes (fields separated by commas, records by LF or CRLF, quoted fields with
// doubled quotes, embedded commas and line breaks), a header row naming the columns, and the
// checks of every cell. Feature vectors are column families PREFIX0 .. PREFIX(D-1).
#include "io/pairs_reader_impl.hpp"

#include <map>

namespace grpo::io {

namespace {

using pairs_detail::fail;

class CsvReader final : public PairsReader::Impl {
public:
  CsvReader(std::istream& in, std::string name, PairsColumns columns)
      : Impl(in, std::move(name), std::move(columns)) {
    const int first = m_src.peek();
    if (first == '{' || first == '[') {
      fail(m_name, 1, 1,
           std::string("starts with '") + static_cast<char>(first) +
               "': JSON, not CSV (give --format jsonl, or a .jsonl file name)");
    }
    if (!read_record()) {
      fail(m_name, 1, 0, "empty file: no header row (expected the column names)");
    }
    read_header();
  }

  bool next(PairRow& row) override {
    while (read_record()) {
      if (m_count == 1 && m_fields[0].empty()) {
        continue; // an empty line
      }
      row.line = m_record_line;
      if (m_count != m_names.size()) {
        fail(m_name, row.line, 0,
             std::to_string(m_count) + " fields, but the header (line 1) has " +
                 std::to_string(m_names.size()) + " columns");
      }
      read_row(row);
      return true;
    }
    return false;
  }

private:
  /// Reads one record into m_fields[0 .. m_count); false at the end of the input.
  bool read_record() {
    enum class State { FieldStart, Unquoted, Quoted, QuoteInQuoted };
    State state = State::FieldStart;
    m_count = 0;
    m_record_line = m_line;
    std::size_t bytes = 0;
    std::int64_t quote_line = 0;
    std::int64_t quote_column = 0;
    std::string* field = nullptr;
    const auto begin_field = [&]() {
      if (m_count == m_fields.size()) {
        m_fields.emplace_back();
        m_field_lines.push_back(0);
      }
      field = &m_fields[m_count];
      field->clear();
      m_field_lines[m_count] = m_line;
      ++m_count;
    };
    int c = m_src.get();
    if (c < 0) {
      return false;
    }
    begin_field();
    while (true) {
      if (++bytes > kMaxPairRowBytes) {
        fail(m_name, m_record_line, 0,
             "a record longer than " + std::to_string(kMaxPairRowBytes >> 20) +
                 " MiB (an unclosed quote?)");
      }
      if (c == '\r' && state != State::Quoted) {
        if (m_src.peek() != '\n') {
          fail(m_name, m_line, m_column,
               "a carriage return not followed by a line feed (line breaks must be LF or CRLF)");
        }
        c = m_src.get();
      }
      if (c < 0 || (c == '\n' && state != State::Quoted)) {
        if (state == State::Quoted) {
          fail(m_name, quote_line, quote_column,
               "the quoted field opened here is never closed (the file ends inside it)");
        }
        if (c == '\n') {
          ++m_line;
          m_column = 1;
        }
        check_text();
        return true;
      }
      switch (state) {
      case State::FieldStart:
        if (c == '"') {
          state = State::Quoted;
          quote_line = m_line;
          quote_column = m_column;
        } else if (c == ',') {
          begin_field();
        } else {
          field->push_back(static_cast<char>(c));
          state = State::Unquoted;
        }
        break;
      case State::Unquoted:
        if (c == ',') {
          begin_field();
          state = State::FieldStart;
        } else if (c == '"') {
          fail(m_name, m_line, m_column,
               "a quote inside an unquoted field (quote the whole field and double the quote: "
               "\"a \"\"b\"\"\")");
        } else {
          field->push_back(static_cast<char>(c));
        }
        break;
      case State::Quoted:
        if (c == '"') {
          state = State::QuoteInQuoted;
        } else {
          field->push_back(static_cast<char>(c));
          if (c == '\n') {
            ++m_line;
            m_column = 0;
          }
        }
        break;
      case State::QuoteInQuoted:
        if (c == '"') {
          field->push_back('"');
          state = State::Quoted;
        } else if (c == ',') {
          begin_field();
          state = State::FieldStart;
        } else {
          fail(m_name, m_line, m_column,
               std::string("'") + printable(std::string(1, static_cast<char>(c))) +
                   "' after the closing quote of a field (expected a comma or a line break)");
        }
        break;
      }
      ++m_column;
      c = m_src.get();
    }
  }

  /// NUL bytes and invalid UTF-8 in the record's fields.
  void check_text() const {
    for (std::size_t k = 0; k < m_count; ++k) {
      const auto [column, reason] = pairs_detail::bad_text(m_fields[k]);
      if (column > 0) {
        fail(m_name, m_field_lines[k], 0,
             label(k) + ": byte " + std::to_string(column) + " of the field: " + reason);
      }
    }
  }

  std::string label(std::size_t k) const {
    std::string s = "column " + std::to_string(k + 1);
    if (k < m_names.size() && !m_names[k].empty()) {
      s += " '" + printable(m_names[k]) + "'";
    }
    return s;
  }

  [[noreturn]] void bad_cell(std::size_t k, const std::string& reason) const {
    fail(m_name, m_field_lines[k], static_cast<std::int64_t>(k + 1),
         label(k) + ": value " + shown(m_fields[k]) + ": " + reason);
  }

  /// The index of a column, or npos (a ConfigError-like DataError when required).
  std::size_t column(const std::string& name, bool required) const {
    const auto it = m_index.find(name);
    if (it != m_index.end()) {
      return it->second;
    }
    if (required) {
      std::string all;
      for (std::size_t k = 0; k < m_names.size() && k < 12; ++k) {
        all += (k == 0 ? "" : ", ") + printable(m_names[k]);
      }
      if (m_names.size() > 12) {
        all += ", ...";
      }
      fail(m_name, 1, 0,
           "column '" + printable(name) + "' is missing (the header has: " + all + ")");
    }
    return std::string::npos;
  }

  /// The columns PREFIX0 .. PREFIX(D-1) of a feature vector, in order.
  std::vector<std::size_t> family(const std::string& prefix) const {
    std::map<long long, std::size_t> found;
    for (std::size_t k = 0; k < m_names.size(); ++k) {
      const std::string& n = m_names[k];
      if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) {
        continue;
      }
      const std::string digits = n.substr(prefix.size());
      if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      found[std::stoll(digits)] = k;
    }
    if (found.empty()) {
      fail(m_name, 1, 0,
           "no columns '" + printable(prefix) + "0', '" + printable(prefix) +
               "1', ... (the feature columns of --" +
               (prefix == m_columns.chosen_features ? "chosen" : "rejected") + "-features)");
    }
    std::vector<std::size_t> out;
    for (const auto& [index, k] : found) {
      if (index != static_cast<long long>(out.size())) {
        fail(m_name, 1, 0,
             "column '" + printable(prefix) + std::to_string(out.size()) + "' is missing (found " +
                 std::to_string(found.size()) + " columns " + printable(prefix) + "N up to " +
                 printable(prefix) + std::to_string(found.rbegin()->first) + ")");
      }
      out.push_back(k);
    }
    return out;
  }

  void read_header() {
    m_names.assign(m_fields.begin(), m_fields.begin() + static_cast<std::ptrdiff_t>(m_count));
    for (std::size_t k = 0; k < m_names.size(); ++k) {
      if (m_names[k].empty()) {
        continue; // an unnamed column (e.g. a data frame's index) is never read
      }
      const auto [it, fresh] = m_index.emplace(m_names[k], k);
      if (!fresh) {
        fail(m_name, 1, static_cast<std::int64_t>(k + 1),
             "duplicate header: column " + std::to_string(k + 1) + " is named '" +
                 printable(m_names[k]) + "' like column " + std::to_string(it->second + 1));
      }
    }
    const auto& c = m_columns;
    m_group = column(c.group, true);
    if (!c.prompt.empty()) {
      m_prompt = column(c.prompt, c.prompt_required);
    }
    if (!c.split.empty()) {
      m_split = column(c.split, c.split_required);
    }
    m_has_prompt = m_prompt != std::string::npos;
    m_has_split = m_split != std::string::npos;
    if (c.precomputed()) {
      m_chosen_family = family(c.chosen_features);
      m_rejected_family = family(c.rejected_features);
      if (m_chosen_family.size() != m_rejected_family.size()) {
        fail(m_name, 1, 0,
             std::to_string(m_chosen_family.size()) + " columns " + printable(c.chosen_features) +
                 "N but " + std::to_string(m_rejected_family.size()) + " columns " +
                 printable(c.rejected_features) + "N (both feature vectors need one length)");
      }
      m_dim = static_cast<int>(m_chosen_family.size());
      m_first_line = 1;
    } else {
      m_chosen = column(c.chosen, true);
      m_rejected = column(c.rejected, true);
    }
    if (c.has_ref()) {
      m_ref_chosen = column(c.ref_chosen, true);
      m_ref_rejected = column(c.ref_rejected, true);
    }
    m_started = true;
  }

  double number(std::size_t k) const {
    double v = 0.0;
    if (const auto reason = pairs_detail::parse_number(m_fields[k], v)) {
      bad_cell(k, *reason);
    }
    if (!pairs_detail::float_range(v)) {
      bad_cell(k, "out of the float32 range");
    }
    return v;
  }

  void read_row(PairRow& row) {
    set_group(row, m_fields[m_group], static_cast<std::int64_t>(m_group + 1), label(m_group));
    row.prompt = m_has_prompt ? m_fields[m_prompt] : std::string();
    row.split = -1;
    if (m_has_split) {
      set_split(row, m_fields[m_split], static_cast<std::int64_t>(m_split + 1), label(m_split));
    }
    if (m_columns.precomputed()) {
      row.chosen_features.resize(m_chosen_family.size());
      row.rejected_features.resize(m_rejected_family.size());
      for (std::size_t j = 0; j < m_chosen_family.size(); ++j) {
        row.chosen_features[j] = static_cast<float>(number(m_chosen_family[j]));
        row.rejected_features[j] = static_cast<float>(number(m_rejected_family[j]));
      }
    } else {
      row.chosen = m_fields[m_chosen];
      row.rejected = m_fields[m_rejected];
    }
    if (m_columns.has_ref()) {
      row.ref_chosen = number(m_ref_chosen);
      row.ref_rejected = number(m_ref_rejected);
    }
  }

  std::vector<std::string> m_fields; ///< the record's fields (capacity kept between records)
  std::vector<std::int64_t> m_field_lines;
  std::size_t m_count = 0;
  std::int64_t m_line = 1;
  std::int64_t m_column = 1;
  std::int64_t m_record_line = 1;
  std::vector<std::string> m_names;
  std::map<std::string, std::size_t> m_index;
  std::size_t m_group = std::string::npos;
  std::size_t m_prompt = std::string::npos;
  std::size_t m_split = std::string::npos;
  std::size_t m_chosen = std::string::npos;
  std::size_t m_rejected = std::string::npos;
  std::size_t m_ref_chosen = std::string::npos;
  std::size_t m_ref_rejected = std::string::npos;
  std::vector<std::size_t> m_chosen_family;
  std::vector<std::size_t> m_rejected_family;
};

} // namespace

std::unique_ptr<PairsReader::Impl> pairs_detail::make_csv_reader(std::istream& in, std::string name,
                                                                 PairsColumns columns) {
  return std::make_unique<CsvReader>(in, std::move(name), std::move(columns));
}

} // namespace grpo::io
