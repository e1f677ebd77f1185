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
#include <string>
#include <sys/wait.h>
#include <thread>
#include <utility>
#include <vector>

namespace grpo::jobs {

namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void request_stop(int sig) { g_stop = sig; }

/// Where a bundle's own output goes (its tasks' output goes to their logs).
std::string bundle_log(const Plan& plan, const Task& first) {
  return plan.path("logs/bundle." + first.id + ".log");
}

int cores_of(const Task& t, int jobs) {
  return std::min(t.kind == TaskKind::Train ? t.ranks : 1, jobs);
}

/// What can run inside a study's process goes in bundles: one process runs several in turn
/// (aggregations always run in the task's process).
bool bundled(const Task& t) { return runs_here(t) || t.kind == TaskKind::Aggregate; }

} // namespace

int auto_bundle_size(std::size_t runs, int jobs) {
  const std::size_t per_core = 4; // bundles per core, to balance runs of unequal length
  const std::size_t slots = per_core * static_cast<std::size_t>(std::max(jobs, 1));
  return static_cast<int>(std::clamp<std::size_t>((runs + slots - 1) / slots, 1, 32));
}

int run_local(const Plan& plan, const Toolchain& tools, int jobs, int bundle, std::ostream& out) {
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
  // Bundle size per layer (data, train): given, or from the layer's tasks to run.
  std::map<std::string, int> bundle_size;
  for (const auto& t : plan.tasks) {
    if (bundled(t) && state[t.id] == State::Waiting) {
      ++bundle_size[t.layer()];
    }
  }
  for (auto& [layer, size] : bundle_size) {
    size = bundle > 0 ? bundle : auto_bundle_size(static_cast<std::size_t>(size), jobs);
  }
  const int train_bundle = bundle_size.count("train") > 0 ? bundle_size["train"] : 1;
  out << "study " << plan.name << ": " << total << " tasks, " << already << " already done, "
      << jobs << " cores, up to " << train_bundle << " run(s) a process (local executor)\n"
      << std::flush;

  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {};
  struct sigaction old_term {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);

  std::map<pid_t, std::vector<const Task*>> running;
  int busy = 0;
  std::size_t done = already;
  std::size_t failed = 0;
  std::size_t skipped = 0;
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Per layer: the first start and the last end of its tasks run here (seconds since start).
  std::map<std::string, std::pair<double, double>> phase;

  while (true) {
    // Start every ready task that fits (plan order = dependency order).
    if (g_stop == 0) {
      // A waiting task: ready (every dependency done), blocked (one failed) or neither.
      const auto ready = [&](const Task& t) {
        bool all_done = true;
        bool blocked = false;
        for (const auto& d : t.deps) {
          const State s = state[d];
          all_done = all_done && s == State::Done;
          blocked = blocked || s == State::Failed || s == State::Skipped;
        }
        if (blocked) {
          state[t.id] = State::Skipped;
          ++skipped;
        }
        return all_done && !blocked;
      };
      for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
        const Task& t = plan.tasks[i];
        if (state[t.id] != State::Waiting || !ready(t)) {
          continue;
        }
        const int need = cores_of(t, jobs);
        if (busy + need > jobs) {
          continue;
        }
        std::vector<const Task*> members{&t};
        if (bundled(t)) { // the next ready tasks of its layer that can join it, in plan order
          const auto size = static_cast<std::size_t>(bundle_size[t.layer()]);
          for (std::size_t j = i + 1; j < plan.tasks.size() && members.size() < size; ++j) {
            const Task& u = plan.tasks[j];
            if (bundled(u) && std::strcmp(u.layer(), t.layer()) == 0 &&
                state[u.id] == State::Waiting && ready(u)) {
              members.push_back(&u);
            }
          }
        }
        std::vector<std::string> argv{tools.grpo, "study", "task", plan.directory};
        for (const Task* m : members) {
          argv.push_back(m->id);
          state[m->id] = State::Running;
        }
        // A bundle's own output (not its runs': each has its log) goes to its first run's log
        // folder as bundle.<first id>.log; a single task's to its log, as before.
        const pid_t pid =
            spawn(argv, members.size() == 1 ? log_path(plan, t) : bundle_log(plan, t));
        running[pid] = members;
        phase.try_emplace(t.layer(), elapsed(), 0.0);
        busy += need;
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
    const std::vector<const Task*> members = it->second;
    running.erase(it);
    phase[members.front()->layer()].second = elapsed();
    busy -= cores_of(*members.front(), jobs);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const auto fail = [&](const Task& t, const std::string& why) {
      state[t.id] = State::Failed;
      ++failed;
      out << "failed: " << t.id << ": " << (why.empty() ? "see its log" : why)
          << "\n  log: " << log_path(plan, t) << "\n"
          << std::flush;
    };
    if (members.size() == 1) {
      const Task& t = *members.front();
      if (ok) {
        state[t.id] = State::Done;
        ++done;
      } else {
        fail(t, read_status(plan, t).detail);
      }
    } else {
      // Each run of the bundle says how it ended in its markers. Runs it never started go
      // back to waiting if it finished some run, else (it died at once) they fail.
      std::vector<const Task*> not_started;
      for (const Task* t : members) {
        const TaskStatus s = read_status(plan, *t);
        if (s.state == TaskState::Done) {
          state[t->id] = State::Done;
          ++done;
        } else if (s.state == TaskState::Failed) {
          fail(*t, s.detail);
        } else if (s.state == TaskState::Running) {
          fail(*t, "its bundle (pid " + std::to_string(pid) + ") ended during the run");
        } else {
          not_started.push_back(t);
        }
      }
      const bool progressed = not_started.size() < members.size();
      for (const Task* t : not_started) {
        if (progressed || g_stop != 0) {
          state[t->id] = State::Waiting;
        } else {
          fail(*t, "its bundle (pid " + std::to_string(pid) +
                       ") ended before the run started;"
                       " see " +
                       bundle_log(plan, *members.front()));
        }
      }
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
  out << " in " << format_double(std::round(elapsed() * 10) / 10) << " s\n";
  if (!phase.empty()) {
    // Wall time of each layer, first start to last end (layers overlap where a study's
    // dependencies allow).
    out << "phases:";
    const char* separator = " ";
    for (const char* layer : kLayers) {
      const auto p = phase.find(layer);
      if (p != phase.end()) {
        out << separator << layer << " "
            << format_double(std::round((p->second.second - p->second.first) * 10) / 10) << " s";
        separator = ", ";
      }
    }
    out << " (first start to last end)\n";
  }
  out << std::flush;
  if (g_stop != 0) {
    return 128 + g_stop;
  }
  return done == total ? 0 : 1;
}

} // namespace grpo::jobs
