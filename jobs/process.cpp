#include "jobs/process.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tuple>
#include <unistd.h>

namespace grpo::jobs {

std::string ExitStatus::describe() const {
  if (signal != 0) {
    return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  }
  return "exit code " + std::to_string(code);
}

namespace {

/// write(2) to stderr, async-signal-safe (between fork and exec); a failed write has nowhere to
/// be reported.
void write_stderr(const char* text, std::size_t length) {
  const ssize_t written = write(2, text, length);
  static_cast<void>(written);
}

/// In the child after fork: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(const std::vector<char*>& argv, int out_fd, int err_fd,
                             const char* cwd, pid_t parent = 0) {
  setpgid(0, 0);
  if (parent != 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) { // the parent died before prctl took effect
      _exit(137);
    }
  }
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) {
    dup2(null_fd, 0);
  }
  if (out_fd >= 0) {
    dup2(out_fd, 1);
  }
  if (err_fd >= 0) {
    dup2(err_fd, 2);
  }
  // Default signal dispositions for the new program.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  if (cwd != nullptr && chdir(cwd) != 0) {
    const char msg[] = "grpo: cannot change to the task's directory\n";
    write_stderr(msg, sizeof msg - 1);
    _exit(127);
  }
  execvp(argv[0], argv.data());
  const char msg[] = "grpo: cannot execute ";
  write_stderr(msg, sizeof msg - 1);
  write_stderr(argv[0], std::strlen(argv[0]));
  const char* why = strerror(errno);
  write_stderr(": ", 2);
  write_stderr(why, std::strlen(why));
  write_stderr("\n", 1);
  _exit(127);
}

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    out.push_back(const_cast<char*>(a.c_str()));
  }
  out.push_back(nullptr);
  return out;
}

} // namespace

pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const std::string& cwd,
            bool die_with_parent) {
  if (argv.empty()) {
    throw InternalError("spawn: empty command");
  }
  int fd = -1;
  if (!log.empty()) {
    fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw IoError("cannot open log '" + log + "': " + std::strerror(errno));
    }
  }
  const auto args = c_argv(argv);
  const pid_t self = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) {
      close(fd);
    }
    throw IoError("cannot start '" + argv[0] + "': fork failed: " + why);
  }
  if (pid == 0) {
    exec_child(args, fd, fd, cwd.empty() ? nullptr : cwd.c_str(), die_with_parent ? self : 0);
  }
  setpgid(pid, pid); // also in the parent: no race with a signal sent right after
  if (fd >= 0) {
    close(fd);
  }
  return pid;
}

ExitStatus wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      throw InternalError(std::string("waitpid failed: ") + std::strerror(errno));
    }
  }
  ExitStatus s;
  if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  } else {
    s.code = WEXITSTATUS(status);
  }
  return s;
}

ExitStatus run_capture(const std::vector<std::string>& argv, std::string& out, std::string& err,
                       const std::string& cwd) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw IoError(std::string("pipe failed: ") + std::strerror(errno));
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    throw IoError(std::string("pipe failed: ") + std::strerror(errno));
  }
  const auto args = c_argv(argv);
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      close(fd);
    }
    throw IoError("cannot start '" + argv[0] + "': fork failed");
  }
  if (pid == 0) {
    exec_child(args, out_pipe[1], err_pipe[1], cwd.empty() ? nullptr : cwd.c_str());
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Read both pipes to the end (small outputs: stdout first, then stderr, would deadlock only
  // if stderr filled its pipe buffer; poll-free alternation avoids that).
  out.clear();
  err.clear();
  bool out_open = true;
  bool err_open = true;
  char buf[4096];
  while (out_open || err_open) {
    fd_set set;
    FD_ZERO(&set);
    if (out_open) {
      FD_SET(out_pipe[0], &set);
    }
    if (err_open) {
      FD_SET(err_pipe[0], &set);
    }
    const int top = std::max(out_open ? out_pipe[0] : -1, err_open ? err_pipe[0] : -1);
    if (select(top + 1, &set, nullptr, nullptr, nullptr) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    for (auto [fd, open_flag, sink] :
         {std::tuple<int, bool*, std::string*>{out_pipe[0], &out_open, &out},
          std::tuple<int, bool*, std::string*>{err_pipe[0], &err_open, &err}}) {
      if (*open_flag && FD_ISSET(fd, &set)) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
          sink->append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          *open_flag = false;
        }
      }
    }
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  return wait_for(pid);
}

bool on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    return access(program.c_str(), X_OK) == 0;
  }
  const char* path = std::getenv("PATH");
  if (path == nullptr) {
    return false;
  }
  std::string p(path);
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t end = std::min(p.find(':', start), p.size());
    const std::string dir = p.substr(start, end - start);
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

std::string self_executable() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    throw InternalError("cannot find the grpo executable: " + ec.message());
  }
  return p.string();
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string shell_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    bool plain = !a.empty();
    for (const char c : a) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::strchr("-_./=:,+%@", c) != nullptr;
      plain = plain && ok;
    }
    out += (out.empty() ? "" : " ") + (plain ? a : shell_quote(a));
  }
  return out;
}

} // namespace grpo::jobs
