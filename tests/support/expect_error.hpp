// expect_data_error: the check of the tests of readers that a call throws grpo::DataError whose
// one-line message names everything it should (the file, the dataset, the reason).
#pragma once

#include "core/error.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace grpo::test {

/// Expects `f` to throw DataError whose message contains every one of `parts`.
template <class F>
void expect_data_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "'" << e.what() << "' lacks '" << part << "'";
    }
  }
}

} // namespace grpo::test
