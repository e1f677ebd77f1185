#include "io/run_header.hpp"

#include "core/git_revision.hpp"
#include "core/kokkos_compat.hpp"

namespace grpo::io {

TraceHeader trace_header(const RunHeader& run, const DatasetSummary& dataset) {
  TraceHeader header;
  header.group_names = dataset.group_names;
  header.text_attributes = {
      {"config", run.config},
      {"method", run.method},
      {"git_revision", GRPO_GIT_REVISION},
      {"grpo_version", GRPO_VERSION},
      {"kokkos_backend", core::kokkos_backend_name()},
      {"kokkos_version", core::kokkos_version_string()},
      {"dataset_path", dataset.path},
      {"dataset_checksum", run.dataset_checksum},
      {"dataset_source", dataset.source},
  };
  for (const auto& key : run.dataset_attributes) {
    if (const auto it = dataset.attributes.find(key); it != dataset.attributes.end()) {
      header.text_attributes["dataset_" + key] = it->second;
    }
  }
  header.int_attributes = {{"num_ranks", run.num_ranks},
                           {"iterations", run.iterations},
                           {"trace_every", run.trace_every},
                           {"feature_dim", dataset.feature_dim},
                           {"seed", static_cast<std::int64_t>(run.seed)}};
  for (const auto& [key, value] : run.policy_text) {
    header.text_attributes[key] = value;
  }
  for (const auto& [key, value] : run.policy_int) {
    header.int_attributes[key] = value;
  }
  return header;
}

std::string dataset_checksum(const std::string& path, const Communicator& comm) {
  std::string checksum = comm.is_root() ? file_checksum(path) : "";
  comm.broadcast(checksum);
  return checksum;
}

} // namespace grpo::io
