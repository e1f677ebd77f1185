// A thin, checked layer over the HDF5 C API: one move-only RAII handle, a check() that turns a
// negative return into grpo::IoError naming the file and object, and the few typed reads and
// writes grpo needs (attributes, whole small datasets, row blocks of [N, ...] datasets read and
// written collectively under MPI-IO). HDF5's automatic error-stack printing is switched off.
#pragma once

#include "core/communicator.hpp"
#include "core/views.hpp"

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::io::h5 {

/// Owns one hid_t and closes it with the matching H5*close in the destructor.
class Id {
public:
  using Closer = herr_t (*)(hid_t);
  Id() = default;
  Id(hid_t id, Closer closer)
      : m_id(id)
      , m_closer(closer) {}
  ~Id() { reset(); }
  Id(Id&& other) noexcept
      : m_id(other.m_id)
      , m_closer(other.m_closer) {
    other.m_id = -1;
  }
  Id& operator=(Id&& other) noexcept;
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return m_id; }
  bool valid() const { return m_id >= 0; }
  void reset();

private:
  hid_t m_id = -1;
  Closer m_closer = nullptr;
};

/// Switches off HDF5's automatic error printing (errors become exceptions instead).
void silence_errors();

/// Throws IoError("<what> failed for <object> in <path>") when status < 0.
void check(herr_t status, const std::string& what, const std::string& path,
           const std::string& object = "");

/// An open HDF5 file. With `comm` (and more than one rank) it uses the MPI-IO driver and every
/// call on it is collective; without, it is an ordinary serial file of this process.
class File {
public:
  /// Opens an existing file. IoError if it does not exist or cannot be read, DataError if it
  /// exists but is not an HDF5 file.
  static File open(const std::string& path, bool writable, const Communicator* comm);
  /// Creates (truncates) a file.
  static File create(const std::string& path, const Communicator* comm);

  const std::string& path() const { return m_path; }
  hid_t id() const { return m_file.get(); }
  bool parallel() const { return m_parallel; }
  void flush() const;
  void close() { m_file.reset(); }

  bool exists(const std::string& name) const;
  void create_group(const std::string& name) const;

  // Attributes on the object `object` ("/" for the root).
  bool has_attribute(const std::string& object, const std::string& name) const;
  std::vector<std::string> attribute_names(const std::string& object) const;
  std::string read_string_attribute(const std::string& object, const std::string& name) const;
  std::int64_t read_int_attribute(const std::string& object, const std::string& name) const;
  double read_double_attribute(const std::string& object, const std::string& name) const;
  H5T_class_t attribute_type_class(const std::string& object, const std::string& name) const;
  void write_attribute(const std::string& object, const std::string& name,
                       const std::string& value) const;
  void write_attribute(const std::string& object, const std::string& name,
                       std::int64_t value) const;
  void write_attribute(const std::string& object, const std::string& name, double value) const;

  /// Shape and element class of a dataset (DataError naming it if absent).
  struct Info {
    H5T_class_t type_class = H5T_NO_CLASS;
    std::size_t type_size = 0;
    std::vector<hsize_t> dims;
  };
  Info info(const std::string& name) const;

  /// Whole small datasets, converted to the requested type.
  std::vector<std::int64_t> read_int64(const std::string& name) const;
  std::vector<double> read_double(const std::string& name) const;
  std::vector<std::string> read_strings(const std::string& name) const;

  /// Rows [row_begin, row_end) of a dataset whose first dimension is N, as a contiguous
  /// row-major buffer of the remaining dimensions (collective in a parallel file: every rank
  /// calls, possibly with an empty range).
  void read_rows(const std::string& name, index_t row_begin, index_t row_end, float* out) const;
  void read_rows(const std::string& name, index_t row_begin, index_t row_end, double* out) const;
  void read_rows(const std::string& name, index_t row_begin, index_t row_end,
                 std::int64_t* out) const;
  void read_rows(const std::string& name, index_t row_begin, index_t row_end,
                 std::int32_t* out) const;

  /// Creates a dataset of shape dims (collective) with the given memory/file type.
  void create_dataset(const std::string& name, hid_t type, const std::vector<hsize_t>& dims) const;
  /// Writes rows [row_begin, row_end) (collective in a parallel file).
  void write_rows(const std::string& name, hid_t mem_type, index_t row_begin, index_t row_end,
                  const void* data) const;
  /// Extensible record datasets (traces): shape [0] (width 0) or [0, width], unlimited along
  /// the first dimension, chunked by `chunk_rows` records.
  void create_extensible(const std::string& name, hid_t type, hsize_t width,
                         hsize_t chunk_rows) const;
  /// Grows an extensible dataset to row + 1 records and writes record `row`.
  void append_row(const std::string& name, hid_t mem_type, hsize_t row, const void* data) const;
  /// Shrinks (or grows) an extensible dataset to `rows` rows.
  void set_rows(const std::string& name, hsize_t rows) const;
  /// Names of the objects directly under `group`.
  std::vector<std::string> list(const std::string& group) const;
  void remove(const std::string& name) const;
  /// A whole 1-D float64 dataset.
  void write_vector(const std::string& name, const std::vector<double>& values) const;
  /// Creates and writes a whole dataset from this rank (serial files, or identical data).
  void write_strings(const std::string& name, const std::vector<std::string>& values) const;

private:
  File(std::string path, Id file, bool parallel)
      : m_path(std::move(path))
      , m_file(std::move(file))
      , m_parallel(parallel) {}
  /// Opens attribute `name` of `object` (DataError if absent); `where` names it in messages.
  Id open_attribute(const std::string& object, const std::string& name, std::string& where) const;
  void read_rows_typed(const std::string& name, hid_t mem_type, index_t row_begin, index_t row_end,
                       void* out) const;
  Id transfer_list() const;

  std::string m_path;
  Id m_file;
  bool m_parallel = false;
};

} // namespace grpo::io::h5
