// The versioned HDF5 preference-dataset schema (docs/formats.md), its parallel writer and its
// collective reader. Samples are sorted by group within each split; each rank reads only the
// hyperslabs of the rows its GroupPartition assigns to it, straight into device Views. Schema 1.1
// adds optional per-split option datasets (every option of each pair's prompt), loaded only on
// request (LoadOptions).
#pragma once

#include "core/communicator.hpp"
#include "io/hdf5.hpp"
#include "policies/preference_batch.hpp"
#include "solver/metrics.hpp"

#include <map>
#include <string>
#include <vector>

namespace grpo::io {

/// Schema of dataset files: readers accept any 1.x, reject other majors. 1.1 added the optional
/// option datasets (`<split>/option_offsets`, `options`, `chosen_option`, `rejected_option`).
inline constexpr const char* kDatasetSchemaVersion = "1.1";
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
  DatasetWriter(std::string path, Communicator comm, const DatasetHeader& header);
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
  /// Schema 1.1: creates `<split>/option_offsets` int64 [N+1], `<split>/options` float32
  /// [option_rows, d] and `<split>/chosen_option`, `<split>/rejected_option` int32 [N] for a split
  /// begun above (collective).
  void begin_split_options(const std::string& split, index_t option_rows);
  /// Writes the options of pairs [row_begin, row_end) (collective; ranges may be empty):
  /// `option_offsets` holds the row_end - row_begin + 1 global offsets option_offsets[row_begin]
  /// .. option_offsets[row_end], `options` the option rows option_offsets[row_begin] ..
  /// option_offsets[row_end] - 1, `chosen_option` and `rejected_option` one position per pair.
  void write_split_options(const std::string& split, index_t row_begin, index_t row_end,
                           const std::int64_t* option_offsets, const float* options,
                           const std::int32_t* chosen_option, const std::int32_t* rejected_option);
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
  Communicator m_comm;
  h5::File m_file;
  int m_feature_dim = 0;
  bool m_committed = false;
  std::map<std::string, index_t> m_split_rows; ///< N of each split begun
};

/// One split's metadata as stored (no rows).
struct SplitInfo {
  std::string name;
  std::vector<index_t> offsets;
  bool has_ref = false;
  bool has_options = false; ///< schema 1.1 option datasets present (and validated)
  index_t option_rows = 0;  ///< M = option_offsets[N] when has_options
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
DatasetSummary inspect_dataset(const std::string& path, const Communicator* comm = nullptr);

/// What load_dataset reads besides z = chosen - rejected and ref_logratio (the default reads
/// nothing more).
struct LoadOptions {
  /// Also keep phi(x, y_w) and phi(x, y_l): PreferenceSplit::chosen and ::rejected.
  bool pair_features = false;
  /// Also read the schema 1.1 option datasets (DataError naming the file and the split when a
  /// loaded split has none): PreferenceSplit::option_offsets, options, chosen_option,
  /// rejected_option.
  bool options = false;
  /// Also load the test split (LoadedDataset::test) when the file has one.
  bool test = false;
};

/// One rank's share of a dataset, on the device.
struct LoadedDataset {
  DatasetSummary summary;
  policies::PreferenceSplit train;
  policies::PreferenceSplit val;  ///< empty() when the file has no val/ split
  policies::PreferenceSplit test; ///< empty() unless LoadOptions::test and the file has test/
  solver::RewardEnvironment env;  ///< empty() when the file has no env/ group
};

/// Collective: validates the file, partitions train and val (and test) by sample count, reads
/// this rank's rows (and its share of the evaluation states) and checks every value is finite.
LoadedDataset load_dataset(const std::string& path, const Communicator& comm);
LoadedDataset load_dataset(const std::string& path, const Communicator& comm,
                           const LoadOptions& options);
/// The same, for a file already inspected (collectively) with inspect_dataset.
LoadedDataset load_dataset(const DatasetSummary& summary, const Communicator& comm);
LoadedDataset load_dataset(const DatasetSummary& summary, const Communicator& comm,
                           const LoadOptions& options);

/// CRC-32 (zlib) of the file's bytes, as "crc32:xxxxxxxx" (verifiable with Python's zlib.crc32).
std::string file_checksum(const std::string& path);

} // namespace grpo::io
