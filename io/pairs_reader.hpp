// Streaming readers of preference pairs with a group column (`grpo convert pairs`,
// docs/formats.md): JSON Lines (one object per line, nlohmann::json per line) and CSV (RFC 4180:
// quoted fields with embedded commas, quotes and newlines; own state machine). Both read the
// input in 1 MiB blocks, validate UTF-8 themselves and hand out one row at a time, so a file of
// any size is read in bounded memory. Every problem is a one-line DataError
// "'FILE':LINE:COL: <column or field> 'NAME': value 'V': reason".
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <vector>

namespace grpo::io {

enum class PairsFormat { Jsonl, Csv };
/// ConfigError("option --format: invalid value ...") unless `jsonl` or `csv`.
PairsFormat parse_pairs_format(const std::string& value);
const char* pairs_format_name(PairsFormat format);
/// The format a file name's extension says: .jsonl, .ndjson, .json -> jsonl; .csv -> csv;
/// ConfigError naming the file otherwise (give --format).
PairsFormat pairs_format_of(const std::string& path);

/// The columns (CSV) or fields (JSONL) a row is read from. An empty name: not read.
struct PairsColumns {
  std::string group = "group";
  std::string prompt = "prompt";
  std::string chosen = "chosen";     ///< text of y_w (text features)
  std::string rejected = "rejected"; ///< text of y_l (text features)
  std::string split = "split";       ///< train / val (validation) / test
  std::string chosen_features;       ///< precomputed phi(x, y_w): JSON array, or CSV prefix
  std::string rejected_features;     ///< precomputed phi(x, y_l)
  std::string ref_chosen;            ///< log pi_ref(y_w|x)
  std::string ref_rejected;          ///< log pi_ref(y_l|x)
  /// A missing prompt / split column is an error (given explicitly); otherwise it is left out
  /// (the prompt of text features is then empty; the split is drawn by fractions).
  bool prompt_required = false;
  bool split_required = false;
  bool precomputed() const { return !chosen_features.empty(); }
  bool has_ref() const { return !ref_chosen.empty(); }
};

/// One row as read (validated: non-empty group, known split, finite features of one length).
struct PairRow {
  std::int64_t line = 0; ///< line of the input where the row starts (1-based)
  std::string group;
  std::string prompt;
  std::string chosen;
  std::string rejected;
  int split = -1; ///< 0 train, 1 val, 2 test; -1 without a split column
  std::vector<float> chosen_features;
  std::vector<float> rejected_features;
  double ref_chosen = 0.0;
  double ref_rejected = 0.0;
};

/// Names of the splits, indexed as PairRow::split.
inline constexpr const char* kPairSplitNames[3] = {"train", "val", "test"};
/// The longest row accepted (a line or a CSV record): a bigger one is a DataError, so a file
/// without line breaks cannot exhaust the memory.
inline constexpr std::size_t kMaxPairRowBytes = std::size_t{64} << 20;

class PairsReader {
public:
  /// Reads from `in` (kept open by the caller); `name` names the input in messages.
  PairsReader(std::istream& in, std::string name, PairsFormat format, PairsColumns columns);
  ~PairsReader();
  PairsReader(const PairsReader&) = delete;
  PairsReader& operator=(const PairsReader&) = delete;
  PairsReader(PairsReader&& other) noexcept;
  PairsReader& operator=(PairsReader&& other) noexcept;

  /// The next row (false at the end of the input). DataError on a bad row.
  bool next(PairRow& row);
  /// After the first next(): whether rows carry a prompt / a split.
  bool has_prompt() const;
  bool has_split() const;
  /// After the first next() of precomputed features: their length (0 before).
  int feature_dim() const;
  /// Bytes read so far and their CRC-32 (zlib), as "crc32:xxxxxxxx" once the input is read.
  std::uint64_t bytes_read() const;
  std::string checksum() const;

  class Impl;

private:
  std::unique_ptr<Impl> m_impl;
};

} // namespace grpo::io
