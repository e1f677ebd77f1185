// The versioned HDF5 preference-dataset schema (docs/formats.md), its parallel writer and its
// collective reader. Samples are sorted by group within each split; each rank reads only the
// hyperslabs of the rows its GroupPartition assigns to it, straight into device Views.
#pragma once

#include "io/hdf5.hpp"
#include "policies/preference_batch.hpp"
#include "solver/communicator.hpp"
#include "solver/metrics.hpp"

#include <map>
#include <string>
#include <vector>

namespace grpo::io {

/// Schema of dataset files: readers accept any 1.x, reject other majors.
inline constexpr const char* kDatasetSchemaVersion = "1.0";
inline constexpr int kDatasetSchemaMajor = 1;

struct DatasetHeader {
  int feature_dim = 0;
  std::vector<std::string> group_names;
  std::string source;                                 ///< "synthetic", "globalopinionqa", ...
  std::map<std::string, std::string> text_attributes; ///< extra root attributes
  std::map<std::string, std::int64_t> int_attributes; ///< extra root attributes
  std::map<std::string, double> double_attributes;    ///< extra root attributes
};

/// Writes a dataset collectively: every rank supplies its own block of rows. The file is built
/// under `<path>.tmp` and renamed by commit(); a writer destroyed before commit() removes it,
/// so a failed run never leaves a half-written dataset.
class DatasetWriter {
public:
  DatasetWriter(std::string path, const solver::Communicator& comm, const DatasetHeader& header);
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  /// Creates `<split>/offsets` (K+1), `<split>/chosen`, `<split>/rejected` [N, d] float32 and
  /// `<split>/ref_logratio` [N] float32 (collective).
  void begin_split(const std::string& split, const std::vector<index_t>& offsets);
  /// Writes rows [row_begin, row_end) of a split begun above (collective; ranges may be empty).
  /// `ref` may be null (zeros).
  void write_split_rows(const std::string& split, index_t row_begin, index_t row_end,
                        const float* chosen, const float* rejected, const float* ref);
  /// Any other [N, ...] dataset (e.g. env/ or per-row metadata): create, then write row blocks.
  void create_rows_dataset(const std::string& name, hid_t type, const std::vector<hsize_t>& dims);
  void write_rows(const std::string& name, hid_t mem_type, index_t row_begin, index_t row_end,
                  const void* data);
  void create_group(const std::string& name);
  void write_attribute(const std::string& object, const std::string& name,
                       const std::string& value);
  /// Closes the file and renames it into place (collective).
  void commit();

private:
  std::string m_path;
  std::string m_tmp;
  solver::Communicator m_comm;
  h5::File m_file;
  int m_feature_dim = 0;
  bool m_committed = false;
};

/// One split's metadata as stored (no rows).
struct SplitInfo {
  std::string name;
  std::vector<index_t> offsets;
  bool has_ref = false;
};

/// Everything about a dataset file except its rows: cheap, used by `grpo info` and loaders.
struct DatasetSummary {
  std::string path;
  std::string schema_version;
  std::string source;
  int feature_dim = 0;
  std::vector<std::string> group_names;
  std::vector<SplitInfo> splits; ///< train first, then val and test when present
  bool has_env = false;
  index_t env_states = 0;
  int env_actions = 0;
  std::map<std::string, std::string> attributes; ///< all root string attributes
  const SplitInfo* split(const std::string& name) const;
  int num_groups() const { return static_cast<int>(group_names.size()); }
};

/// Reads and validates the metadata (DataError naming the file, object and value on any
/// violation of the schema). Collective on a parallel file when `comm` is given.
DatasetSummary inspect_dataset(const std::string& path, const solver::Communicator* comm = nullptr);

/// One rank's share of a dataset, on the device.
struct LoadedDataset {
  DatasetSummary summary;
  policies::PreferenceSplit train;
  policies::PreferenceSplit val; ///< empty() when the file has no val/ split
  solver::RewardEnvironment env; ///< empty() when the file has no env/ group
};

/// Collective: validates the file, partitions train and val by sample count, reads this rank's
/// rows (and its share of the evaluation states) and checks every value is finite.
LoadedDataset load_dataset(const std::string& path, const solver::Communicator& comm);
/// The same, for a file already inspected (collectively) with inspect_dataset.
LoadedDataset load_dataset(const DatasetSummary& summary, const solver::Communicator& comm);

/// CRC-32 (zlib) of the file's bytes, as "crc32:xxxxxxxx" (verifiable with Python's zlib.crc32).
std::string file_checksum(const std::string& path);

} // namespace grpo::io
