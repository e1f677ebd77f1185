// Trace packs (docs/formats.md, `kind = "trace_pack"`): the traces of many runs in one HDF5
// file, each column concatenated over the runs along one axis, so that a study of 10^5 runs is a
// few hundred files that a reader takes in a few whole-column reads. A study bundle packs the
// traces of the runs it finished (jobs/trace_packs.cpp); `grpo train` alone still writes one
// trace per run (io/trace_writer.hpp). write_trace_pack copies every dataset and attribute of
// each trace; TracePack reads a pack back (a run's status, attributes and last values).
#pragma once

#include "io/hdf5.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace grpo::io {

/// Schema of the packs this build writes; readers accept 1.x.
inline constexpr const char* kTracePackSchema = "1.0";

/// One run to pack.
struct PackEntry {
  std::string task;  ///< the run's name in the pack (a study's task id), unique in the pack
  std::string hash;  ///< the study task's hash (any text)
  std::string trace; ///< path of the run's trace file
};

/// Writes the traces of `entries` as one pack at `path`: to `path`.tmp, renamed over `path` once
/// complete, so that `path` never holds a partial pack. DataError naming the trace and dataset
/// when a trace is not a grpo trace, a column does not hold one value or row per record, or
/// two traces disagree on a column's rank or type; IoError when a file cannot be read or
/// written (the temporary file is removed).
void write_trace_pack(const std::string& path, const std::vector<PackEntry>& entries);

class TracePack {
public:
  /// Opens `path` and reads its run table. IoError if it cannot be read, DataError if it is
  /// not a grpo trace pack of schema 1.x or its run table is inconsistent.
  explicit TracePack(const std::string& path);

  const std::string& path() const { return m_file.path(); }
  std::size_t size() const { return m_tasks.size(); }
  const std::string& task(std::size_t run) const { return m_tasks.at(run); }
  const std::string& hash(std::size_t run) const { return m_hashes.at(run); }
  std::int64_t records(std::size_t run) const { return m_records.at(run); }
  /// The run named `task` with hash `hash` (the last such run), if the pack holds it.
  std::optional<std::size_t> find(const std::string& task, const std::string& hash) const;

  /// A root attribute of the run's trace as text (text attributes as written, numbers in
  /// decimal); nullopt if the trace had no such attribute.
  std::optional<std::string> attribute(std::size_t run, const std::string& name) const;
  /// The run's trace status ("completed", "running", "failed: <reason>").
  std::string status(std::size_t run) const;

  /// The record columns of the pack (every run's, sorted).
  std::vector<std::string> columns() const;
  /// The last record's value of a one-value-per-record column of the run; nullopt if the run
  /// lacks the column or has no record.
  std::optional<double> last(std::size_t run, const std::string& name) const;
  /// Every value of a one-value-per-record column of the run (empty if it lacks it).
  std::vector<double> scalar(std::size_t run, const std::string& name) const;

private:
  /// Per-run widths and the offsets of each run's values in column `name`.
  struct Layout {
    int rank = 1;
    std::vector<std::int64_t> width;  ///< 0: the run lacks the column
    std::vector<std::int64_t> offset; ///< first value of each run
  };
  const Layout& layout(const std::string& name) const;

  h5::File m_file;
  std::vector<std::string> m_tasks;
  std::vector<std::string> m_hashes;
  std::vector<std::string> m_attributes; ///< per run: a JSON object, parsed on demand
  std::vector<std::int64_t> m_records;
  mutable std::map<std::string, Layout> m_layouts;
};

} // namespace grpo::io
