#include "io/trace_reader.hpp"

#include "core/error.hpp"

#include <cmath>

namespace grpo::io {

std::string file_kind(const std::string& path) {
  const auto f = h5::File::open(path, false, nullptr);
  return f.has_attribute("/", "kind") ? f.read_string_attribute("/", "kind") : "dataset";
}

namespace {
std::string where(const std::string& path, const std::string& name) {
  return "'" + path + "': dataset '" + name + "'";
}
} // namespace

TraceReader::TraceReader(const std::string& path)
    : m_file(h5::File::open(path, false, nullptr)) {
  const auto kind = text_attribute("kind");
  if (!kind || *kind != "trace") {
    throw DataError("'" + path + "': not a grpo trace (attribute 'kind' is '" + kind.value_or("") +
                    "')");
  }
  if (m_file.exists("iteration")) {
    const auto info = m_file.info("iteration");
    if (info.dims.size() != 1) {
      throw DataError(where(path, "iteration") + " is not 1-D");
    }
    m_records = static_cast<std::int64_t>(info.dims[0]);
  }
}

std::optional<std::string> TraceReader::text_attribute(const std::string& name) const {
  if (!m_file.has_attribute("/", name)) {
    return std::nullopt;
  }
  if (m_file.attribute_type_class("/", name) != H5T_STRING) {
    throw DataError("'" + path() + "': attribute '" + name + "' is not text");
  }
  return m_file.read_string_attribute("/", name);
}

std::optional<std::int64_t> TraceReader::int_attribute(const std::string& name) const {
  if (!m_file.has_attribute("/", name)) {
    return std::nullopt;
  }
  if (m_file.attribute_type_class("/", name) != H5T_INTEGER) {
    throw DataError("'" + path() + "': attribute '" + name + "' is not an integer");
  }
  return m_file.read_int_attribute("/", name);
}

std::string TraceReader::status() const {
  auto status = text_attribute("status");
  if (!status) {
    throw DataError("'" + path() + "': no attribute 'status' (not a grpo trace?)");
  }
  return *status;
}

std::vector<std::int64_t> TraceReader::iterations() const {
  return m_records == 0 ? std::vector<std::int64_t>() : m_file.read_int64("iteration");
}

bool TraceReader::has(const std::string& name) const { return m_file.exists(name); }

void TraceReader::require_scalar(const std::string& name) const {
  const auto info = m_file.info(name);
  if (info.dims.size() != 1 || static_cast<std::int64_t>(info.dims[0]) != m_records) {
    throw DataError(where(path(), name) + " does not hold one value per record (" +
                    std::to_string(m_records) + " records)");
  }
}

std::vector<double> TraceReader::scalar(const std::string& name) const {
  require_scalar(name);
  return m_file.read_double(name);
}

std::optional<double> TraceReader::last(const std::string& name) const {
  if (m_records == 0 || !has(name)) {
    return std::nullopt;
  }
  require_scalar(name);
  double value = 0.0; // the last record only: studies read a dozen columns of every trace
  m_file.read_rows(name, static_cast<index_t>(m_records - 1), static_cast<index_t>(m_records),
                   &value);
  return value;
}

std::size_t TraceReader::width(const std::string& name) const {
  const auto info = m_file.info(name);
  if (info.dims.size() != 2 || static_cast<std::int64_t>(info.dims[0]) != m_records ||
      info.dims[1] == 0) {
    throw DataError(where(path(), name) + " does not hold one row per record (" +
                    std::to_string(m_records) + " records)");
  }
  return static_cast<std::size_t>(info.dims[1]);
}

std::vector<double> TraceReader::last_row(const std::string& name) const {
  const std::size_t k = width(name);
  if (m_records == 0) {
    return {};
  }
  std::vector<double> row(k);
  m_file.read_rows(name, static_cast<index_t>(m_records - 1), static_cast<index_t>(m_records),
                   row.data());
  return row;
}

std::vector<double> TraceReader::final_vector(const std::string& name, bool finite) const {
  if (!has(name)) {
    throw DataError("'" + path() + "': no dataset '" + name +
                    "' (expected a completed grpo trace)");
  }
  const auto info = m_file.info(name);
  if (info.type_class != H5T_FLOAT || info.dims.size() != 1) {
    throw DataError(where(path(), name) + " must be a 1-D float dataset");
  }
  auto values = m_file.read_double(name);
  for (std::size_t j = 0; finite && j < values.size(); ++j) {
    if (!std::isfinite(values[j])) {
      throw DataError("'" + path() + "': " + name + "[" + std::to_string(j) + "] is not finite");
    }
  }
  return values;
}

} // namespace grpo::io
