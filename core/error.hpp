// Error types and the exit codes of their classes. Exceptions are thrown at boundaries only
// (configuration, file input, numerical faults detected after a reduction), never inside kernels.
#pragma once

#include <stdexcept>
#include <string>

namespace grpo {

/// Process exit codes, one per error class (documented in docs/cli.md).
enum class ExitCode : int {
  Success = 0,
  Config = 2,    ///< bad command line, config file or option value
  Data = 3,      ///< a dataset (or theta-init file) with wrong content
  Io = 4,        ///< a file that cannot be opened, read or written
  Numerical = 5, ///< NaN/Inf in a loss, gradient or parameter
  Internal = 70, ///< a bug: please report
};

/// Base class of every grpo error. `rank_local()` is true when only the throwing rank knows
/// about the failure (the others would wait in the next collective): main then aborts the job
/// instead of returning.
class Error : public std::runtime_error {
public:
  Error(ExitCode code, const std::string& message, bool rank_local = false)
      : std::runtime_error(message)
      , m_code(code)
      , m_rank_local(rank_local) {}
  ExitCode code() const noexcept { return m_code; }
  int exit_code() const noexcept { return static_cast<int>(m_code); }
  bool rank_local() const noexcept { return m_rank_local; }

private:
  ExitCode m_code;
  bool m_rank_local;
};

class ConfigError : public Error {
public:
  explicit ConfigError(const std::string& message)
      : Error(ExitCode::Config, message) {}
};

class DataError : public Error {
public:
  explicit DataError(const std::string& message)
      : Error(ExitCode::Data, message) {}
};

class IoError : public Error {
public:
  explicit IoError(const std::string& message, bool rank_local = false)
      : Error(ExitCode::Io, message, rank_local) {}
};

class NumericalError : public Error {
public:
  explicit NumericalError(const std::string& message)
      : Error(ExitCode::Numerical, message) {}
};

class InternalError : public Error {
public:
  explicit InternalError(const std::string& message, bool rank_local = true)
      : Error(ExitCode::Internal, message, rank_local) {}
};

/// Human-readable name of an exit code's class ("configuration", "data", ...).
const char* exit_code_class(ExitCode code) noexcept;

/// Formats a double the way error messages and attributes show it (shortest round-trip form).
std::string format_double(double value);

/// `text` on one line: control characters (a newline in a file name or a value) become escapes
/// such as \n and \x01, so an error message stays a single line.
std::string printable(const std::string& text);

} // namespace grpo
