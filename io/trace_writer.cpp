#include "io/trace_writer.hpp"

#include "core/error.hpp"

#include <algorithm>

namespace grpo::io {

TraceWriter::TraceWriter(std::string path, const Communicator& comm, const TraceHeader& header)
    : m_path(std::move(path)) {
  std::string error;
  if (comm.is_root()) {
    try {
      m_file = std::make_unique<h5::File>(h5::File::create(m_path, nullptr));
      m_file->write_attribute("/", "schema_version", std::string(kTraceSchemaVersion));
      m_file->write_attribute("/", "kind", std::string("trace"));
      m_file->write_attribute("/", "status", std::string("running"));
      m_file->write_attribute("/", "num_groups",
                              static_cast<std::int64_t>(header.group_names.size()));
      for (const auto& [k, v] : header.text_attributes) {
        m_file->write_attribute("/", k, v);
      }
      for (const auto& [k, v] : header.int_attributes) {
        m_file->write_attribute("/", k, v);
      }
      m_file->create_group("groups");
      m_file->write_strings("groups/names", header.group_names);
      m_file->flush();
    } catch (const Error& e) {
      error = e.what();
      m_file.reset();
    }
  }
  comm.broadcast(error);
  if (!error.empty()) {
    throw IoError(error);
  }
}

TraceWriter::TraceWriter(std::string path, const Communicator& comm, std::int64_t keep_records)
    : m_path(std::move(path))
    , m_records(keep_records) {
  std::string error;
  int code = 0;
  if (comm.is_root()) {
    try {
      m_file = std::make_unique<h5::File>(h5::File::open(m_path, true, nullptr));
      const auto kind = m_file->has_attribute("/", "kind")
                            ? m_file->read_string_attribute("/", "kind")
                            : std::string();
      if (kind != "trace") {
        throw DataError("'" + m_path + "': not a grpo trace (attribute 'kind' is '" + kind +
                        "'); cannot resume it");
      }
      const auto status = m_file->read_string_attribute("/", "status");
      if (status == "completed") {
        throw DataError("'" + m_path + "': the run is already completed; nothing to resume");
      }
      for (const auto& name : m_file->list("/")) {
        if (name == "groups") {
          continue;
        }
        const auto info = m_file->info(name);
        if (info.dims.empty() || static_cast<std::int64_t>(info.dims[0]) < keep_records) {
          throw DataError("'" + m_path + "': dataset '" + name + "' holds fewer than the " +
                          std::to_string(keep_records) +
                          " records of the checkpoint (a trace of another run?)");
        }
        if (keep_records == 0) {
          m_file->remove(name); // recreated by the first append
          continue;
        }
        m_file->set_rows(name, static_cast<hsize_t>(keep_records));
        if (name != "iteration") {
          m_widths[name] = info.dims.size() == 2 ? info.dims[1] : 0;
        }
      }
      m_file->write_attribute("/", "status", std::string("running"));
      m_file->flush();
    } catch (const Error& e) {
      error = e.what();
      code = e.exit_code();
      m_file.reset();
    }
  }
  comm.broadcast(error);
  if (!error.empty()) {
    std::int64_t c = code;
    comm.broadcast(c);
    if (c == static_cast<int>(ExitCode::Data)) {
      throw DataError(error);
    }
    throw IoError(error);
  }
}

TraceWriter::~TraceWriter() = default;

void TraceWriter::append(const TraceRecord& record) {
  if (!m_file) {
    return;
  }
  try {
    const auto row = static_cast<hsize_t>(m_records);
    const auto columns = record.columns();
    if (m_records == 0) {
      m_file->create_extensible("iteration", H5T_STD_I64LE, 0, 1024);
      for (const auto& column : columns) {
        const auto width = static_cast<hsize_t>(column.values.size());
        const hsize_t stored = column.is_vector ? width : 0;
        // About 64 KiB per chunk, at most 1024 records.
        const hsize_t chunk = std::max<hsize_t>(1, std::min<hsize_t>(1024, 8192 / (width + 1)));
        m_file->create_extensible(column.name, H5T_IEEE_F64LE, stored, chunk);
        m_widths[column.name] = stored;
      }
    }
    const std::int64_t iteration = record.iteration;
    m_file->append_row("iteration", H5T_NATIVE_INT64, row, &iteration);
    for (const auto& column : columns) {
      const auto it = m_widths.find(column.name);
      if (it == m_widths.end() || std::max<hsize_t>(it->second, 1) != column.values.size()) {
        throw InternalError("trace column '" + column.name + "' changed shape between records");
      }
      m_file->append_row(column.name, H5T_NATIVE_DOUBLE, row, column.values.data());
    }
    m_file->flush();
    ++m_records;
  } catch (const Error& e) {
    throw IoError(std::string("writing trace record: ") + e.what(), true);
  }
}

void TraceWriter::finish(const std::map<std::string, std::vector<double>>& datasets,
                         const std::map<std::string, std::int64_t>& attributes,
                         const std::map<std::string, double>& real_attributes) {
  if (!m_file) {
    return;
  }
  try {
    for (const auto& [name, values] : datasets) {
      m_file->write_vector(name, values);
    }
    for (const auto& [name, value] : attributes) {
      m_file->write_attribute("/", name, value);
    }
    for (const auto& [name, value] : real_attributes) {
      m_file->write_attribute("/", name, value);
    }
    m_file->write_attribute("/", "status", std::string("completed"));
    m_file->flush();
    m_file.reset();
  } catch (const Error& e) {
    throw IoError(std::string("finishing trace: ") + e.what(), true);
  }
}

void TraceWriter::fail(const std::string& reason) {
  if (!m_file) {
    return;
  }
  try {
    m_file->write_attribute("/", "status", "failed: " + reason);
    m_file->flush();
  } catch (const Error&) {
    // best effort: the run is already failing for `reason`
  }
  m_file.reset();
}

} // namespace grpo::io
