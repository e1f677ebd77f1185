// Child processes without a shell: argv vectors go to execvp as they are, so no user-supplied
// string is ever interpreted by a shell. Children get their own process group (a signal reaches
// mpirun and its ranks together) and write to a log file.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace grpo::jobs {

struct ExitStatus {
  int code = 0;   ///< exit code (when signal == 0)
  int signal = 0; ///< the signal that killed it, or 0
  bool ok() const { return code == 0 && signal == 0; }
  /// "exit code 3", "killed by signal 9 (Killed)".
  std::string describe() const;
};

/// Starts argv[0] (PATH lookup) with stdin from /dev/null and stdout and stderr appended to
/// `log` (inherited when empty), in `cwd` when given. With `die_with_parent`, the child is
/// killed (SIGKILL) when this process dies, so that no orphan keeps writing a task's output.
/// Throws IoError when fork fails; a program that cannot be executed exits with 127 after
/// writing why to the log.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log,
            const std::string& cwd = "", bool die_with_parent = false);

/// Waits for one child.
ExitStatus wait_for(pid_t pid);

/// Runs argv to completion and captures its stdout (stderr goes to `err`).
ExitStatus run_capture(const std::vector<std::string>& argv, std::string& out, std::string& err,
                       const std::string& cwd = "");

/// True when argv[0]-style `program` is found on PATH (or is an executable path).
bool on_path(const std::string& program);

/// The absolute path of the running executable.
std::string self_executable();

/// POSIX shell single-quoting: the result is one literal word for sh/bash whatever `s` holds.
std::string shell_quote(const std::string& s);
/// argv as a copy-pasteable command line (each word quoted when needed).
std::string shell_command(const std::vector<std::string>& argv);

} // namespace grpo::jobs
