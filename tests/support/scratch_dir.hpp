// A scratch directory for tests, shared by all ranks of a communicator and removed (by rank 0)
// when the test ends.
#pragma once

#include "core/communicator.hpp"

#include <filesystem>
#include <string>
#include <system_error>
#include <unistd.h>

namespace grpo::test {

class ScratchDir {
public:
  ScratchDir(const Communicator& comm, const std::string& name)
      : m_comm(comm) {
    if (comm.is_root()) {
      m_dir = std::filesystem::temp_directory_path() /
              ("grpo_test_" + std::to_string(::getpid()) + "_" + name);
      std::filesystem::create_directories(m_dir);
    }
    comm.broadcast(m_dir);
  }
  ~ScratchDir() {
    m_comm.barrier();
    if (m_comm.is_root()) {
      std::error_code ec;
      std::filesystem::remove_all(m_dir, ec);
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  /// `<dir>/<name>.h5`
  std::string file(const std::string& name) const { return m_dir + "/" + name + ".h5"; }
  /// `<dir>/<name>` (any extension)
  std::string path(const std::string& name) const { return m_dir + "/" + name; }

private:
  const Communicator& m_comm;
  std::string m_dir;
};

} // namespace grpo::test
