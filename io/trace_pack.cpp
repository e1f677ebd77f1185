#include "io/trace_pack.hpp"

#include "core/error.hpp"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

namespace grpo::io {

namespace {

using json = nlohmann::json;

/// Datasets written once at the end of a run (docs/formats.md): never record columns, even
/// when their length equals the number of records.
bool end_of_run(const std::string& name) {
  const auto ends = [&](const char* suffix) {
    const std::string s(suffix);
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends("_final") || ends("_avg") || name.rfind("sft_", 0) == 0;
}

bool is_dataset(const h5::File& f, const std::string& name) {
  const hid_t object = H5Oopen(f.id(), name.c_str(), H5P_DEFAULT);
  if (object < 0) {
    return false;
  }
  const bool dataset = H5Iget_type(object) == H5I_DATASET;
  H5Oclose(object);
  return dataset;
}

std::string where(const std::string& path, const std::string& name) {
  return "'" + path + "': dataset '" + name + "'";
}

/// One column (record column or end-of-run array) being gathered over the runs.
struct Column {
  int rank = -1; ///< dimensions in each trace (1 or 2 for records; 0, 1 or 2 for finals)
  bool integer = false;
  std::vector<std::int64_t> size; ///< per run: width (records) or element count (finals); 0 or
                                  ///< -1 when absent
  std::vector<double> real;
  std::vector<std::int64_t> whole;
};

/// Adds one trace's dataset `name` to `column` (run number `run`; earlier runs without it were
/// filled with `absent` sizes).
void gather(const h5::File& f, const std::string& name, const h5::File::Info& info, bool record,
            std::size_t run, std::size_t runs, std::int64_t absent, Column& column) {
  const bool integer = info.type_class == H5T_INTEGER;
  const int rank = static_cast<int>(info.dims.size());
  if (column.rank < 0) {
    column.rank = rank;
    column.integer = integer;
    column.size.assign(runs, absent);
  } else if (column.rank != rank || column.integer != integer) {
    throw DataError(where(f.path(), name) + " is " + std::to_string(rank) + "-D " +
                    (integer ? "integer" : "float") + " but " + std::to_string(column.rank) +
                    "-D " + (column.integer ? "integer" : "float") +
                    " in an earlier trace of the pack");
  }
  std::int64_t count = 1;
  for (hsize_t d : info.dims) {
    count *= static_cast<std::int64_t>(d);
  }
  column.size[run] = record ? (rank == 2 ? static_cast<std::int64_t>(info.dims[1]) : 1) : count;
  if (count == 0) {
    return;
  }
  if (integer) {
    const auto values = f.read_int64(name);
    column.whole.insert(column.whole.end(), values.begin(), values.end());
  } else {
    const auto values = f.read_double(name);
    column.real.insert(column.real.end(), values.begin(), values.end());
  }
}

json attributes_of(const h5::File& f) {
  json out = json::object();
  for (const auto& name : f.attribute_names("/")) {
    switch (f.attribute_type_class("/", name)) {
    case H5T_STRING:
      out[name] = f.read_string_attribute("/", name);
      break;
    case H5T_INTEGER:
      out[name] = f.read_int_attribute("/", name);
      break;
    case H5T_FLOAT:
      out[name] = f.read_double_attribute("/", name);
      break;
    default:
      throw DataError("'" + f.path() + "': attribute '" + name +
                      "' is neither text nor a number (cannot be packed)");
    }
  }
  return out;
}

void write_int64(const h5::File& f, const std::string& name,
                 const std::vector<std::int64_t>& values) {
  f.create_dataset(name, H5T_STD_I64LE, {static_cast<hsize_t>(values.size())});
  if (!values.empty()) {
    f.write_rows(name, H5T_NATIVE_INT64, 0, static_cast<index_t>(values.size()), values.data());
  }
}

void write_column(const h5::File& f, const std::string& group, const std::string& sizes_group,
                  const std::string& name, const Column& column) {
  const std::string path = group + "/" + name;
  if (column.integer) {
    write_int64(f, path, column.whole);
  } else {
    f.write_vector(path, column.real);
  }
  f.write_attribute(path, "rank", static_cast<std::int64_t>(column.rank));
  write_int64(f, sizes_group + "/" + name, column.size);
}

void write_pack(const std::string& path, const std::vector<PackEntry>& entries) {
  std::vector<std::string> tasks;
  std::vector<std::string> hashes;
  std::vector<std::string> attributes;
  std::vector<std::string> groups;
  std::vector<std::int64_t> records;
  std::map<std::string, Column> columns;
  std::map<std::string, Column> finals;
  std::set<std::string> seen;
  const std::size_t runs = entries.size();
  for (std::size_t r = 0; r < runs; ++r) {
    const auto& entry = entries[r];
    if (!seen.insert(entry.task).second) {
      throw DataError("trace pack '" + path + "': run '" + entry.task + "' given twice");
    }
    const auto f = h5::File::open(entry.trace, false, nullptr);
    json attrs = attributes_of(f);
    if (!attrs.contains("kind") || attrs["kind"] != "trace") {
      throw DataError("'" + entry.trace + "': not a grpo trace (attribute 'kind' is not 'trace')");
    }
    std::int64_t n = 0;
    if (f.exists("iteration")) {
      const auto info = f.info("iteration");
      if (info.dims.size() != 1) {
        throw DataError(where(entry.trace, "iteration") + " is not 1-D");
      }
      n = static_cast<std::int64_t>(info.dims[0]);
    }
    json names = json::array();
    if (f.exists("groups/names")) {
      for (const auto& g : f.read_strings("groups/names")) {
        names.push_back(g);
      }
    }
    for (const auto& name : f.list("/")) {
      if (!is_dataset(f, name)) {
        if (name != "groups") {
          throw DataError("'" + entry.trace + "': object '" + name +
                          "' is neither a dataset nor 'groups' (cannot be packed)");
        }
        continue;
      }
      const auto info = f.info(name);
      if (info.type_class != H5T_INTEGER && info.type_class != H5T_FLOAT) {
        throw DataError(where(entry.trace, name) + " is not numeric (cannot be packed)");
      }
      const bool record = !end_of_run(name) && !info.dims.empty() && info.dims.size() <= 2 &&
                          static_cast<std::int64_t>(info.dims[0]) == n;
      if (!record && !end_of_run(name)) {
        throw DataError(where(entry.trace, name) + " does not hold one value or row per record (" +
                        std::to_string(n) + " records)");
      }
      if (!record && info.dims.size() > 1) {
        throw DataError(where(entry.trace, name) + " is an end-of-run array of " +
                        std::to_string(info.dims.size()) + " dimensions (packs hold 0 or 1)");
      }
      if (record) {
        gather(f, name, info, true, r, runs, 0, columns[name]);
      } else {
        gather(f, name, info, false, r, runs, -1, finals[name]);
      }
    }
    tasks.push_back(entry.task);
    hashes.push_back(entry.hash);
    attributes.push_back(attrs.dump());
    groups.push_back(names.dump());
    records.push_back(n);
  }
  auto f = h5::File::create(path, nullptr);
  f.write_attribute("/", "kind", std::string("trace_pack"));
  f.write_attribute("/", "schema_version", std::string(kTracePackSchema));
  f.write_attribute("/", "runs", static_cast<std::int64_t>(runs));
  for (const char* group : {"runs", "records", "record_widths", "finals", "final_sizes"}) {
    f.create_group(group);
  }
  f.write_strings("runs/task", tasks);
  f.write_strings("runs/hash", hashes);
  f.write_strings("runs/attributes", attributes);
  f.write_strings("runs/groups", groups);
  write_int64(f, "runs/records", records);
  for (const auto& [name, column] : columns) {
    write_column(f, "records", "record_widths", name, column);
  }
  for (const auto& [name, column] : finals) {
    write_column(f, "finals", "final_sizes", name, column);
  }
  f.flush();
  f.close();
}

} // namespace

void write_trace_pack(const std::string& path, const std::vector<PackEntry>& entries) {
  const std::string temporary = path + ".tmp";
  try {
    write_pack(temporary, entries);
  } catch (...) {
    std::remove(temporary.c_str());
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::remove(temporary.c_str());
    throw IoError("cannot rename '" + temporary + "' to '" + path + "': " + ec.message());
  }
}

// ---- Reading

TracePack::TracePack(const std::string& path)
    : m_file(h5::File::open(path, false, nullptr)) {
  const auto fail = [&](const std::string& why) { throw DataError("'" + path + "': " + why); };
  if (!m_file.has_attribute("/", "kind") ||
      m_file.attribute_type_class("/", "kind") != H5T_STRING ||
      m_file.read_string_attribute("/", "kind") != "trace_pack") {
    fail("not a grpo trace pack (attribute 'kind' is not 'trace_pack')");
  }
  const std::string schema = m_file.has_attribute("/", "schema_version")
                                 ? m_file.read_string_attribute("/", "schema_version")
                                 : std::string();
  if (schema.rfind("1.", 0) != 0) {
    fail("trace pack schema '" + schema + "' is not supported (this build reads 1.x)");
  }
  m_tasks = m_file.read_strings("runs/task");
  m_hashes = m_file.read_strings("runs/hash");
  m_attributes = m_file.read_strings("runs/attributes");
  m_records = m_file.read_int64("runs/records");
  const std::size_t n = m_tasks.size();
  if (m_hashes.size() != n || m_attributes.size() != n || m_records.size() != n) {
    fail("the run table (runs/task, hash, attributes, records) has unequal lengths");
  }
  for (auto r : m_records) {
    if (r < 0) {
      fail("runs/records holds a negative count");
    }
  }
}

std::optional<std::size_t> TracePack::find(const std::string& task, const std::string& hash) const {
  for (std::size_t r = m_tasks.size(); r-- > 0;) {
    if (m_tasks[r] == task && m_hashes[r] == hash) {
      return r;
    }
  }
  return std::nullopt;
}

std::optional<std::string> TracePack::attribute(std::size_t run, const std::string& name) const {
  json attrs;
  try {
    attrs = json::parse(m_attributes.at(run));
  } catch (const json::exception&) {
    throw DataError("'" + path() + "': runs/attributes of run '" + m_tasks[run] +
                    "' is not a JSON object");
  }
  if (!attrs.is_object()) {
    throw DataError("'" + path() + "': runs/attributes of run '" + m_tasks[run] +
                    "' is not a JSON object");
  }
  const auto it = attrs.find(name);
  if (it == attrs.end()) {
    return std::nullopt;
  }
  if (it->is_string()) {
    return it->get<std::string>();
  }
  return it->dump();
}

std::string TracePack::status(std::size_t run) const {
  const auto status = attribute(run, "status");
  if (!status) {
    throw DataError("'" + path() + "': run '" + m_tasks.at(run) + "' has no attribute 'status'");
  }
  return *status;
}

std::vector<std::string> TracePack::columns() const { return m_file.list("records"); }

const TracePack::Layout& TracePack::layout(const std::string& name) const {
  const auto found = m_layouts.find(name);
  if (found != m_layouts.end()) {
    return found->second;
  }
  Layout l;
  const std::string column = "records/" + name;
  if (m_file.exists(column)) {
    l.rank = static_cast<int>(m_file.read_int_attribute(column, "rank"));
    l.width = m_file.read_int64("record_widths/" + name);
    if (l.width.size() != m_tasks.size()) {
      throw DataError(where(path(), "record_widths/" + name) + " does not hold one width per run");
    }
    std::int64_t offset = 0;
    for (std::size_t r = 0; r < m_tasks.size(); ++r) {
      l.offset.push_back(offset);
      offset += l.width[r] * m_records[r];
    }
    const auto info = m_file.info(column);
    if (info.dims.size() != 1 || static_cast<std::int64_t>(info.dims[0]) != offset) {
      throw DataError(where(path(), column) + " does not hold " + std::to_string(offset) +
                      " values (the runs' records x widths)");
    }
  } else {
    l.width.assign(m_tasks.size(), 0);
    l.offset.assign(m_tasks.size(), 0);
  }
  return m_layouts.emplace(name, std::move(l)).first->second;
}

std::optional<double> TracePack::last(std::size_t run, const std::string& name) const {
  const Layout& l = layout(name);
  if (l.width.at(run) != 1 || l.rank != 1 || m_records[run] == 0) {
    return std::nullopt;
  }
  const index_t at = l.offset[run] + m_records[run] - 1;
  double value = 0.0;
  m_file.read_rows("records/" + name, at, at + 1, &value);
  return value;
}

std::vector<double> TracePack::scalar(std::size_t run, const std::string& name) const {
  const Layout& l = layout(name);
  std::vector<double> out;
  if (l.width.at(run) != 1 || l.rank != 1 || m_records[run] == 0) {
    return out;
  }
  out.resize(static_cast<std::size_t>(m_records[run]));
  m_file.read_rows("records/" + name, l.offset[run], l.offset[run] + m_records[run], out.data());
  return out;
}

} // namespace grpo::io
