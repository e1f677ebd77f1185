// TraceReader: the one place that reads a grpo trace (docs/formats.md) back: its header
// attributes, its status, its per-record columns (checked to hold one value or one row per
// record) and its final datasets (theta_final, theta_avg: 1-D, finite). Used by studies (a
// task's success, a cell's headline metrics), `grpo info` and `grpo train --theta-init`; the
// writer is io/trace_writer.hpp. Serial and rank-local: open it on the rank that needs it.
#pragma once

#include "io/hdf5.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace grpo::io {

/// What grpo file `path` is: its root attribute `kind` ("trace" for a trace), "dataset" when it
/// has none (datasets carry no `kind`). IoError if it cannot be opened as HDF5.
std::string file_kind(const std::string& path);

class TraceReader {
public:
  /// Opens `path`. IoError if it cannot be read, DataError if it is not a grpo trace (its root
  /// attribute 'kind' is not "trace") or its 'iteration' column is not 1-D.
  explicit TraceReader(const std::string& path);

  const std::string& path() const { return m_file.path(); }

  /// Root text attribute `name` (nullopt if absent; DataError if it is not text).
  std::optional<std::string> text_attribute(const std::string& name) const;
  /// Root integer attribute `name` (nullopt if absent; DataError if it is not an integer).
  std::optional<std::int64_t> int_attribute(const std::string& name) const;

  /// "running", "completed" or "failed: <reason>" (DataError if the attribute is absent).
  std::string status() const;
  bool completed() const { return status() == "completed"; }

  /// Number of records (rows of every column; 0 before the first record).
  std::int64_t records() const { return m_records; }
  /// The step index of every record.
  std::vector<std::int64_t> iterations() const;

  /// Whether the trace holds column or dataset `name`.
  bool has(const std::string& name) const;
  /// A scalar column: one value per record. DataError if absent, not 1-D or not of records()
  /// values.
  std::vector<double> scalar(const std::string& name) const;
  /// The last record's value of a scalar column; nullopt if the column is absent or the trace
  /// has no records.
  std::optional<double> last(const std::string& name) const;
  /// Width of a vector column (K or P entries per record). DataError if absent or not
  /// [records, width].
  std::size_t width(const std::string& name) const;
  /// The last record's row of a vector column (empty without records).
  std::vector<double> last_row(const std::string& name) const;
  /// A final 1-D float dataset written when the run completed (theta_final, theta_avg).
  /// DataError naming the file and dataset if it is absent ("expected a completed grpo
  /// trace"), not a 1-D float dataset, or (with `finite`) holds a value that is not finite.
  std::vector<double> final_vector(const std::string& name, bool finite = true) const;

private:
  /// DataError unless `name` is 1-D with records() values.
  void require_scalar(const std::string& name) const;

  h5::File m_file;
  std::int64_t m_records = 0;
};

} // namespace grpo::io
