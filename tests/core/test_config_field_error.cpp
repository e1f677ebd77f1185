// ConfigFieldError: a library's configuration error names a field; front ends re-spell it.
#include "core/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using grpo::ConfigFieldError;

std::string upper(const std::string& field) {
  std::string s;
  for (const char c : field) {
    s += c == '_' ? '-' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  }
  return "<" + s + ">";
}

TEST(ConfigFieldError, WhatSpellsFieldsAsTheyAre) {
  const ConfigFieldError e("closed_form", "needs ({sampling} code_batch and {batch_size} 0)");
  EXPECT_STREQ(e.what(), "closed_form: needs (sampling code_batch and batch_size 0)");
  EXPECT_EQ(e.field(), "closed_form");
  EXPECT_EQ(e.detail(), "needs ({sampling} code_batch and {batch_size} 0)");
  EXPECT_EQ(e.exit_code(), 2);
  const grpo::ConfigError& base = e; // caught as a ConfigError by code that knows no fields
  EXPECT_STREQ(base.what(), e.what());
}

TEST(ConfigFieldError, MessageRespellsTheSubjectAndTheReferences) {
  const ConfigFieldError e("closed_form", "needs {sampling} and {schedule.type}, {} {x y} {");
  EXPECT_EQ(e.message(upper), "<CLOSED-FORM>: needs <SAMPLING> and <SCHEDULE.TYPE>, {} {x y} {");
}

TEST(ConfigFieldError, WithinPrefixesEveryField) {
  const ConfigFieldError inner("warmup", "invalid value 11 (see {factor})");
  const ConfigFieldError outer = inner.within("schedule");
  EXPECT_EQ(outer.field(), "schedule.warmup");
  EXPECT_EQ(outer.detail(), "invalid value 11 (see {schedule.factor})");
  EXPECT_STREQ(outer.what(), "schedule.warmup: invalid value 11 (see schedule.factor)");
}

} // namespace
