// The local executor: the plan's tasks on this machine, dependencies first, a bounded number of
// cores busy. Each task runs as `grpo study task DIR ID` in its own process group.
#include "core/error.hpp"
#include "jobs/executors.hpp"
#include "jobs/process.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <map>
#include <ostream>
#include <set>
#include <sys/wait.h>
#include <thread>

namespace grpo::jobs {

namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void request_stop(int sig) { g_stop = sig; }

int cores_of(const Task& t, int jobs) {
  return std::min(t.kind == TaskKind::Train ? t.ranks : 1, jobs);
}

} // namespace

int run_local(const Plan& plan, const Toolchain& tools, int jobs, std::ostream& out) {
  if (jobs <= 0) {
    jobs = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  }
  enum class State { Waiting, Running, Done, Failed, Skipped };
  std::map<std::string, State> state;
  std::size_t already = 0;
  for (const auto& t : plan.tasks) {
    const bool done = read_status(plan, t).state == TaskState::Done;
    state[t.id] = done ? State::Done : State::Waiting;
    already += done ? 1 : 0;
  }
  const std::size_t total = plan.tasks.size();
  out << "study " << plan.name << ": " << total << " tasks, " << already << " already done, "
      << jobs << " cores (local executor)\n"
      << std::flush;

  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {};
  struct sigaction old_term {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);

  std::map<pid_t, const Task*> running;
  int busy = 0;
  std::size_t done = already;
  std::size_t failed = 0;
  std::size_t skipped = 0;
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  while (true) {
    // Start every ready task that fits (plan order = dependency order).
    if (g_stop == 0) {
      for (const auto& t : plan.tasks) {
        if (state[t.id] != State::Waiting) {
          continue;
        }
        bool ready = true;
        bool blocked = false;
        for (const auto& d : t.deps) {
          const State s = state[d];
          ready = ready && s == State::Done;
          blocked = blocked || s == State::Failed || s == State::Skipped;
        }
        if (blocked) {
          state[t.id] = State::Skipped;
          ++skipped;
          continue;
        }
        const int need = cores_of(t, jobs);
        if (!ready || busy + need > jobs) {
          continue;
        }
        const pid_t pid =
            spawn({tools.grpo, "study", "task", plan.directory, t.id}, log_path(plan, t));
        running[pid] = &t;
        busy += need;
        state[t.id] = State::Running;
      }
    }
    if (running.empty()) {
      break;
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) {
        if (g_stop != 0) {
          for (const auto& [child, task] : running) {
            kill(-child, SIGTERM);
          }
        }
        continue;
      }
      throw InternalError(std::string("waitpid failed: ") + std::strerror(errno));
    }
    const auto it = running.find(pid);
    if (it == running.end()) {
      continue;
    }
    const Task& t = *it->second;
    running.erase(it);
    busy -= cores_of(t, jobs);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok) {
      state[t.id] = State::Done;
      ++done;
    } else {
      state[t.id] = State::Failed;
      ++failed;
      const TaskStatus s = read_status(plan, t);
      out << "failed: " << t.id << ": " << (s.detail.empty() ? "see its log" : s.detail)
          << "\n  log: " << s.log << "\n"
          << std::flush;
    }
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_report).count() >= 10.0) {
      last_report = now;
      out << "[" << format_double(std::round(elapsed())) << " s] " << done << "/" << total
          << " done, " << running.size() << " running, " << failed << " failed\n"
          << std::flush;
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  const std::size_t waiting = total - done - failed - skipped;
  out << "study " << plan.name << ": " << done << "/" << total << " done, " << failed << " failed, "
      << skipped << " skipped (a dependency failed)";
  if (g_stop != 0) {
    out << ", " << waiting << " not started (interrupted)";
  }
  out << " in " << format_double(std::round(elapsed() * 10) / 10) << " s\n" << std::flush;
  if (g_stop != 0) {
    return 128 + g_stop;
  }
  return done == total ? 0 : 1;
}

} // namespace grpo::jobs
