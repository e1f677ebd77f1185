// Fuzz target: TOML study files, parsed and checked as `grpo study plan` does, then planned
// and serialised (nothing is run).
#include "apps/commands.hpp"
#include "core/error.hpp"
#include "fuzz/fuzz_input.hpp"
#include "jobs/plan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = grpo::fuzz::write_input(data, size, ".toml");
  try {
    const auto spec = grpo::app::read_study_file(path);
    std::size_t runs = 0;
    for (const auto& e : spec.experiments) {
      runs += e.seeds.size() * e.methods.size() * e.data.size();
    }
    if (runs <= 100000) { // a valid file may describe a huge grid; planning it is not the point
      const auto plan = grpo::jobs::build_plan(spec);
      (void)grpo::jobs::plan_to_json(plan);
    }
  } catch (const grpo::Error&) {
    // a clear error: fine
  }
  return 0;
}
