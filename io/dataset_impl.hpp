// Internal to the dataset reader (io/dataset.hpp): what the checks of io/dataset.cpp
// (inspect_dataset) and the reads of io/dataset_load.cpp (load_dataset) share. Not a public
// header.
#pragma once

#include "core/error.hpp"
#include "core/views.hpp"

#include <string>

namespace grpo::io::dataset_detail {

[[noreturn]] inline void bad(const std::string& path, const std::string& object,
                             const std::string& what) {
  throw DataError("'" + path + "': " + object + ": " + what);
}

/// Rows read per collective call: bounds the host staging (2 x 64 Ki x d floats).
inline constexpr index_t kLoadBlockRows = index_t{1} << 16;

} // namespace grpo::io::dataset_detail
