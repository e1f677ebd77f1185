// Fuzz target: INI config files of `grpo train` and `grpo generate` (Boost.Program_options and
// every value check behind it). The first byte picks the command.
#include "apps/commands.hpp"
#include "core/error.hpp"
#include "fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const bool train = (data[0] & 1) != 0;
  const std::string path = grpo::fuzz::write_input(data + 1, size - 1, ".ini");
  try {
    if (train) {
      static const auto metadata = grpo::app::check_generate_options(
          {"--preset=even-imbalanced", "--out=/nonexistent/fuzz.h5"});
      grpo::app::check_train_options(
          {"--config=" + path, "--dataset=/nonexistent/in.h5", "--out=/nonexistent/out.h5"},
          metadata);
    } else {
      grpo::app::check_generate_options({"--config=" + path, "--out=/nonexistent/gen.h5"});
    }
  } catch (const grpo::Error&) {
    // a clear error: fine
  }
  return 0;
}
