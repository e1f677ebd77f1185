#include "io/run_checkpoint.hpp"

#include <cstdio>

namespace grpo::io {

std::optional<Checkpoint> resume_run(const CheckpointSettings& settings, const std::string& dataset,
                                     const std::string& config_text, const std::string& checksum,
                                     const Communicator& comm) {
  if (!settings.resume) {
    return std::nullopt;
  }
  return resume_checkpoint(settings.path, dataset, config_text, checksum, comm);
}

void remove_checkpoint(const CheckpointSettings& settings, bool resumed, const Communicator& comm) {
  if (comm.is_root() && (settings.every > 0 || resumed)) {
    std::remove(settings.path.c_str());
  }
}

} // namespace grpo::io
