// TraceWriter: one HDF5 file per run (docs/formats.md). Built on every rank; only rank 0 owns
// the file, the others are no-ops, so callers never branch on rank. Records go to extensible
// chunked datasets and the file is flushed after each record: a killed run leaves a readable
// trace whose `status` attribute still says "running".
#pragma once

#include "core/communicator.hpp"
#include "core/trace_record.hpp"
#include "io/hdf5.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace grpo::io {

inline constexpr const char* kTraceSchemaVersion = "1.0";

struct TraceHeader {
  std::vector<std::string> group_names;
  std::map<std::string, std::string> text_attributes;
  std::map<std::string, std::int64_t> int_attributes;
};

class TraceWriter {
public:
  /// Collective: rank 0 creates `path` (truncating it) and every rank learns whether that
  /// worked (IoError on all ranks otherwise).
  TraceWriter(std::string path, const Communicator& comm, const TraceHeader& header);
  /// Collective: reopens the trace of an interrupted run to continue it after a checkpoint.
  /// Records beyond the first `keep_records` (made after the checkpoint) are dropped and the
  /// status goes back to "running". DataError if the file is not an unfinished trace holding at
  /// least `keep_records` records.
  TraceWriter(std::string path, const Communicator& comm, std::int64_t keep_records);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  /// Appends one record and flushes (rank 0; a write failure is a rank-local IoError).
  void append(const TraceRecord& record);
  /// Writes final 1-D datasets (theta_final, theta_avg, ...), extra integer attributes, sets
  /// status = "completed" and closes the file.
  void finish(const std::map<std::string, std::vector<double>>& datasets,
              const std::map<std::string, std::int64_t>& attributes,
              const std::map<std::string, double>& real_attributes = {});
  /// Records why the run stopped (status = "failed: ...") and closes the file.
  void fail(const std::string& reason);
  std::int64_t records() const { return m_records; }

private:
  std::string m_path;
  std::unique_ptr<h5::File> m_file; ///< rank 0 only
  std::map<std::string, hsize_t> m_widths;
  std::int64_t m_records = 0;
};

} // namespace grpo::io
