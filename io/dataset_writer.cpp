// DatasetWriter (io/dataset.hpp): writes a dataset to '<path>.tmp' (collectively under MPI) and
// renames it on commit, so a reader never sees a half-written file; and the file checksum that
// traces record. Checking datasets is io/dataset.cpp, reading their rows io/dataset_load.cpp.
#include "core/error.hpp"
#include "io/dataset.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>
#include <zlib.h>

namespace grpo::io {

DatasetWriter::DatasetWriter(std::string path, Communicator comm, const DatasetHeader& header)
    : m_path(std::move(path))
    , m_tmp(m_path + ".tmp")
    , m_comm(std::move(comm))
    , m_file(h5::File::create(m_tmp, &m_comm))
    , m_feature_dim(header.feature_dim) {
  m_file.write_attribute("/", "schema_version", std::string(kDatasetSchemaVersion));
  m_file.write_attribute("/", "kind", std::string("dataset"));
  m_file.write_attribute("/", "feature_dim", static_cast<std::int64_t>(header.feature_dim));
  m_file.write_attribute("/", "num_groups", static_cast<std::int64_t>(header.group_names.size()));
  m_file.write_attribute("/", "source", header.source);
  for (const auto& [k, v] : header.text_attributes) {
    m_file.write_attribute("/", k, v);
  }
  for (const auto& [k, v] : header.int_attributes) {
    m_file.write_attribute("/", k, v);
  }
  for (const auto& [k, v] : header.double_attributes) {
    m_file.write_attribute("/", k, v);
  }
  m_file.create_group("groups");
  m_file.write_strings("groups/names", header.group_names);
}

DatasetWriter::~DatasetWriter() {
  if (!m_committed) {
    m_file.close();
    if (m_comm.is_root()) {
      std::error_code ec;
      std::filesystem::remove(m_tmp, ec);
    }
  }
}

void DatasetWriter::begin_split(const std::string& split, const std::vector<index_t>& offsets) {
  const auto k1 = static_cast<hsize_t>(offsets.size());
  const auto n = static_cast<hsize_t>(offsets.back());
  m_file.create_group(split);
  m_file.create_dataset(split + "/offsets", H5T_STD_I64LE, {k1});
  // Identical on every rank: the root writes it, the others join with an empty selection.
  std::vector<std::int64_t> values(offsets.begin(), offsets.end());
  m_file.write_rows(split + "/offsets", H5T_NATIVE_INT64, 0,
                    m_comm.is_root() ? static_cast<index_t>(k1) : 0, values.data());
  const auto dim = static_cast<hsize_t>(m_feature_dim);
  m_file.create_dataset(split + "/chosen", H5T_IEEE_F32LE, {n, dim});
  m_file.create_dataset(split + "/rejected", H5T_IEEE_F32LE, {n, dim});
  m_file.create_dataset(split + "/ref_logratio", H5T_IEEE_F32LE, {n});
  m_split_rows[split] = offsets.back();
}

void DatasetWriter::begin_split_options(const std::string& split, index_t option_rows) {
  const auto it = m_split_rows.find(split);
  if (it == m_split_rows.end()) {
    throw InternalError("DatasetWriter: begin_split_options('" + split + "') before begin_split");
  }
  const auto n = static_cast<hsize_t>(it->second);
  m_file.create_dataset(split + "/option_offsets", H5T_STD_I64LE, {n + 1});
  m_file.create_dataset(split + "/options", H5T_IEEE_F32LE,
                        {static_cast<hsize_t>(option_rows), static_cast<hsize_t>(m_feature_dim)});
  m_file.create_dataset(split + "/chosen_option", H5T_STD_I32LE, {n});
  m_file.create_dataset(split + "/rejected_option", H5T_STD_I32LE, {n});
}

void DatasetWriter::write_split_options(const std::string& split, index_t row_begin,
                                        index_t row_end, const std::int64_t* option_offsets,
                                        const float* options, const std::int32_t* chosen_option,
                                        const std::int32_t* rejected_option) {
  const auto it = m_split_rows.find(split);
  if (it == m_split_rows.end()) {
    throw InternalError("DatasetWriter: write_split_options('" + split + "') before begin_split");
  }
  const index_t n = it->second;
  // Entry N of option_offsets belongs to the rank whose non-empty range ends there (the root
  // when the split is empty); every other entry i to the rank holding pair i.
  const bool last = row_end == n && (row_begin < row_end || (n == 0 && m_comm.is_root()));
  const std::int64_t zero = 0;
  const std::int64_t* offsets = option_offsets != nullptr ? option_offsets : &zero;
  m_file.write_rows(split + "/option_offsets", H5T_NATIVE_INT64, row_begin,
                    row_end + (last ? 1 : 0), offsets);
  const index_t first = row_begin < row_end ? offsets[0] : 0;
  const index_t stop = row_begin < row_end ? offsets[row_end - row_begin] : 0;
  m_file.write_rows(split + "/options", H5T_NATIVE_FLOAT, first, stop, options);
  m_file.write_rows(split + "/chosen_option", H5T_NATIVE_INT32, row_begin, row_end, chosen_option);
  m_file.write_rows(split + "/rejected_option", H5T_NATIVE_INT32, row_begin, row_end,
                    rejected_option);
}

void DatasetWriter::write_split_rows(const std::string& split, index_t row_begin, index_t row_end,
                                     const float* chosen, const float* rejected, const float* ref) {
  m_file.write_rows(split + "/chosen", H5T_NATIVE_FLOAT, row_begin, row_end, chosen);
  m_file.write_rows(split + "/rejected", H5T_NATIVE_FLOAT, row_begin, row_end, rejected);
  std::vector<float> zeros;
  if (ref == nullptr) {
    zeros.assign(static_cast<std::size_t>(row_end - row_begin), 0.0F);
    ref = zeros.data();
  }
  m_file.write_rows(split + "/ref_logratio", H5T_NATIVE_FLOAT, row_begin, row_end, ref);
}

void DatasetWriter::create_rows_dataset(const std::string& name, hid_t type,
                                        const std::vector<hsize_t>& dims) {
  m_file.create_dataset(name, type, dims);
}

void DatasetWriter::write_rows(const std::string& name, hid_t mem_type, index_t row_begin,
                               index_t row_end, const void* data) {
  m_file.write_rows(name, mem_type, row_begin, row_end, data);
}

void DatasetWriter::create_group(const std::string& name) { m_file.create_group(name); }

void DatasetWriter::write_attribute(const std::string& object, const std::string& name,
                                    const std::string& value) {
  m_file.write_attribute(object, name, value);
}

void DatasetWriter::commit() {
  m_file.close();
  m_comm.barrier();
  std::int64_t status = 0;
  if (m_comm.is_root()) {
    std::error_code ec;
    std::filesystem::rename(m_tmp, m_path, ec);
    status = ec ? 1 : 0;
  }
  m_comm.broadcast(status);
  if (status != 0) {
    throw IoError("cannot rename '" + m_tmp + "' to '" + m_path + "'");
  }
  m_committed = true;
}

std::string file_checksum(const std::string& path) {
  // A bundle of runs asks for the same dataset's checksum run after run: the last few files'
  // checksums are kept, keyed by the file's device, inode, size and change times (ns).
  struct Known {
    std::string path;
    struct stat st {};
    std::string checksum;
  };
  const auto same = [](const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
           a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
  };
  thread_local std::vector<Known> known;
  struct stat st {};
  const bool cacheable = stat(path.c_str(), &st) == 0;
  if (cacheable) {
    for (const auto& k : known) {
      if (k.path == path && same(k.st, st)) {
        return k.checksum;
      }
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError("cannot read '" + path + "' for its checksum", true);
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  thread_local std::vector<char> buffer(std::size_t{1} << 20); // reused: no fresh pages a call
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = in.gcount();
    if (got > 0) {
      crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(got));
    }
  }
  char text[32];
  std::snprintf(text, sizeof(text), "crc32:%08lx", static_cast<unsigned long>(crc));
  if (cacheable) {
    if (known.size() >= 16) {
      known.erase(known.begin());
    }
    known.push_back({path, st, text});
  }
  return text;
}

} // namespace grpo::io
