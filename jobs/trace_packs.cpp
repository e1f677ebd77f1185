// One trace file per bundle (docs/studies.md "Trace packs"): a bundle's finished training runs
// are packed into runs/pack.<first id>.h5 (io/trace_pack.hpp) once the bundle is through; the
// done markers name the pack, then the runs' own files go.
#include "core/error.hpp"
#include "io/trace_pack.hpp"
#include "jobs/plan.hpp"

#include <filesystem>

namespace grpo::jobs {

namespace fs = std::filesystem;

std::string pack_traces(const Plan& plan, const std::vector<std::string>& task_ids) {
  std::vector<const Task*> tasks;
  std::vector<io::PackEntry> entries;
  for (const auto& id : task_ids) {
    const Task* task = plan.find(id);
    if (task == nullptr || task->kind != TaskKind::Train) {
      continue;
    }
    const std::string trace = plan.path(task->output);
    std::error_code ec;
    if (read_status(plan, *task).state != TaskState::Done || !fs::is_regular_file(trace, ec)) {
      continue; // not finished, or packed already
    }
    tasks.push_back(task);
    entries.push_back({task->id, task->hash, trace});
  }
  if (entries.empty()) {
    return "";
  }
  const fs::path folder = fs::path(tasks.front()->output).parent_path();
  const std::string stem = (folder / ("pack." + tasks.front()->id)).string();
  std::string pack = stem + ".h5";
  for (int n = 1; fs::exists(plan.path(pack)); ++n) {
    pack = stem + "." + std::to_string(n) + ".h5"; // never replace a pack: it may hold others
  }
  io::write_trace_pack(plan.path(pack), entries);
  for (const Task* task : tasks) {
    if (mark_packed(plan, *task, pack)) {
      std::error_code ec;
      fs::remove(plan.path(task->output), ec);
    }
  }
  return pack;
}

} // namespace grpo::jobs
