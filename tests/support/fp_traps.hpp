// Floating-point traps of the test programs: test_main.cpp traps FE_INVALID, so a NaN raises
// SIGFPE where it is born. A test that makes NaNs on purpose (bad inputs, divergence) holds an
// InvalidAllowed while it does. Only glibc has feenableexcept; elsewhere these are no-ops.
#pragma once

#include <cfenv>

namespace grpo::test {

/// Turns the trap of FE_INVALID on or off; returns whether it was on.
inline bool trap_invalid(bool on) {
#if defined(__GLIBC__)
  const bool was = (fegetexcept() & FE_INVALID) != 0;
  std::feclearexcept(FE_INVALID);
  if (on) {
    feenableexcept(FE_INVALID);
  } else {
    fedisableexcept(FE_INVALID);
  }
  return was;
#else
  (void)on;
  return false;
#endif
}

/// Invalid operations do not trap while this lives.
class InvalidAllowed {
public:
  InvalidAllowed()
      : m_was(trap_invalid(false)) {}
  ~InvalidAllowed() { trap_invalid(m_was); }
  InvalidAllowed(const InvalidAllowed&) = delete;
  InvalidAllowed& operator=(const InvalidAllowed&) = delete;

private:
  bool m_was;
};

} // namespace grpo::test
