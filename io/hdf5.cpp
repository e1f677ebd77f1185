#include "io/hdf5.hpp"

#include "core/config.hpp"
#include "core/environment.hpp"
#include "core/error.hpp"

#include <filesystem>
#include <memory>
#include <unistd.h>

namespace grpo::io::h5 {

Id& Id::operator=(Id&& other) noexcept {
  if (this != &other) {
    reset();
    m_id = other.m_id;
    m_closer = other.m_closer;
    other.m_id = -1;
  }
  return *this;
}

void Id::reset() {
  // m_id is initialised by every constructor (default member initialiser -1); the analyzer
  // loses it on a moved-from Id.
  // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
  if (m_id >= 0 && m_closer != nullptr) {
    m_closer(m_id);
  }
  m_id = -1;
}

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

void check(herr_t status, const std::string& what, const std::string& path,
           const std::string& object) {
  if (status < 0) {
    throw IoError("HDF5 " + what + " failed for " + (object.empty() ? "" : "'" + object + "' in ") +
                  "'" + path + "'");
  }
}

namespace {

hid_t checked(hid_t id, const std::string& what, const std::string& path,
              const std::string& object = "") {
  check(id < 0 ? -1 : 0, what, path, object);
  return id;
}

Id file_access_list(const Communicator* comm) {
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
#if GRPO_ENABLE_MPI && defined(H5_HAVE_PARALLEL)
  if (comm != nullptr && comm->size() > 1) {
    H5Pset_fapl_mpio(fapl.get(), comm->native(), MPI_INFO_NULL);
    H5Pset_all_coll_metadata_ops(fapl.get(), true);
    H5Pset_coll_metadata_write(fapl.get(), true);
  }
#else
  (void)comm;
#endif
  return fapl;
}

bool is_parallel(const Communicator* comm) { return comm != nullptr && comm->size() > 1; }

const char* class_name(H5T_class_t c) {
  switch (c) {
  case H5T_INTEGER:
    return "integer";
  case H5T_FLOAT:
    return "float";
  case H5T_STRING:
    return "string";
  case H5T_COMPOUND:
    return "compound";
  default:
    return "other";
  }
}

Id string_type(std::size_t size, H5T_cset_t cset = H5T_CSET_UTF8) {
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), size);
  H5Tset_cset(type.get(), cset);
  H5Tset_strpad(type.get(), H5T_STR_NULLTERM);
  return type;
}

/// The character set of a stored string type (HDF5 converts only between equal sets).
H5T_cset_t cset_of(hid_t type) {
  const H5T_cset_t cset = H5Tget_cset(type);
  return cset == H5T_CSET_ASCII ? H5T_CSET_ASCII : H5T_CSET_UTF8;
}

} // namespace

File File::open(const std::string& path, bool writable, const Communicator* comm) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw IoError("cannot open '" + path + "': no such file");
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw IoError("cannot open '" + path + "': not a regular file");
  }
  const htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 < 0) {
    throw IoError("cannot read '" + path + "' (permissions?)");
  }
  if (is_h5 == 0) {
    throw DataError("'" + path + "' is not an HDF5 file");
  }
  const Id fapl = file_access_list(comm);
  const hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get());
  if (id < 0) {
    throw IoError("cannot open HDF5 file '" + path + "'" +
                  (writable ? " for writing" : " (truncated or corrupt?)"));
  }
  return {path, Id(id, H5Fclose), is_parallel(comm)};
}

File File::create(const std::string& path, const Communicator* comm) {
  const Id fapl = file_access_list(comm);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (id < 0) {
    throw IoError("cannot create '" + path + "' (does the directory exist and is it writable?)");
  }
  return {path, Id(id, H5Fclose), is_parallel(comm)};
}

void File::flush() const { check(H5Fflush(id(), H5F_SCOPE_LOCAL), "flush", m_path); }

bool File::exists(const std::string& name) const {
  // H5Lexists needs every intermediate link to exist: walk the path.
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    const std::size_t next = name.find('/', pos);
    partial = name.substr(0, next);
    pos = next == std::string::npos ? next : next + 1;
    if (partial.empty()) {
      continue;
    }
    const htri_t found = H5Lexists(id(), partial.c_str(), H5P_DEFAULT);
    if (found <= 0) {
      return false;
    }
  }
  return true;
}

void File::create_group(const std::string& name) const {
  Id group(checked(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   "group creation", m_path, name),
           H5Gclose);
}

bool File::has_attribute(const std::string& object, const std::string& name) const {
  return H5Aexists_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

namespace {
herr_t collect_attribute_name(hid_t /*unused*/, const char* name, const H5A_info_t* /*unused*/,
                              void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
} // namespace

std::vector<std::string> File::attribute_names(const std::string& object) const {
  std::vector<std::string> names;
  Id obj(checked(H5Oopen(id(), object.c_str(), H5P_DEFAULT), "object open", m_path, object),
         H5Oclose);
  hsize_t index = 0;
  check(H5Aiterate2(obj.get(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_attribute_name, &names),
        "attribute listing", m_path, object);
  return names;
}

Id File::open_attribute(const std::string& object, const std::string& name,
                        std::string& where) const {
  where = object == "/" ? name : object + "@" + name;
  if (!has_attribute(object, name)) {
    throw DataError("'" + m_path + "': missing attribute '" + where + "'");
  }
  return {checked(H5Aopen_by_name(id(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                  "attribute open", m_path, where),
          H5Aclose};
}

std::string File::read_string_attribute(const std::string& object, const std::string& name) const {
  std::string where;
  const Id attr = open_attribute(object, name, where);
  Id type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) {
    throw DataError("'" + m_path + "': attribute '" + where + "' has type " +
                    class_name(H5Tget_class(type.get())) + ", expected string");
  }
  Id space(H5Aget_space(attr.get()), H5Sclose);
  const auto count = H5Sget_simple_extent_npoints(space.get());
  if (count != 1) {
    throw DataError("'" + m_path + "': attribute '" + where + "' holds " + std::to_string(count) +
                    " strings, expected one");
  }
  if (H5Tis_variable_str(type.get()) > 0) {
    Id mem = string_type(H5T_VARIABLE, cset_of(type.get()));
    char* value = nullptr;
    check(H5Aread(attr.get(), mem.get(), &value), "attribute read", m_path, where);
    std::string out = value != nullptr ? value : "";
    H5free_memory(value);
    return out;
  }
  const std::size_t size = H5Tget_size(type.get());
  std::string buffer(size + 1, '\0');
  Id mem = string_type(size + 1, cset_of(type.get()));
  check(H5Aread(attr.get(), mem.get(), buffer.data()), "attribute read", m_path, where);
  return buffer.substr(0, buffer.find('\0')); // a fixed-length string is NUL-padded
}

std::int64_t File::read_int_attribute(const std::string& object, const std::string& name) const {
  std::string where;
  const Id attr = open_attribute(object, name, where);
  Id type(H5Aget_type(attr.get()), H5Tclose);
  Id space(H5Aget_space(attr.get()), H5Sclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER || H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw DataError("'" + m_path + "': attribute '" + where + "' has type " +
                    class_name(H5Tget_class(type.get())) + ", expected one integer");
  }
  std::int64_t value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), "attribute read", m_path, where);
  return value;
}

H5T_class_t File::attribute_type_class(const std::string& object, const std::string& name) const {
  std::string where;
  const Id attr = open_attribute(object, name, where);
  Id type(H5Aget_type(attr.get()), H5Tclose);
  return H5Tget_class(type.get());
}

double File::read_double_attribute(const std::string& object, const std::string& name) const {
  std::string where;
  const Id attr = open_attribute(object, name, where);
  Id type(H5Aget_type(attr.get()), H5Tclose);
  Id space(H5Aget_space(attr.get()), H5Sclose);
  if (H5Tget_class(type.get()) != H5T_FLOAT || H5Sget_simple_extent_npoints(space.get()) != 1) {
    throw DataError("'" + m_path + "': attribute '" + where + "' has type " +
                    class_name(H5Tget_class(type.get())) + ", expected one float");
  }
  double value = 0.0;
  check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value), "attribute read", m_path, where);
  return value;
}

namespace {
void write_attribute_raw(hid_t file, const std::string& path, const std::string& object,
                         const std::string& name, hid_t type, const void* data) {
  if (H5Aexists_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT) > 0) {
    check(H5Adelete_by_name(file, object.c_str(), name.c_str(), H5P_DEFAULT), "attribute delete",
          path, name);
  }
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id attr(checked(H5Acreate_by_name(file, object.c_str(), name.c_str(), type, space.get(),
                                    H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                  "attribute creation", path, name),
          H5Aclose);
  check(H5Awrite(attr.get(), type, data), "attribute write", path, name);
}
} // namespace

void File::write_attribute(const std::string& object, const std::string& name,
                           const std::string& value) const {
  Id type = string_type(H5T_VARIABLE);
  const char* data = value.c_str();
  write_attribute_raw(id(), m_path, object, name, type.get(), &data);
}

void File::write_attribute(const std::string& object, const std::string& name,
                           std::int64_t value) const {
  write_attribute_raw(id(), m_path, object, name, H5T_NATIVE_INT64, &value);
}

void File::write_attribute(const std::string& object, const std::string& name, double value) const {
  write_attribute_raw(id(), m_path, object, name, H5T_NATIVE_DOUBLE, &value);
}

File::Info File::info(const std::string& name) const {
  if (!exists(name)) {
    throw DataError("'" + m_path + "': missing dataset '" + name + "'");
  }
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dset.valid()) {
    throw DataError("'" + m_path + "': '" + name + "' is not a dataset");
  }
  Id type(H5Dget_type(dset.get()), H5Tclose);
  Id space(H5Dget_space(dset.get()), H5Sclose);
  Info out;
  out.type_class = H5Tget_class(type.get());
  out.type_size = H5Tget_size(type.get());
  const int rank = H5Sget_simple_extent_ndims(space.get());
  check(rank, "dataspace query", m_path, name);
  out.dims.resize(rank);
  if (rank > 0) {
    H5Sget_simple_extent_dims(space.get(), out.dims.data(), nullptr);
  }
  return out;
}

namespace {
/// Elements of a dataset about to be read whole; refuses sizes this machine cannot hold (a
/// small corrupt file may declare 2^40 elements) and element types that are not numbers.
/// DataError unless the dataset holds numbers (integers or floats).
void require_numeric(const std::string& path, const std::string& name, H5T_class_t type_class) {
  if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) {
    throw DataError("'" + path + "': dataset '" + name + "' holds " + class_name(type_class) +
                    " values, expected numbers");
  }
}

hsize_t checked_elements(const std::string& path, const std::string& name, const File::Info& i,
                         std::size_t element_bytes) {
  require_numeric(path, name, i.type_class);
  const double memory = core::physical_memory_bytes();
  hsize_t n = 1;
  auto bytes = static_cast<double>(element_bytes);
  for (auto d : i.dims) {
    n *= d;
    bytes *= static_cast<double>(d);
  }
  if (bytes > memory) {
    throw DataError("'" + path + "': dataset '" + name + "' declares " +
                    format_double(bytes / static_cast<double>(1ULL << 30)) +
                    " GiB of values, more than this machine's memory (corrupt file?)");
  }
  return n;
}
} // namespace

std::vector<std::int64_t> File::read_int64(const std::string& name) const {
  const Info i = info(name);
  const hsize_t n = checked_elements(m_path, name, i, sizeof(std::int64_t));
  std::vector<std::int64_t> out(n);
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (n > 0) {
    check(H5Dread(dset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "read",
          m_path, name);
  }
  return out;
}

std::vector<double> File::read_double(const std::string& name) const {
  const Info i = info(name);
  const hsize_t n = checked_elements(m_path, name, i, sizeof(double));
  std::vector<double> out(n);
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (n > 0) {
    check(H5Dread(dset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "read",
          m_path, name);
  }
  return out;
}

std::vector<std::string> File::read_strings(const std::string& name) const {
  const Info i = info(name);
  if (i.type_class != H5T_STRING || i.dims.size() != 1) {
    throw DataError("'" + m_path + "': dataset '" + name +
                    "' must be a 1-D array of strings, got " + std::to_string(i.dims.size()) +
                    "-D " + class_name(i.type_class));
  }
  const std::size_t n = i.dims[0];
  if (n > (1ULL << 24)) {
    throw DataError("'" + m_path + "': dataset '" + name + "' declares " + std::to_string(n) +
                    " strings (at most 16777216; corrupt file?)");
  }
  std::vector<std::string> out;
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  Id type(H5Dget_type(dset.get()), H5Tclose);
  if (n == 0) {
    return out;
  }
  if (H5Tis_variable_str(type.get()) > 0) {
    Id mem = string_type(H5T_VARIABLE, cset_of(type.get()));
    std::vector<char*> values(n, nullptr);
    check(H5Dread(dset.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "read",
          m_path, name);
    for (char* v : values) {
      out.emplace_back(v != nullptr ? v : "");
    }
    Id space(H5Dget_space(dset.get()), H5Sclose);
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, values.data());
  } else {
    const std::size_t size = i.type_size;
    Id mem = string_type(size + 1, cset_of(type.get()));
    std::vector<char> buffer(n * (size + 1), '\0');
    check(H5Dread(dset.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()), "read",
          m_path, name);
    for (std::size_t k = 0; k < n; ++k) {
      out.emplace_back(buffer.data() + k * (size + 1));
    }
  }
  return out;
}

Id File::transfer_list() const {
  Id dxpl(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
#if GRPO_ENABLE_MPI && defined(H5_HAVE_PARALLEL)
  if (m_parallel) {
    H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);
  }
#endif
  return dxpl;
}

namespace {
/// File and memory dataspaces selecting rows [begin, end) of a [N, ...] dataset.
std::pair<Id, Id> row_selection(hid_t dset, index_t begin, index_t end, const std::string& path,
                                const std::string& name) {
  Id file_space(H5Dget_space(dset), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(file_space.get());
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(file_space.get(), dims.data(), nullptr);
  if (rank < 1 || end > static_cast<index_t>(dims[0]) || begin > end || begin < 0) {
    throw InternalError("row selection [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") outside '" + name + "' in '" + path + "'");
  }
  std::vector<hsize_t> start(rank, 0);
  std::vector<hsize_t> count = dims;
  start[0] = static_cast<hsize_t>(begin);
  count[0] = static_cast<hsize_t>(end - begin);
  if (count[0] == 0) {
    H5Sselect_none(file_space.get());
    std::vector<hsize_t> one(rank, 1);
    Id mem(H5Screate_simple(rank, one.data(), nullptr), H5Sclose);
    H5Sselect_none(mem.get());
    return {std::move(file_space), std::move(mem)};
  }
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                            nullptr),
        "hyperslab selection", path, name);
  Id mem(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
  return {std::move(file_space), std::move(mem)};
}
} // namespace

void File::read_rows_typed(const std::string& name, hid_t mem_type, index_t row_begin,
                           index_t row_end, void* out) const {
  Id dset(checked(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), "dataset open", m_path, name),
          H5Dclose);
  const Id type(checked(H5Dget_type(dset.get()), "dataset type", m_path, name), H5Tclose);
  require_numeric(m_path, name, H5Tget_class(type.get()));
  auto [file_space, mem_space] = row_selection(dset.get(), row_begin, row_end, m_path, name);
  const Id dxpl = transfer_list();
  check(H5Dread(dset.get(), mem_type, mem_space.get(), file_space.get(), dxpl.get(), out), "read",
        m_path, name);
}

void File::read_rows(const std::string& name, index_t row_begin, index_t row_end,
                     float* out) const {
  read_rows_typed(name, H5T_NATIVE_FLOAT, row_begin, row_end, out);
}

void File::read_rows(const std::string& name, index_t row_begin, index_t row_end,
                     double* out) const {
  read_rows_typed(name, H5T_NATIVE_DOUBLE, row_begin, row_end, out);
}

void File::read_rows(const std::string& name, index_t row_begin, index_t row_end,
                     std::int64_t* out) const {
  read_rows_typed(name, H5T_NATIVE_INT64, row_begin, row_end, out);
}

void File::read_rows(const std::string& name, index_t row_begin, index_t row_end,
                     std::int32_t* out) const {
  read_rows_typed(name, H5T_NATIVE_INT32, row_begin, row_end, out);
}

void File::create_dataset(const std::string& name, hid_t type,
                          const std::vector<hsize_t>& dims) const {
  Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
  Id dset(checked(H5Dcreate2(id(), name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(),
                             H5P_DEFAULT),
                  "dataset creation", m_path, name),
          H5Dclose);
}

void File::write_rows(const std::string& name, hid_t mem_type, index_t row_begin, index_t row_end,
                      const void* data) const {
  Id dset(checked(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), "dataset open", m_path, name),
          H5Dclose);
  auto [file_space, mem_space] = row_selection(dset.get(), row_begin, row_end, m_path, name);
  const Id dxpl = transfer_list();
  check(H5Dwrite(dset.get(), mem_type, mem_space.get(), file_space.get(), dxpl.get(), data),
        "write", m_path, name);
}

void File::create_extensible(const std::string& name, hid_t type, hsize_t width,
                             hsize_t chunk_rows) const {
  const int rank = width == 0 ? 1 : 2;
  const hsize_t dims[2] = {0, width};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, width};
  const hsize_t chunk[2] = {chunk_rows, width};
  Id space(H5Screate_simple(rank, dims, max_dims), H5Sclose);
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  check(H5Pset_chunk(dcpl.get(), rank, chunk), "chunk layout", m_path, name);
  Id dset(checked(H5Dcreate2(id(), name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(),
                             H5P_DEFAULT),
                  "dataset creation", m_path, name),
          H5Dclose);
}

void File::append_row(const std::string& name, hid_t mem_type, hsize_t row,
                      const void* data) const {
  Id dset(checked(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), "dataset open", m_path, name),
          H5Dclose);
  Id old_space(H5Dget_space(dset.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(old_space.get());
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(old_space.get(), dims, nullptr);
  dims[0] = row + 1;
  check(H5Dset_extent(dset.get(), dims), "extend", m_path, name);
  Id space(H5Dget_space(dset.get()), H5Sclose);
  const hsize_t start[2] = {row, 0};
  const hsize_t count[2] = {1, dims[1]};
  check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
        "hyperslab selection", m_path, name);
  Id mem(H5Screate_simple(rank, count, nullptr), H5Sclose);
  check(H5Dwrite(dset.get(), mem_type, mem.get(), space.get(), H5P_DEFAULT, data), "write", m_path,
        name);
}

void File::set_rows(const std::string& name, hsize_t rows) const {
  Id dset(checked(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), "dataset open", m_path, name),
          H5Dclose);
  Id space(H5Dget_space(dset.get()), H5Sclose);
  hsize_t dims[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(space.get()) > 2) {
    throw DataError("'" + m_path + "': dataset '" + name + "' has more than 2 dimensions");
  }
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  dims[0] = rows;
  check(H5Dset_extent(dset.get(), dims), "resize", m_path, name);
}

std::vector<std::string> File::list(const std::string& group) const {
  std::vector<std::string> names;
  const auto visit = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  check(H5Literate_by_name(id(), group.c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr, visit, &names,
                           H5P_DEFAULT),
        "listing", m_path, group);
  return names;
}

void File::remove(const std::string& name) const {
  check(H5Ldelete(id(), name.c_str(), H5P_DEFAULT), "delete", m_path, name);
}

void File::write_vector(const std::string& name, const std::vector<double>& values) const {
  create_dataset(name, H5T_IEEE_F64LE, {static_cast<hsize_t>(values.size())});
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!values.empty()) {
    check(H5Dwrite(dset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
          "write", m_path, name);
  }
}

void File::write_strings(const std::string& name, const std::vector<std::string>& values) const {
  // Fixed-length UTF-8 strings: parallel HDF5 cannot write variable-length data collectively.
  std::size_t width = 1;
  for (const auto& v : values) {
    width = std::max(width, v.size() + 1);
  }
  std::vector<char> buffer(values.size() * width, '\0');
  for (std::size_t k = 0; k < values.size(); ++k) {
    std::copy(values[k].begin(), values[k].end(), buffer.begin() + static_cast<long>(k * width));
  }
  Id type = string_type(width);
  create_dataset(name, type.get(), {static_cast<hsize_t>(values.size())});
  Id dset(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  const Id dxpl = transfer_list();
  if (!values.empty()) {
    check(H5Dwrite(dset.get(), type.get(), H5S_ALL, H5S_ALL, dxpl.get(), buffer.data()), "write",
          m_path, name);
  }
}

} // namespace grpo::io::h5
