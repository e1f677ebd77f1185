// Internal to the pairs readers (io/pairs_reader.cpp: JSON Lines, io/pairs_csv.cpp: CSV): the
// block reader with line numbers and CRC-32, the checks shared by both formats, and the base
// class of the two readers. Not a public header.
#pragma once

#include "core/error.hpp"
#include "io/pairs_reader.hpp"
#include "io/text_input.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <zlib.h>

namespace grpo::io {

namespace pairs_detail {

inline constexpr std::size_t kBlockBytes = std::size_t{1} << 20;
inline constexpr std::size_t kFirstBlockBytes = std::size_t{64} << 10;

[[noreturn]] inline void fail(const std::string& name, std::int64_t line, std::int64_t column,
                              const std::string& what) {
  std::string where = "'" + printable(name) + "':" + std::to_string(line);
  if (column > 0) {
    where += ":" + std::to_string(column);
  }
  throw DataError(where + ": " + what);
}

/// The input in blocks, with the line number and the CRC-32 of what was read.
class ByteSource {
public:
  ByteSource(std::istream& in, std::string name)
      : m_in(in)
      , m_name(std::move(name))
      , m_buffer(kFirstBlockBytes)
      , m_crc(crc32(0L, Z_NULL, 0)) {}

  /// The next byte, or -1 at the end.
  int get() {
    if (m_pos == m_end && !fill()) {
      return -1;
    }
    return static_cast<unsigned char>(m_buffer[m_pos++]);
  }
  int peek() {
    if (m_pos == m_end && !fill()) {
      return -1;
    }
    return static_cast<unsigned char>(m_buffer[m_pos]);
  }
  /// The first bytes of the input (at most 8), without consuming them.
  std::string head() {
    peek();
    return std::string(m_buffer.data() + m_pos, std::min<std::size_t>(8, m_end - m_pos));
  }
  /// One line without its "\n" (and "\r\n"); false at the end of the input.
  bool read_line(std::string& line, std::int64_t line_number) {
    line.clear();
    bool any = false;
    while (true) {
      if (m_pos == m_end && !fill()) {
        break;
      }
      any = true;
      const char* begin = m_buffer.data() + m_pos;
      const void* nl = std::memchr(begin, '\n', m_end - m_pos);
      const std::size_t take = nl != nullptr
                                   ? static_cast<std::size_t>(static_cast<const char*>(nl) - begin)
                                   : m_end - m_pos;
      line.append(begin, take);
      m_pos += take;
      if (line.size() > kMaxPairRowBytes) {
        fail(m_name, line_number, 0,
             "a line longer than " + std::to_string(kMaxPairRowBytes >> 20) +
                 " MiB (not JSON Lines, or a row too large)");
      }
      if (nl != nullptr) {
        ++m_pos;
        break;
      }
    }
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    return any;
  }
  std::uint64_t bytes() const { return m_bytes; }
  std::string checksum() const {
    char text[32];
    std::snprintf(text, sizeof(text), "crc32:%08lx", static_cast<unsigned long>(m_crc));
    return text;
  }

private:
  bool fill() {
    if (m_eof) {
      return false;
    }
    if (m_bytes > 0 && m_buffer.size() < kBlockBytes) {
      m_buffer.resize(kBlockBytes); // a small first block: small inputs stay cheap
    }
    m_in.read(m_buffer.data(), static_cast<std::streamsize>(m_buffer.size()));
    const auto got = static_cast<std::size_t>(m_in.gcount());
    if (m_in.bad()) {
      throw IoError("cannot read '" + m_name + "'");
    }
    if (got < m_buffer.size()) {
      m_eof = true;
    }
    m_pos = 0;
    m_end = got;
    m_bytes += got;
    if (got > 0) {
      m_crc = crc32(m_crc, reinterpret_cast<const Bytef*>(m_buffer.data()), static_cast<uInt>(got));
    }
    return got > 0;
  }
  std::istream& m_in;
  std::string m_name;
  std::vector<char> m_buffer;
  std::size_t m_pos = 0;
  std::size_t m_end = 0;
  bool m_eof = false;
  std::uint64_t m_bytes = 0;
  uLong m_crc;
};

/// What the first bytes say a file is, when it is not text ("" for text).
inline std::string binary_kind(const std::string& head) {
  if (head.size() >= 2 && head[0] == '\x1f' && head[1] == '\x8b') {
    return "a gzip-compressed file (decompress it first)";
  }
  if (head.rfind("\x89HDF", 0) == 0) {
    return "an HDF5 file";
  }
  if (head.rfind("PK\x03\x04", 0) == 0) {
    return "a zip archive";
  }
  if (head.rfind("PAR1", 0) == 0) {
    return "a Parquet file (export it as JSON Lines or CSV)";
  }
  return "";
}

/// The byte column of the first NUL or ill-formed UTF-8 byte of `text` and the reason, or 0.
inline std::pair<std::size_t, std::string> bad_text(std::string_view text) {
  const auto nul = text.find('\0');
  const auto utf8 = invalid_utf8_at(text);
  if (nul != std::string_view::npos && (utf8 == std::string_view::npos || nul < utf8)) {
    return {nul + 1, "a NUL byte (a binary file, not text?)"};
  }
  if (utf8 != std::string_view::npos) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", static_cast<unsigned char>(text[utf8]));
    return {utf8 + 1, std::string("invalid UTF-8 (byte ") + hex + ")"};
  }
  return {0, ""};
}

/// A split value: 0 train, 1 val, 2 test, -1 unknown.
inline int split_index(const std::string& value) {
  if (value == "train") {
    return 0;
  }
  if (value == "val" || value == "validation") {
    return 1;
  }
  if (value == "test") {
    return 2;
  }
  return -1;
}

/// A decimal number of a CSV cell: a reason when it is not a finite float32 value.
inline std::optional<std::string> parse_number(std::string_view text, double& out) {
  std::string t = trim(text);
  if (t.empty()) {
    return std::string("empty, expected a number");
  }
  std::string_view v = t;
  if (v.front() == '+') {
    v.remove_prefix(1);
  }
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec == std::errc::result_out_of_range) {
    return std::string("out of the range of a double");
  }
  if (ec != std::errc() || end != v.data() + v.size()) {
    return std::string("not a number");
  }
  if (std::isnan(out)) {
    return std::string("NaN (every value must be finite)");
  }
  if (!std::isfinite(out)) {
    return std::string("infinite (every value must be finite)");
  }
  return std::nullopt;
}

inline bool float_range(double v) { return std::abs(v) <= std::numeric_limits<float>::max(); }

} // namespace pairs_detail

// ---------------------------------------------------------------------------------------------

class PairsReader::Impl {
public:
  using ByteSource = pairs_detail::ByteSource;
  Impl(std::istream& in, std::string name, PairsColumns columns)
      : m_src(in, name)
      , m_name(std::move(name))
      , m_columns(std::move(columns)) {
    const std::string kind = pairs_detail::binary_kind(m_src.head());
    if (!kind.empty()) {
      pairs_detail::fail(m_name, 1, 0, "not a text file: the bytes say it is " + kind);
    }
    if (m_src.head().rfind("\xEF\xBB\xBF", 0) == 0) { // a UTF-8 byte-order mark
      m_src.get();
      m_src.get();
      m_src.get();
    }
  }
  virtual ~Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;
  virtual bool next(PairRow& row) = 0;

  ByteSource m_src;
  std::string m_name;
  PairsColumns m_columns;
  bool m_started = false;
  bool m_has_prompt = false;
  bool m_has_split = false;
  int m_dim = 0;
  std::int64_t m_first_line = 0; ///< the first row's line (for messages about lengths)

protected:
  /// Checks a row's group and split values and stores them.
  void set_group(PairRow& row, std::string value, std::int64_t column,
                 const std::string& what) const {
    if (trim(value).empty()) {
      pairs_detail::fail(m_name, row.line, column,
                         what + ": value " + shown(value) +
                             ": an empty group (every pair needs a group)");
    }
    row.group = std::move(value);
  }
  void set_split(PairRow& row, const std::string& value, std::int64_t column,
                 const std::string& what) const {
    row.split = pairs_detail::split_index(value);
    if (row.split < 0) {
      pairs_detail::fail(m_name, row.line, column,
                         what + ": value " + shown(value) +
                             ": unknown split (accepted: train, val, validation, test)");
    }
  }
  /// Checks the length of a row's feature vectors against the first row's.
  void check_length(const PairRow& row, std::size_t n, std::int64_t column,
                    const std::string& what) {
    if (n == 0) {
      pairs_detail::fail(m_name, row.line, column,
                         what + ": no values (expected a non-empty feature vector)");
    }
    if (m_dim == 0) {
      m_dim = static_cast<int>(std::min<std::size_t>(n, std::numeric_limits<int>::max()));
      m_first_line = row.line;
    } else if (n != static_cast<std::size_t>(m_dim)) {
      pairs_detail::fail(m_name, row.line, column,
                         what + ": " + std::to_string(n) + " values, but the first row (line " +
                             std::to_string(m_first_line) + ") has " + std::to_string(m_dim) +
                             " (ragged feature vectors)");
    }
  }
};

namespace pairs_detail {
/// The CSV reader (io/pairs_csv.cpp).
std::unique_ptr<PairsReader::Impl> make_csv_reader(std::istream& in, std::string name,
                                                   PairsColumns columns);
} // namespace pairs_detail

} // namespace grpo::io
