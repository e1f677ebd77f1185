// Task markers (docs/studies.md): tasks/<id>.running, .done and .failed JSON files that say
// where each task stands, keyed by the task's hash so that an edited study reruns what changed.
#include "core/error.hpp"
#include "jobs/plan.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unistd.h>

namespace grpo::jobs {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string marker(const Plan& plan, const Task& task, const char* state) {
  return plan.path("tasks/" + task.id + "." + state);
}

std::string hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) {
    return "";
  }
  return buf;
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool read_json(const std::string& path, json& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  try {
    out = json::parse(in);
  } catch (const json::exception&) {
    return false; // a marker torn by a crash counts as absent
  }
  return out.is_object();
}

void remove_markers(const Plan& plan, const Task& task, const char* keep) {
  for (const char* state : {"done", "failed", "running"}) {
    if (std::strcmp(state, keep) != 0) {
      std::error_code ec;
      fs::remove(marker(plan, task, state), ec);
    }
  }
}

} // namespace

std::string log_path(const Plan& plan, const Task& task) {
  return plan.path("logs/" + task.id + ".log");
}

TaskStatus read_status(const Plan& plan, const Task& task) {
  TaskStatus s;
  s.log = log_path(plan, task);
  json j;
  if (read_json(marker(plan, task, "done"), j) && j.value("hash", "") == task.hash) {
    s.state = TaskState::Done;
    s.seconds = j.value("seconds", 0.0);
    s.pack = j.value("trace", "");
    return s;
  }
  if (read_json(marker(plan, task, "running"), j) && j.value("hash", "") == task.hash) {
    s.state = TaskState::Running;
    s.pid = j.value("pid", 0);
    s.host = j.value("host", "");
    s.slurm_job = j.value("slurm_job", "");
    s.detail = "started " + j.value("started", "") + " on " + s.host + " (pid " +
               std::to_string(s.pid) + (s.slurm_job.empty() ? "" : ", Slurm " + s.slurm_job) + ")";
    return s;
  }
  if (read_json(marker(plan, task, "failed"), j) && j.value("hash", "") == task.hash) {
    s.state = TaskState::Failed;
    s.detail = j.value("why", "");
    s.seconds = j.value("seconds", 0.0);
    s.slurm_job = j.value("slurm_job", "");
    return s;
  }
  return s;
}

void mark_running(const Plan& plan, const Task& task, int pid, const std::string& slurm_job) {
  json j{{"task", task.id},
         {"hash", task.hash},
         {"pid", pid},
         {"host", hostname()},
         {"slurm_job", slurm_job},
         {"started", now_iso()},
         {"log", log_path(plan, task)}};
  write_file_atomic(marker(plan, task, "running"), j.dump() + "\n");
  remove_markers(plan, task, "running");
}

void mark_done(const Plan& plan, const Task& task, double seconds) {
  json j{{"task", task.id},
         {"hash", task.hash},
         {"seconds", seconds},
         {"finished", now_iso()},
         {"host", hostname()}};
  write_file_atomic(marker(plan, task, "done"), j.dump() + "\n");
  remove_markers(plan, task, "done");
}

bool mark_packed(const Plan& plan, const Task& task, const std::string& pack) {
  json j;
  if (!read_json(marker(plan, task, "done"), j) || j.value("hash", "") != task.hash) {
    return false;
  }
  j["trace"] = pack;
  write_file_atomic(marker(plan, task, "done"), j.dump() + "\n");
  return true;
}

namespace {
json failed_marker(const Plan& plan, const Task& task, const std::string& why, double seconds) {
  const char* job = std::getenv("SLURM_JOB_ID");
  const char* array_job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* array_task = std::getenv("SLURM_ARRAY_TASK_ID");
  std::string slurm;
  if (array_job != nullptr && array_task != nullptr) {
    slurm = std::string(array_job) + "_" + array_task;
  } else if (job != nullptr) {
    slurm = job;
  }
  return json{{"task", task.id},    {"hash", task.hash},          {"why", why},
              {"seconds", seconds}, {"finished", now_iso()},      {"host", hostname()},
              {"slurm_job", slurm}, {"log", log_path(plan, task)}};
}
} // namespace

void mark_failed(const Plan& plan, const Task& task, const std::string& why, double seconds) {
  write_file_atomic(marker(plan, task, "failed"),
                    failed_marker(plan, task, why, seconds).dump() + "\n");
  remove_markers(plan, task, "failed");
}

PreparedMarker prepare_failed_marker(const Plan& plan, const Task& task, const std::string& why) {
  PreparedMarker m;
  m.path = marker(plan, task, "failed");
  m.temporary = m.path + ".tmp";
  m.running = marker(plan, task, "running");
  m.text = failed_marker(plan, task, why, 0.0).dump() + "\n";
  return m;
}

} // namespace grpo::jobs
